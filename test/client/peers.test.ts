// The client against real rate-limiting servers of other libraries (and the headers
// rate-limiter-flexible's README sets), each started in-process: what it reads from each, and
// that the server's own 429 is never needed to learn the budget is spent.
import { createClient, type RateLimitDialect, type RateLimitError } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { virtualTime } from './helpers.js'
import { type PeerName, startPeer } from './peers.js'

const WINDOW = 60_000

const expected: Record<PeerName, { dialect: RateLimitDialect; policy?: string; windowMs?: number }> = {
  'express-rate-limit draft-6': { dialect: 'draft-6', windowMs: WINDOW },
  'express-rate-limit draft-7': { dialect: 'draft-7', windowMs: WINDOW },
  'express-rate-limit draft-8': { dialect: 'draft-10', policy: '3-in-60sec', windowMs: WINDOW },
  'express-rate-limit legacy': { dialect: 'x-ratelimit' },
  '@fastify/rate-limit': { dialect: 'x-ratelimit' },
  '@fastify/rate-limit draft': { dialect: 'draft-6' },
  'koa-ratelimit': { dialect: 'x-ratelimit' },
  'rate-limiter-flexible (README headers)': { dialect: 'x-ratelimit' },
}

describe.each(Object.entries(expected) as [PeerName, (typeof expected)[PeerName]][])('%s', (name, want) => {
  it('reads limit, remaining and reset; paces instead of spending a 429; reads the 429 itself', async () => {
    const peer = await startPeer(name, 3, WINDOW)
    try {
      const time = virtualTime(Date.now())
      const client = createClient({ baseUrl: peer.url, now: time.now, sleep: time.sleep, maxWaitMs: 0 })
      const statuses: number[] = []
      client.on('response', (e) => statuses.push(e.status))
      await client('/')
      const info = client.budget(peer.url)?.lastInfo
      expect(info).toMatchObject({ dialect: want.dialect, limit: 3, remaining: 2 })
      // Seconds from now, or epoch seconds: either way about a window from now (1 s of rounding).
      expect(Math.abs((info?.resetAt ?? 0) - (time.now() + WINDOW))).toBeLessThanOrEqual(1500)
      if (want.policy !== undefined) expect(info?.policies.map((p) => p.name)).toEqual([want.policy])
      if (want.windowMs !== undefined) expect(info?.policies[0].windowMs).toBe(want.windowMs)
      await client('/')
      await client('/')
      // Spent: the client refuses the fourth call itself.
      await expect(client('/')).rejects.toMatchObject({ source: 'client', reason: 'max-wait', attempts: 0, remaining: 0 })
      expect(statuses).toEqual([200, 200, 200])

      // Without pacing it asks, and reads the server's 429: the wait is about a window.
      const raw = createClient({ baseUrl: peer.url, now: time.now, sleep: time.sleep, maxWaitMs: 0, pace: false })
      const error = (await raw('/').catch((e: unknown) => e)) as RateLimitError
      expect(error).toMatchObject({ name: 'RateLimitError', status: 429, source: 'server', reason: 'max-wait', limit: 3, remaining: 0 })
      expect(Math.abs((error.retryAfterMs ?? 0) - WINDOW)).toBeLessThanOrEqual(1500)
    } finally {
      await peer.close()
    }
  })
})
