import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { clock } from '../helpers/clock.js'
import { describeRedis, REDIS_URL } from '../helpers/redis.js'
import { countingStore } from './lease-stores.js'

const T0 = Date.UTC(2026, 0, 1, 10, 0, 30)

describe('lease beside other policies', () => {
  it('a request denied by a policy without lease gives the leased units back: all or nothing', async () => {
    const c = clock(T0)
    const store = countingStore({ async: true })
    const global = tokenBucket({ name: 'global', limit: 1_000, window: '1s', lease: { size: 20, ttlMs: '1s' } })
    const perKey = fixedWindow({ name: 'per-key', limit: 3, window: '1m' })
    const limiter = createLimiter({ store, now: c.now, policies: [global, perKey] })
    const decisions = []
    for (let i = 0; i < 5; i++) decisions.push(await limiter.consume('alice'))
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, false])
    expect(decisions[3].violated).toEqual(['per-key'])
    expect(decisions[3].retryAfterMs).toBe(30_000)
    // Another key still has the whole global budget, less the three admitted.
    const bob = await limiter.consume('bob')
    expect(bob.allowed).toBe(true)
    await limiter.close()
    await store.flush()
    const check = createLimiter({ store, now: c.now, policies: [tokenBucket({ name: 'global', limit: 1_000, window: '1s' })] })
    // alice's and bob's leases are separate subjects: each gave back what it did not spend.
    expect((await check.peek('alice')).remaining).toBe(997)
  })

  it('refund goes back to the live lease; peek shows the store plus what this server holds', async () => {
    const c = clock(T0)
    const store = countingStore({ async: false })
    const limiter = createLimiter({
      store,
      now: c.now,
      policies: [fixedWindow({ name: 'q', limit: 100, window: '1m', lease: { size: 10, ttlMs: '1m' } })],
    })
    const d = await limiter.consume('k')
    const before = store.ops.refund
    await limiter.refund('k', { decision: d })
    expect(store.ops.refund).toBe(before) // given back to the lease, no store call
    expect((await limiter.peek('k')).remaining).toBe(100)
  })
})

describeRedis('lease on RedisStore', () => {
  const client = new Redis(REDIS_URL)
  afterAll(() => client.quit())

  it('two servers on one Redis: at most the limit per window, and every unspent unit back on close', async () => {
    const prefix = `rk-lease-${process.pid}-${Date.now()}`
    const policies = [fixedWindow({ name: 'global', limit: 50, window: '1h', lease: { size: 8, ttlMs: '1m' } })]
    const a = createLimiter({ store: new RedisStore({ client, prefix }), policies })
    const b = createLimiter({ store: new RedisStore({ client, prefix }), policies })
    const all = await Promise.all(Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? a : b).consume('all')))
    const admitted = all.filter((d) => d.allowed).length
    expect(admitted).toBeLessThanOrEqual(50)
    expect(admitted).toBeGreaterThanOrEqual(40)
    await a.close()
    await b.close()
    const check = createLimiter({
      store: new RedisStore({ client, prefix }),
      policies: [fixedWindow({ name: 'global', limit: 50, window: '1h' })],
    })
    expect((await check.peek('all')).remaining).toBe(50 - admitted)
  })
})
