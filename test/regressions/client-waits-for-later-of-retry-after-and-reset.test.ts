// koa-ratelimit truncates Retry-After (1 while almost 2 s remain): when nothing remains and the
// reported reset is within rounding of Retry-After, the client waits for the later of the two, so
// its retries are not spent early. A reset far beyond Retry-After (a token bucket's "full again")
// is another moment, and the server's explicit Retry-After wins.
import { createClient } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scriptedServer, virtualTime } from '../client/helpers.js'
import { startPeer } from '../client/peers.js'

describe('against koa-ratelimit (Retry-After truncated)', () => {
  it('the retry waits until the reported reset, not only the truncated Retry-After', async () => {
    const peer = await startPeer('koa-ratelimit', 1, 3000)
    try {
      const time = virtualTime(Date.now())
      const client = createClient({
        baseUrl: peer.url,
        now: time.now,
        sleep: time.sleep,
        pace: false,
        random: () => 0,
        retry: { retries: 1 },
      })
      expect((await client('/')).status).toBe(200)
      const retries: Array<{ delayMs: number; serverWaitMs: number | undefined }> = []
      let first: { retryAfterMs: number | undefined; resetAt: number | undefined; at: number } | undefined
      client.on('response', (e) => {
        if (e.status === 429 && first === undefined) first = e.rateLimit
      })
      client.on('retry', (e) => retries.push(e))
      await client('/').catch(() => undefined)
      expect(first?.retryAfterMs).toBeLessThan(3000)
      const toReset = (first?.resetAt ?? 0) - (first?.at ?? 0)
      expect(toReset).toBeGreaterThan(2500)
      expect(retries[0].delayMs).toBe(toReset)
      expect(retries[0].serverWaitMs).toBe(toReset)
    } finally {
      await peer.close()
    }
  })

  it("pacing holds the budget's other calls until the reset as well", async () => {
    const peer = await startPeer('koa-ratelimit', 1, 3000)
    try {
      const time = virtualTime(Date.now())
      // Another client spends the unit; this one learns of the limit from its first answer, a 429.
      expect((await fetch(peer.url)).status).toBe(200)
      const client = createClient({ baseUrl: peer.url, now: time.now, sleep: time.sleep, retry: false })
      await expect(client('/')).rejects.toMatchObject({ status: 429 })
      const state = client.budget(peer.url)
      expect(state?.lastInfo?.retryAfterMs).toBeLessThan(3000)
      expect(state?.blockedUntil).toBeGreaterThanOrEqual(state?.lastInfo?.resetAt ?? Number.POSITIVE_INFINITY)
    } finally {
      await peer.close()
    }
  })
})

describe('against a scripted server', () => {
  const T0 = 1_700_000_000_000
  const time = virtualTime(T0)
  let server: Awaited<ReturnType<typeof scriptedServer>>
  beforeAll(async () => {
    server = await scriptedServer(time.now)
  })
  afterAll(() => server.close())

  it('sends the retry at the reset (Retry-After 1, reset in 2.9 s, nothing remaining: a truncated Retry-After)', async () => {
    const start = time.now()
    const reset = String((start + 2900) / 1000)
    server.plan('/a', [
      { status: 429, headers: { 'Retry-After': '1', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Limit': '1', 'X-RateLimit-Reset': reset } },
      { status: 200, body: 'ok' },
    ])
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, random: () => 0 })
    expect((await client('/a')).status).toBe(200)
    expect(server.hits('/a').map((h) => h.at - start)).toEqual([0, 2900])
  })

  it('honours Retry-After when the reset is far beyond it (a token bucket: next unit in 1 s, full again in 90 s)', async () => {
    const start = time.now()
    const reset = String((start + 90_000) / 1000)
    server.plan('/c', [
      {
        status: 429,
        headers: { 'Retry-After': '1', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Limit': '150', 'X-RateLimit-Reset': reset },
      },
      { status: 200, body: 'ok' },
    ])
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, random: () => 0 })
    expect((await client('/c')).status).toBe(200)
    expect(server.hits('/c').map((h) => h.at - start)).toEqual([0, 1000])
  })

  it('still honours a Retry-After longer than the reset', async () => {
    const start = time.now()
    const reset = String((start + 2000) / 1000)
    server.plan('/b', [
      { status: 429, headers: { 'Retry-After': '7', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': reset } },
      { status: 200, body: 'ok' },
    ])
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, random: () => 0 })
    expect((await client('/b')).status).toBe(200)
    expect(server.hits('/b').map((h) => h.at - start)).toEqual([0, 7000])
  })
})
