import { describe, expect, it } from 'vitest'
import { upstreamRateLimit } from '../../src/provider/index.js'

const NOW = Date.UTC(2026, 5, 10, 12, 0, 0)
const now = () => NOW

describe('upstreamRateLimit', () => {
  it('turns an upstream 429 into a Scalekit TOOL_ERROR, with its Retry-After', () => {
    const r = upstreamRateLimit(
      { status: 429, headers: new Headers({ 'Retry-After': '30', 'X-RateLimit-Remaining': '0' }) },
      { format: 'scalekit', provider: 'hubspot', tool: 'list_contacts', requestId: 'req_1', now },
    )
    expect(r).toMatchObject({
      status: 429,
      source: 'upstream',
      retryAfterMs: 30_000,
      retryFrom: 'retry-after',
      contentType: 'application/json',
    })
    expect(r?.headers).toEqual({ 'Retry-After': '30', 'Cache-Control': 'no-store' })
    const body = JSON.parse(r?.body ?? '')
    expect(body).toMatchObject({ error_code: 'TOOL_ERROR', provider: 'hubspot', tool: 'list_contacts', request_id: 'req_1' })
    expect(body.error_code).not.toBe('RATE_LIMITED')
    // The upstream's own budget headers are not passed on.
    expect(Object.keys(r?.headers ?? {})).not.toContain('X-RateLimit-Remaining')
  })

  it('reads an HTTP-date, rounds up, never sends 0', () => {
    const inFive = new Date(NOW + 4_200).toUTCString() // HTTP-dates have whole seconds: 4 s later
    expect(upstreamRateLimit({ status: 429, headers: { 'retry-after': inFive } }, { now })?.retryAfterMs).toBe(4_000)
    const past = new Date(NOW - 60_000).toUTCString()
    expect(upstreamRateLimit({ status: 429, headers: { 'retry-after': past } }, { now })?.headers['Retry-After']).toBe('1')
    expect(upstreamRateLimit({ status: 429, headers: { 'retry-after': '0' } }, { now })?.headers['Retry-After']).toBe('1')
    expect(upstreamRateLimit({ status: 429, headers: { 'retry-after': '1.2' } }, { now })?.headers['Retry-After']).toBe('2')
  })

  it('caps a huge wait', () => {
    expect(upstreamRateLimit({ status: 429, headers: { 'Retry-After': '999999' } }, { now })?.headers['Retry-After']).toBe('3600')
    expect(upstreamRateLimit({ status: 429, headers: { 'Retry-After': '999999' } }, { now, maxRetryAfter: '5m' })?.retryAfterMs).toBe(
      300_000,
    )
  })

  it('falls back to X-RateLimit-Reset (epoch s or ms, or delta), RateLimit-Reset, the draft-10 RateLimit field, then the default', () => {
    const at = (headers: Record<string, string | string[]>) => upstreamRateLimit({ status: 429, headers }, { now })
    expect(at({ 'X-RateLimit-Reset': String(NOW / 1000 + 42) })).toMatchObject({ retryAfterMs: 42_000, retryFrom: 'x-ratelimit-reset' })
    expect(at({ 'x-ratelimit-reset': String(NOW + 7_500) })).toMatchObject({ retryAfterMs: 8_000 })
    expect(at({ 'x-ratelimit-reset': '17' })).toMatchObject({ retryAfterMs: 17_000 })
    expect(at({ 'RateLimit-Reset': '9' })).toMatchObject({ retryAfterMs: 9_000, retryFrom: 'ratelimit-reset' })
    expect(at({ RateLimit: '"burst";r=5;t=1, "daily";r=0;t=3600' })).toMatchObject({ retryAfterMs: 3_600_000, retryFrom: 'ratelimit' })
    // A field sent twice honours its larger wait, as the client does (and whatever the headers' shape).
    expect(at({ 'retry-after': ['12', '99'] })).toMatchObject({ retryAfterMs: 99_000 })
    expect(at({ 'retry-after': 'soon' })).toMatchObject({ retryAfterMs: 60_000, retryFrom: 'default' })
    expect(upstreamRateLimit({ status: 429, headers: {} }, { now, defaultRetryAfter: '10s' })).toMatchObject({ retryAfterMs: 10_000 })
  })

  it('the problem format marks the source', () => {
    const r = upstreamRateLimit({ status: 429, headers: { 'retry-after': '3' } }, { now, provider: 'crm' })
    expect(r?.contentType).toBe('application/problem+json')
    expect(JSON.parse(r?.body ?? '')).toMatchObject({ status: 429, source: 'upstream', provider: 'crm', 'retry-after': 3 })
  })

  it('is undefined for anything but a 429', () => {
    expect(upstreamRateLimit({ status: 200, headers: {} })).toBeUndefined()
    expect(upstreamRateLimit({ status: 503, headers: { 'retry-after': '5' } })).toBeUndefined()
  })

  it('validates its input', () => {
    expect(() => upstreamRateLimit(undefined as never)).toThrow(/"response"/)
    expect(() => upstreamRateLimit({ status: 429, headers: null as never })).toThrow(/"response.headers"/)
    expect(() => upstreamRateLimit({ status: 429, headers: {} }, { maxRetryAfter: 0 })).toThrow(/"maxRetryAfter"/)
    expect(() => upstreamRateLimit({ status: 429, headers: {} }, { provider: 'bad\nname' })).toThrow(/"provider"/)
    expect(() => upstreamRateLimit({ status: 429, headers: {} }, { code: 'X' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }),
    )
  })
})
