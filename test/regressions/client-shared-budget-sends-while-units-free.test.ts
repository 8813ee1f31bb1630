// With a shared outgoing budget and `maxWaitMs: 0`, a call fails only when no unit is free: time
// spent in line behind other calls' store round trips is not a wait for units.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { createLimiter, MemoryStore, tokenBucket } from 'ratekeeper'
import { createClient, type FetchFunction, RateLimitError } from 'ratekeeper/client'
import { RedisStore } from 'ratekeeper/redis'
import { afterAll, describe, expect, it } from 'vitest'

/** A clock that moves one millisecond each time it is read: work takes time, as it does in production. */
function tickingClock(start: number): () => number {
  let t = start
  return () => t++
}

const ok: FetchFunction = async () => new Response('ok')

async function sixtyAtOnce(client: ReturnType<typeof createClient>) {
  const settled = await Promise.allSettled(Array.from({ length: 60 }, () => client('http://api.test/x')))
  const sent = settled.filter((s) => s.status === 'fulfilled').length
  const refused = settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason)
  return { sent, refused }
}

describe('maxWaitMs: 0 with a shared budget of 40 free units, 60 calls at once', () => {
  it('sends 40 and refuses 20 (memory store)', async () => {
    const now = tickingClock(1_700_000_000_000)
    const limiter = createLimiter({ store: new MemoryStore(), policies: [tokenBucket({ limit: 40, window: '1h' })], now })
    const client = createClient({ fetch: ok, now, limiter, maxWaitMs: 0 })
    const { sent, refused } = await sixtyAtOnce(client)
    expect(sent).toBe(40)
    expect(refused).toHaveLength(20)
    for (const e of refused) expect(e).toMatchObject({ source: 'client', reason: 'max-wait', attempts: 0 })
    expect(refused[0]).toBeInstanceOf(RateLimitError)
  })

  describe('on a real Redis', () => {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    const prefix = `rktest-client-free-${randomUUID().slice(0, 8)}`
    const redis = new Redis(url)
    afterAll(async () => {
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length > 0) await redis.del(...keys)
      redis.disconnect()
    })

    it('sends 40 and refuses 20', async () => {
      await redis.ping()
      const store = new RedisStore({ client: redis, prefix, timeoutMs: 2000 })
      const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 40, window: '1h' })], onStoreError: 'deny' })
      const client = createClient({ fetch: ok, limiter, maxWaitMs: 0 })
      const { sent, refused } = await sixtyAtOnce(client)
      expect(sent).toBe(40)
      expect(refused).toHaveLength(20)
      for (const e of refused) expect(e).toMatchObject({ source: 'client', reason: 'max-wait' })
    })
  })
})
