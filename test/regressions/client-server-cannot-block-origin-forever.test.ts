// One response must not disable an origin for the life of the client: how far a server can push
// a block is capped (`maxBlockMs`), one request probes after the cap, and `client.reset()` clears it.
import { createClient, type FetchFunction, type Sleep } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'

const T0 = Date.UTC(2026, 0, 1)
const HOUR = 3_600_000

const hostile: Record<string, { status: number; headers: Record<string, string> }> = {
  'Retry-After: 999999999': { status: 429, headers: { 'Retry-After': '999999999' } },
  'Retry-After: 60000 (ms sent as seconds)': { status: 429, headers: { 'Retry-After': '60000' } },
  'Retry-After: a date in 2062': { status: 503, headers: { 'Retry-After': 'Sun, 01 Jan 2062 00:00:00 GMT' } },
  'X-RateLimit-Reset: 9999999999 with remaining 0': {
    status: 200,
    headers: { 'X-RateLimit-Limit': '10', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '9999999999' },
  },
  '429 with X-RateLimit-Reset: 9999999999': {
    status: 429,
    headers: { 'X-RateLimit-Limit': '10', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '9999999999' },
  },
  'draft-10 t=999999999999999': { status: 200, headers: { RateLimit: '"p";r=0;t=999999999999999', 'RateLimit-Policy': '"p";q=10;w=1' } },
}

/** Answers the hostile response first, then 200 with no rate-limit headers. */
function server(first: { status: number; headers: Record<string, string> }) {
  let n = 0
  const fetchImpl: FetchFunction = async () => (n++ === 0 ? new Response('no', first) : new Response('ok'))
  return { fetchImpl, sent: () => n }
}

describe.each(Object.entries(hostile))('%s', (_label, first) => {
  it('blocks the origin for at most maxBlockMs (default 1 h), then one request probes', async () => {
    const time = virtualTime(T0)
    const s = server(first)
    const client = createClient({ baseUrl: 'http://api.test', fetch: s.fetchImpl, now: time.now, sleep: time.sleep })
    await client('/').catch(() => undefined)
    expect(s.sent()).toBe(1)
    const state = client.budget('http://api.test')
    expect(Math.max(state?.blockedUntil ?? 0, state?.resetAt ?? 0)).toBeLessThanOrEqual(T0 + HOUR)
    // Within the hour, a call that may wait 60 s is refused without a request.
    await expect(client('/')).rejects.toMatchObject({ source: 'client', reason: 'max-wait', attempts: 0 })
    time.advance(HOUR)
    expect((await client('/')).status).toBe(200)
    expect(s.sent()).toBe(2)
  })

  it('honours a smaller maxBlockMs', async () => {
    const time = virtualTime(T0)
    const s = server(first)
    const client = createClient({ baseUrl: 'http://api.test', fetch: s.fetchImpl, now: time.now, sleep: time.sleep, maxBlockMs: 10_000 })
    await client('/').catch(() => undefined)
    const start = time.now()
    expect((await client('/')).status).toBe(200)
    expect(time.now() - start).toBeLessThanOrEqual(10_000)
  })

  it('client.reset(origin) clears the block at once', async () => {
    const time = virtualTime(T0)
    const s = server(first)
    const client = createClient({ baseUrl: 'http://api.test', fetch: s.fetchImpl, now: time.now, sleep: time.sleep, maxWaitMs: 0 })
    await client('/').catch(() => undefined)
    await expect(client('/')).rejects.toMatchObject({ reason: 'max-wait' })
    client.reset('http://api.test')
    expect(client.budget('http://api.test')).toBeUndefined()
    expect((await client('/')).status).toBe(200)
  })
})

describe('client.reset()', () => {
  it('without an argument clears every budget, and wakes the calls waiting on one', async () => {
    // A sleep that ends only when aborted: only reset() can release the waiting call.
    const sleep: Sleep = (_ms, signal) =>
      new Promise<void>((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }))
    let n = 0
    const fetchImpl: FetchFunction = async () =>
      n++ === 0 ? new Response('no', { status: 429, headers: { 'Retry-After': '600' } }) : new Response('ok')
    const client = createClient({ fetch: fetchImpl, sleep, retry: false, maxWaitMs: HOUR })
    await client('http://a.test/').catch(() => undefined)
    const waiting = client('http://a.test/')
    await new Promise((r) => setTimeout(r, 5))
    expect(n).toBe(1)
    client.reset()
    expect((await waiting).status).toBe(200)
    expect(n).toBe(2)
  })

  it('rejects a key that is not a string', () => {
    const client = createClient()
    expect(() => client.reset(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }))
  })

  it('maxBlockMs is validated', () => {
    expect(() => createClient({ maxBlockMs: -1 })).toThrow(expect.objectContaining({ option: 'maxBlockMs' }))
  })
})
