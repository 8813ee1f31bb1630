/**
 * Regression: the Redis store's deny cache answered any cost at least as large as the one denied
 * with the cached denial, figures and all. A sliding window (10 per 10 s) that denied a request of
 * cost 1 with "retry in 2 s" then told a request of cost 5 "retry in 2 s" too, where Redis (and
 * every other store) says 6 s: its Retry-After was a third of the wait, the client came back
 * early and was denied again. A cached denial now answers the same cost only.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { slidingWindow, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const T0 = 1_800_000_000_000

describeRedis('redis deny cache and a larger cost', () => {
  let client: Redis
  const prefix = uniquePrefix('deny-cost')
  beforeAll(async () => {
    client = new Redis(REDIS_URL, { lazyConnect: true })
    await client.connect()
  })
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it.each([
    ['sliding window', slidingWindow({ name: 'sw', limit: 10, window: '10s', precision: 10 }), 1_000],
    ['token bucket', tokenBucket({ name: 'tb', limit: 10, window: '10s' }), 0],
  ])('a %s denial of cost 1 never answers cost 5 with its own wait', async (label, policy, step) => {
    const cached = new RedisStore({ client, prefix, clock: 'caller', denyCache: true, timeoutMs: 2_000, extraTtlMs: 600_000 })
    const plain = new RedisStore({ client, prefix, clock: 'caller', timeoutMs: 2_000, extraTtlMs: 600_000 })
    const request = (cost: number, now = T0) => ({ keys: [label], policies: [policy], cost, now, tag: label })
    // Spent at T0: the window by one unit a second for ten seconds, the bucket at once.
    for (let i = 0; i < 10; i++) expect((await cached.consume(request(1, T0 - (9 - i) * step))).allowed).toBe(true)
    const one = await cached.consume(request(1))
    expect(one.allowed).toBe(false)
    const five = await cached.consume(request(5))
    expect(five).toEqual(await plain.consume(request(5)))
    expect(five.results[2]).toBeGreaterThan(one.results[2])
    cached.close()
    plain.close()
  })
})
