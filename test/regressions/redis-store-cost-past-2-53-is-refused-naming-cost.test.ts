// The RedisStore took any integer cost. A cost called directly on the store (the limiter's are at
// most 1e9) of 1e300 overflowed the script's arithmetic: a charge answered resetAt NaN (memory:
// Infinity) and left a bucket blocked for the longest TTL. Figures are exact only below 2^53, so
// a cost (or a refund's `charged`) past Number.MAX_SAFE_INTEGER is now refused, naming the field.

import { Redis } from 'ioredis'
import { afterAll, expect, it } from 'vitest'
import { tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const T0 = 1_800_000_000_000

describeRedis('RedisStore: a cost past 2^53', () => {
  const prefix = uniquePrefix('cost-2p53')
  const client = new Redis(REDIS_URL)
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('is refused with ERR_RK_INVALID_ARGUMENT naming cost (or charged), and a safe one is decided', async () => {
    const store = new RedisStore({ client, prefix, clock: 'caller' })
    const policies = [tokenBucket({ name: 'yearly', limit: 1, window: '365d' })]
    const at = (cost: number) => ({ keys: ['k'], policies, cost, now: T0, tag: 'k' })
    for (const cost of [1e300, 2 ** 53]) {
      await expect(store.charge(at(cost))).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'cost' })
      await expect(Promise.resolve().then(() => store.consume(at(cost)))).rejects.toMatchObject({ option: 'cost' })
    }
    await expect(store.refund({ ...at(1), chargedAt: T0, charged: 1e300 } as never)).rejects.toMatchObject({ option: 'charged' })
    const charged = await store.charge(at(Number.MAX_SAFE_INTEGER))
    expect(charged.results.every(Number.isFinite)).toBe(true)
    store.close()
  })
})
