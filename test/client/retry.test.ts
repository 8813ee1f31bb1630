import { createClient, RateLimitError } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomFrom, scriptedServer, virtualTime } from './helpers.js'

const T0 = 1_782_191_988_000
let server: Awaited<ReturnType<typeof scriptedServer>>
let path = 0
/** A fresh path per test, so scripts and hit counts never mix. */
const fresh = (): string => `/t${path++}`

beforeAll(async () => {
  server = await scriptedServer()
})
afterAll(() => server.close())

const limited = (retryAfter?: string, extra: Record<string, string> = {}) => ({
  status: 429,
  headers: { ...(retryAfter === undefined ? {} : { 'Retry-After': retryAfter }), ...extra },
  body: { error_code: 'RATE_LIMITED', message: 'slow down' },
})
const ok = { status: 200, body: 'ok' }

function setup(opts: Parameters<typeof createClient>[0] = {}) {
  const time = virtualTime(T0)
  const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, pace: false, ...opts })
  return { time, client }
}

describe('retries', () => {
  it('retries a 429 after the larger of Retry-After and the backoff, then returns the success', async () => {
    const p = fresh()
    server.plan(p, [limited('2'), limited('0'), ok])
    // Backoff ceilings are 1000 then 2000 ms; random 0.5 gives 500 then 1000.
    const { time, client } = setup({ random: randomFrom([0.5, 0.5]) })
    const retries: number[] = []
    client.on('retry', (e) => retries.push(e.delayMs))
    const res = await client(p)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('ok')
    expect(retries).toEqual([2000, 1000])
    expect(time.slept).toEqual([2000, 1000])
    expect(server.hits(p)).toHaveLength(3)
  })

  it('keeps full-jitter delays within [0, min(cap, base * 2^n)) for any random value', async () => {
    const p = fresh()
    server.plan(p, [limited()])
    for (const r of [0, 0.25, 0.999999, 1, -1, Number.NaN]) {
      const { time, client } = setup({ retry: { retries: 6, baseDelayMs: 100, maxDelayMs: 1000 }, random: () => r, maxWaitMs: 1e6 })
      await expect(client(p)).rejects.toBeInstanceOf(RateLimitError)
      const ceilings = [100, 200, 400, 800, 1000, 1000]
      expect(time.slept).toHaveLength(6)
      time.slept.forEach((ms, n) => {
        expect(ms).toBeGreaterThanOrEqual(0)
        expect(ms).toBeLessThan(ceilings[n])
        if (r >= 0 && r < 1) expect(ms).toBe(Math.floor(r * ceilings[n]))
      })
    }
  })

  it('caps the number of retries and throws RateLimitError with the last response', async () => {
    const p = fresh()
    server.plan(p, [limited('1', { 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '1782192000' })])
    const { client } = setup({ retry: { retries: 2 }, random: () => 0 })
    const error = await client(p).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RateLimitError)
    expect(error).toMatchObject({
      code: 'ERR_RK_RATE_LIMITED',
      reason: 'retries-exhausted',
      source: 'server',
      status: 429,
      errorCode: 'RATE_LIMITED',
      serverMessage: 'slow down',
      limit: 100,
      remaining: 0,
      resetAt: 1_782_192_000_000,
      // The reset is 12 s away, far beyond Retry-After (1 s): another moment, so Retry-After is honoured.
      retryAfterMs: 1000,
      attempts: 3,
      waitedMs: 2000,
      method: 'GET',
      url: `${server.url}${p}`,
    })
    const e = error as RateLimitError
    // The response is handed over unread.
    expect(await e.response?.json()).toEqual({ error_code: 'RATE_LIMITED', message: 'slow down' })
    expect(e.body).toEqual({ error_code: 'RATE_LIMITED', message: 'slow down' })
    expect(server.hits(p)).toHaveLength(3)
  })

  it('caps the total wait: gives up when the server asks for more than maxWaitMs allows', async () => {
    const p = fresh()
    server.plan(p, [limited('10'), limited('50'), ok])
    const { time, client } = setup({ maxWaitMs: 30_000, random: () => 0 })
    const error = (await client(p).catch((e: unknown) => e)) as RateLimitError
    expect(error).toMatchObject({ reason: 'max-wait', attempts: 2, waitedMs: 10_000, retryAfterMs: 50_000 })
    expect(error.message).toMatch(/asks for 50 s, beyond maxWaitMs 30000/)
    expect(time.slept).toEqual([10_000])
  })

  it('clamps a jittered backoff to what is left of maxWaitMs', async () => {
    const p = fresh()
    server.plan(p, [limited(), limited(), ok])
    const { time, client } = setup({ maxWaitMs: 1500, retry: { baseDelayMs: 1000, maxDelayMs: 8000 }, random: () => 0.9 })
    expect((await client(p)).status).toBe(200)
    expect(time.slept).toEqual([900, 600])
  })

  it('retries a 503 with an HTTP-date Retry-After', async () => {
    const p = fresh()
    const time = virtualTime(Date.UTC(2026, 0, 1, 0, 0, 0))
    // The server's clock is the client's: its Date says so (a real Date would be today's).
    server.plan(p, [
      { status: 503, headers: { Date: 'Thu, 01 Jan 2026 00:00:00 GMT', 'Retry-After': 'Thu, 01 Jan 2026 00:00:07 GMT' } },
      ok,
    ])
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, random: () => 0 })
    expect((await client(p)).status).toBe(200)
    expect(time.slept).toEqual([7000])
  })

  it('waits for the reset when a 429 has no Retry-After but says nothing remains', async () => {
    const p = fresh()
    server.plan(p, [{ status: 429, headers: { 'RateLimit-Remaining': '0', 'RateLimit-Reset': '4', 'RateLimit-Limit': '5' } }, ok])
    const { time, client } = setup({ random: () => 0 })
    expect((await client(p)).status).toBe(200)
    expect(time.slept).toEqual([4000])
  })

  it('does not retry other statuses unless configured', async () => {
    const p = fresh()
    server.plan(p, [{ status: 500 }, ok])
    const { client } = setup()
    expect((await client(p)).status).toBe(500)
    const p2 = fresh()
    server.plan(p2, [{ status: 502 }, ok])
    const custom = setup({ retry: { statuses: [502] }, random: () => 0 })
    expect((await custom.client(p2)).status).toBe(200)
  })

  it("returns the last limited response with onLimited: 'return'", async () => {
    const p = fresh()
    server.plan(p, [limited('1')])
    const { client } = setup({ onLimited: 'return', retry: { retries: 1 } })
    const res = await client(p)
    expect(res.status).toBe(429)
    expect(server.hits(p)).toHaveLength(2)
  })
})

describe('idempotency', () => {
  it('does not retry a POST unless the request opts in', async () => {
    const p = fresh()
    server.plan(p, [limited('1'), ok])
    const { client } = setup()
    const error = (await client(p, { method: 'POST', body: 'x' }).catch((e: unknown) => e)) as RateLimitError
    expect(error).toMatchObject({ reason: 'not-retryable', attempts: 1, method: 'POST' })
    expect(error.message).toMatch(/POST is not idempotent/)
    expect(server.hits(p)).toHaveLength(1)
  })

  it('retries a POST that opts in, sending the same body again', async () => {
    const p = fresh()
    server.plan(p, [limited('1'), ok])
    const { client } = setup()
    const res = await client(p, { method: 'POST', body: JSON.stringify({ a: 1 }), rateLimit: { retry: true } })
    expect(res.status).toBe(200)
    expect(server.hits(p).map((h) => [h.method, h.body])).toEqual([
      ['POST', '{"a":1}'],
      ['POST', '{"a":1}'],
    ])
    // The per-request options never reach the server or fetch.
    expect(server.hits(p)[0].headers).not.toHaveProperty('ratelimit')
  })

  it('treats an Idempotency-Key header as opting in', async () => {
    const p = fresh()
    server.plan(p, [limited('1'), ok])
    const { client } = setup()
    const res = await client(p, { method: 'PATCH', body: 'x', headers: { 'Idempotency-Key': 'k-1' } })
    expect(res.status).toBe(200)
    expect(server.hits(p)).toHaveLength(2)
  })

  it('replays the body of a Request object', async () => {
    const p = fresh()
    server.plan(p, [limited('1'), limited('1'), ok])
    const { client } = setup()
    const res = await client(new Request(`${server.url}${p}`, { method: 'PUT', body: 'payload' }))
    expect(res.status).toBe(200)
    expect(server.hits(p).map((h) => h.body)).toEqual(['payload', 'payload', 'payload'])
  })

  it('never retries a streamed body (it cannot be sent twice), even on an idempotent method', async () => {
    const p = fresh()
    server.plan(p, [limited('1'), ok])
    const { client } = setup()
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('streamed'))
        c.close()
      },
    })
    const error = (await client(p, { method: 'PUT', body, duplex: 'half' } as RequestInit).catch((e: unknown) => e)) as RateLimitError
    expect(error).toMatchObject({ reason: 'not-retryable' })
    expect(error.message).toMatch(/stream/)
    expect(server.hits(p).map((h) => h.body)).toEqual(['streamed'])
  })

  it('never retries a request that opts out, nor any with retry: false', async () => {
    const p = fresh()
    server.plan(p, [limited('1'), ok])
    const { client } = setup()
    await expect(client(p, { rateLimit: { retry: false } })).rejects.toMatchObject({ reason: 'not-retryable' })
    const p2 = fresh()
    server.plan(p2, [limited('1'), ok])
    const off = setup({ retry: false })
    await expect(off.client(p2)).rejects.toMatchObject({ reason: 'not-retryable', status: 429 })
  })

  it('retries the methods it is told to', async () => {
    const p = fresh()
    server.plan(p, [limited('1'), ok])
    const { client } = setup({ retry: { methods: ['post'] } })
    expect((await client(p, { method: 'POST' })).status).toBe(200)
  })
})
