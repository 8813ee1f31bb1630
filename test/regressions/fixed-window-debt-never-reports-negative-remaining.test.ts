// A settled cost above its estimate may overdraw a fixed window (debt, `Policy.charge`). Its
// `remaining` must then read 0 until the debt is repaid, never a negative count: a peek (cost 0)
// and a partial refund reported `limit - count` unclamped (e.g. -3, and X-RateLimit-Remaining
// with it; casStore's answer check turned it into a store error). Memory, casStore (the step
// function) and Redis (its Lua twin) alike.

import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, type Store } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { clock } from '../helpers/clock.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { STORES } from '../limiter/concurrency-stores.js'

const T0 = 1_700_000_000_000

/** Remaining after an overdraw, as a peek, a refund and a blocked neighbour's decision see it. */
async function overdraw(store: Store): Promise<{ peek: number[]; refund: number[] }> {
  const t = T0
  const policies = [fixedWindow({ name: 'quota', limit: 5, window: '1h' })]
  const limiter = createLimiter({ store, now: () => t, policies })
  const estimate = await limiter.consume('k', { cost: 5 })
  await limiter.settle(estimate, 9) // 4 over the limit
  const peek = await limiter.peek('k', { cost: 0 })
  const other = await limiter.consume('k')
  const refunded = await limiter.refund('k', { cost: 1, at: T0 })
  return {
    peek: [peek.remaining, peek.policies[0].remaining, other.remaining],
    refund: [refunded.remaining, refunded.policies[0].remaining],
  }
}

describe('fixed window in debt: memory', () => {
  it('reports remaining 0, never negative', async () => {
    expect(await overdraw(new MemoryStore())).toEqual({ peek: [0, 0, 0], refund: [0, 0] })
  })
})

describeRedis('fixed window in debt: Redis', () => {
  const prefix = uniquePrefix('fw-debt')
  const client = new Redis(REDIS_URL)
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('reports remaining 0, never negative', async () => {
    const store = new RedisStore({ client, prefix, clock: 'caller', extraTtlMs: 86_400_000 })
    expect(await overdraw(store)).toEqual({ peek: [0, 0, 0], refund: [0, 0] })
    store.close()
  })
})

describe.each(STORES)('a fixed window in debt on %s', (_name, newStore) => {
  it('shows remaining 0 on a peek and after a refund, never a negative number or a store error', async () => {
    const c = clock(Date.UTC(2026, 0, 1))
    const limiter = createLimiter({
      store: newStore(c.now),
      now: c.now,
      policies: [fixedWindow({ name: 'per-minute', limit: 10, window: '1m' })],
    })
    const a = await limiter.consume('k', { cost: 5 })
    const b = await limiter.consume('k', { cost: 5 })
    await limiter.settle(a, 40)
    // A peek asks whether one more request would pass: no, for the rest of the window.
    expect(await limiter.peek('k')).toMatchObject({ reason: 'limited', remaining: 0 })
    expect(await limiter.consume('k', { cost: 0 })).toMatchObject({ reason: 'ok', remaining: 0 })
    expect(await limiter.settle(b, 0)).toMatchObject({ reason: 'ok', remaining: 0 })
    expect(await limiter.peek('k')).toMatchObject({ reason: 'limited', remaining: 0 })
  })
})
