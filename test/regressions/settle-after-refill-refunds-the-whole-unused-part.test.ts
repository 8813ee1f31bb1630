// limiter.settle below the estimate, some time after the charge, on a token bucket: the difference
// was given back as if only that many units had been charged (bounded by "difference·T since
// decision.at, minus refill"), so once the bucket had refilled a little the client paid more than
// its actual cost. The refund now carries the whole charge (StoreRefundRequest.charged) and gives
// the difference back out of what is left of it: memory, casStore and Redis (its Lua twin) alike.

import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, type Store, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { clock } from '../helpers/clock.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { STORES } from '../limiter/concurrency-stores.js'

const T0 = Date.UTC(2026, 0, 1)

/** 60 reserved from a full bucket refilling 5 tokens/s, 20 used, settled 3 s later: 95 left. */
async function settleLate(store: Store, c: ReturnType<typeof clock>): Promise<number[]> {
  const limiter = createLimiter({ store, now: c.now, policies: [tokenBucket({ name: 'tokens', limit: 100, window: '20s' })] })
  const d = await limiter.consume('k', { cost: 60 })
  c.advance(3_000)
  const before = (await limiter.peek('k')).remaining
  const settled = (await limiter.settle(d, 20)).remaining
  // The rest of a refund is never above capacity: a second reservation settled at 0 after a full refill.
  const e = await limiter.consume('k', { cost: 50 })
  c.advance(60_000)
  const full = (await limiter.settle(e, 0)).remaining
  return [before, settled, full]
}

describe.each(STORES)('a late settle on a token bucket, %s', (_name, newStore) => {
  it('gives back the whole unused part, never above capacity', async () => {
    const c = clock(T0)
    expect(await settleLate(newStore(c.now), c)).toEqual([55, 95, 100])
  })
})

describeRedis('a late settle on a token bucket, Redis', () => {
  const prefix = uniquePrefix('settle-late')
  const client = new Redis(REDIS_URL)
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('gives back the whole unused part, never above capacity', async () => {
    const c = clock(T0)
    const store = new RedisStore({ client, prefix, clock: 'caller', extraTtlMs: 86_400_000 })
    expect(await settleLate(store, c)).toEqual([55, 95, 100])
    store.close()
  })
})
