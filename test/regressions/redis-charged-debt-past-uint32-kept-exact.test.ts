// The Redis store packs window counts as uint32. A charge (a settled cost above its estimate) is
// the one way past the limit, and limits go up to 10^9: a few large settles took a count past
// 2^32 - 1, where struct.pack wraps it around, so a debt of 6e9 read back as 1.7e9 and a refund
// then left the window with more allowance than it had. Counts past a uint32 are kept as doubles.

import { Redis } from 'ioredis'
import { afterAll, expect, it } from 'vitest'
import { fixedWindow, MemoryStore, type Store, slidingWindow } from '../../src/index.js'
import type { StoreResult } from '../../src/limiter/store.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const T0 = 1_700_000_000_000
const G = 1_000_000_000

/** Charges 3e9 twice (in two sub-windows), refunds most of it, and reads what is left. */
async function debt(store: Store, tag: string): Promise<StoreResult[]> {
  const policies = [
    fixedWindow({ name: 'fw', limit: G, window: '1h' }),
    slidingWindow({ name: 'sw', limit: G, window: 1000, precision: 2 }),
  ]
  const at = (now: number, cost: number) => ({ keys: ['k', 'k'], policies, cost, now, tag })
  const charge = store.charge?.bind(store)
  if (charge === undefined) throw new Error('no charge()')
  const out: StoreResult[] = []
  out.push(await charge(at(T0, 3 * G)))
  out.push(await charge(at(T0 + 500, 3 * G)))
  out.push(await store.refund({ ...at(T0 + 600, 2.5 * G), chargedAt: T0 }))
  out.push(await store.refund({ ...at(T0 + 700, 2.9 * G), chargedAt: T0 + 500 }))
  out.push(await store.peek(at(T0 + 800, 0)))
  return out
}

describeRedis('Redis: a charged debt past 2^32 - 1', () => {
  const prefix = uniquePrefix('u32')
  const client = new Redis(REDIS_URL)
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('is kept exact, as in memory', async () => {
    const store = new RedisStore({ client, prefix, clock: 'caller', extraTtlMs: 86_400_000 })
    const redis = await debt(store, `u32-${prefix}`)
    expect(redis).toEqual(await debt(new MemoryStore(), 'm'))
    // 6e9 charged, 5.4e9 given back: 0.6e9 used in either window, 0.4e9 left.
    expect([redis[4].results[0], redis[4].results[3]]).toEqual([0.4 * G, 0.4 * G])
    store.close()
  })
})
