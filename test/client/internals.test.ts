import { createClient, fullJitterDelay, type RateLimitError, readLimitedBody } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Pacer } from '../../src/client/pacer.js'
import { parseRateLimitHeaders } from '../../src/client/parse-headers.js'
import { scriptedServer } from './helpers.js'

describe('readLimitedBody', () => {
  it('finds the code, message, tier and source in every envelope', () => {
    expect(readLimitedBody({ error_code: 'TOOL_ERROR', message: 'm' })).toMatchObject({
      errorCode: 'TOOL_ERROR',
      message: 'm',
      upstream: false,
    })
    expect(readLimitedBody({ error: { code: 'rate_limit.exceeded', message: 'x' } })).toMatchObject({
      errorCode: 'rate_limit.exceeded',
      message: 'x',
    })
    expect(readLimitedBody({ code: 429, error: { code: 'RATE_LIMIT_EXCEEDED', tier: 'secret_key' } })).toMatchObject({
      errorCode: 'RATE_LIMIT_EXCEEDED',
      tier: 'secret_key',
    })
    expect(readLimitedBody({ errors: [{ code: 'THROTTLED', message: 'later' }] })).toMatchObject({
      errorCode: 'THROTTLED',
      message: 'later',
    })
    expect(readLimitedBody({ error: 'rate_limited' })).toMatchObject({ errorCode: 'rate_limited' })
    expect(readLimitedBody({ type: 'https://x/probs/quota', title: 'T', detail: 'D', 'violated-policies': ['a', 1] })).toMatchObject({
      errorCode: 'https://x/probs/quota',
      message: 'D',
      violatedPolicies: ['a'],
    })
    expect(readLimitedBody({ type: 'about:blank', source: 'upstream' })).toMatchObject({ upstream: true })
    expect(readLimitedBody({ error: { code: 'X', source: 'upstream' } })).toMatchObject({ upstream: true })
  })

  it('ignores what is not a short printable string, and non-objects', () => {
    expect(readLimitedBody({ error_code: 'A\u0000B', code: 429, message: 'x'.repeat(501) })).toMatchObject({
      errorCode: undefined,
      message: undefined,
    })
    for (const body of [undefined, null, 'text', 42, ['x']]) expect(readLimitedBody(body).errorCode).toBeUndefined()
  })
})

describe('fullJitterDelay', () => {
  it('is floor(random * min(cap, base * 2^attempt)), whatever the attempt', () => {
    expect(fullJitterDelay(0, 100, 1000, () => 0.5)).toBe(50)
    expect(fullJitterDelay(3, 100, 1000, () => 0.5)).toBe(400)
    expect(fullJitterDelay(4, 100, 1000, () => 0.5)).toBe(500)
    expect(fullJitterDelay(5000, 100, 1000, () => 0.999)).toBe(999)
    expect(fullJitterDelay(2, 100, 1000, () => 2)).toBe(399)
  })
})

describe('Pacer', () => {
  const info = (h: Record<string, string>, now: number) => parseRateLimitHeaders(h, { now })

  it('counts requests sent against the last reported remaining', () => {
    const p = new Pacer(0)
    const ticket = p.sent('k', 0)
    p.received('k', 0, info({ 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': '10' }, 0), false, undefined, ticket)
    p.sent('k', 1)
    p.sent('k', 1)
    expect(p.state('k')).toMatchObject({ remaining: 0, inFlight: 2, resetAt: 10_000 })
    expect(p.before('k', 5)).toEqual({ kind: 'sleep', ms: 9995 })
  })

  it('lets one request probe after the reset, the others await it', () => {
    const p = new Pacer(0)
    p.received('k', 0, info({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' }, 0), false, undefined, p.sent('k', 0))
    const first = p.before('k', 1000)
    expect(first).toEqual({ kind: 'go', probing: expect.anything() })
    const second = p.before('k', 1000)
    expect(second.kind).toBe('await')
    // A probe that ends without an answer hands over: the next request probes, the others await it.
    p.abandon('k', first.kind === 'go' ? first.probing : undefined, undefined)
    expect(p.before('k', 1000)).toEqual({ kind: 'go', probing: expect.anything() })
    expect(p.before('k', 1000).kind).toBe('await')
  })

  it('keeps its memory bounded when called for very many budgets', () => {
    const p = new Pacer(0)
    for (let i = 0; i < 10_050; i++) p.received(`k${i}`, 0, info({ 'x-ratelimit-remaining': '5' }, 0), false, undefined, p.sent(`k${i}`, 0))
    expect(p.state('k0')).toBeUndefined()
    expect(p.state('k10049')).toMatchObject({ remaining: 5 })
  })
})

describe('large error bodies', () => {
  let server: Awaited<ReturnType<typeof scriptedServer>>
  beforeAll(async () => {
    server = await scriptedServer()
  })
  afterAll(() => server.close())

  it('reads at most 64 KiB into error.body, and hands the whole response over unread', async () => {
    const big = 'x'.repeat(200_000)
    server.plan('/big', [{ status: 429, headers: { 'Retry-After': '999' }, body: big }])
    const client = createClient({ baseUrl: server.url, maxWaitMs: 1000 })
    const error = (await client('/big').catch((e: unknown) => e)) as RateLimitError
    expect(typeof error.body).toBe('string')
    expect((error.body as string).length).toBe(65_536)
    expect((await error.response?.text())?.length).toBe(200_000)
  })
})
