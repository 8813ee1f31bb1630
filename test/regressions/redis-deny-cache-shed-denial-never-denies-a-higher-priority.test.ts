/**
 * Regression: the Redis store's deny cache remembers a denial by the request's Redis keys. The
 * shedding views of one budget share its key (that is how they share its state), so a background
 * request shed for 40 s and a critical request of the same client with the same own policies
 * have the same keys: the critical one must still be asked of Redis, not denied from the cache.
 * The deny cache tells requests apart by the numbers their keys are held to (the specs) as well
 * as by the keys.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { isShedding, loadShedding } from '../../src/http/shedding.js'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const T0 = 1_700_000_000_000

describeRedis('redis deny cache and load shedding', () => {
  let client: Redis
  const prefix = uniquePrefix('shed-deny')
  beforeAll(async () => {
    client = new Redis(REDIS_URL, { lazyConnect: true })
    await client.connect()
  })
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('a shed background request cached as denied never denies the same client’s critical request', async () => {
    const store = new RedisStore({ client, prefix, clock: 'caller', denyCache: true, timeoutMs: 2_000, extraTtlMs: 600_000 })
    const shed = loadShedding({ budget: fixedWindow({ name: 'fleet', limit: 4, window: '1m' }) })
    const limiter = createLimiter({
      store,
      now: () => T0,
      policies: [tokenBucket({ name: 'own', limit: 100, window: '1m' })],
      onStoreError: 'deny',
    })
    const background = () => limiter.consume('client', { layers: [shed.layer('background')] })
    expect((await background()).allowed).toBe(true)
    expect((await background()).allowed).toBe(true)
    expect(isShedding(await background())).toBe(true)
    const critical = await limiter.consume('client', { layers: [shed.layer('critical')] })
    expect(critical.allowed).toBe(true)
  })
})
