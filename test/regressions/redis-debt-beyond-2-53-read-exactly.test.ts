// A charged debt (a settled cost above its estimate) may push a token bucket's arrival time past
// 2^53: `resetAt` and `retryAfterMs` then exceed Number.MAX_SAFE_INTEGER. Redis truncates a Lua
// number to a 64-bit integer reply and the client parses it digit by digit, which rounds
// differently from the TypeScript's doubles: the Redis store answered 86399999935805310 where
// memory said 86399999935805330. Such figures now travel as their exact digits.

import { Redis } from 'ioredis'
import { afterAll, expect, it } from 'vitest'
import { MemoryStore, type Store, tokenBucket } from '../../src/index.js'
import type { StoreResult } from '../../src/limiter/store.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const T0 = 1_709_164_795_000

async function deepDebt(store: Store, tag: string): Promise<StoreResult[]> {
  const policies = [tokenBucket({ name: 'daily', limit: 1, window: '1d' })]
  const at = (now: number, cost: number) => ({ keys: ['k'], policies, cost, now, tag })
  const charge = store.charge?.bind(store)
  if (charge === undefined) throw new Error('no charge()')
  return [await charge(at(T0, 1_000_000_000)), await store.consume(at(T0 + 64_194_673, 1)), await store.peek(at(T0 + 64_194_673, 0))]
}

describeRedis('Redis: a debt beyond 2^53 ms', () => {
  const prefix = uniquePrefix('2p53')
  const client = new Redis(REDIS_URL)
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('reads back exactly the figures memory computes', async () => {
    const store = new RedisStore({ client, prefix, clock: 'caller', extraTtlMs: 86_400_000 })
    const redis = await deepDebt(store, `d-${prefix}`)
    const memory = await deepDebt(new MemoryStore(), 'm')
    expect(memory[1].results[2]).toBeGreaterThan(Number.MAX_SAFE_INTEGER)
    expect(redis).toEqual(memory)
    store.close()
  })
})
