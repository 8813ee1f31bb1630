import { describe, expect, it } from 'vitest'
import { ConfigurationError, createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { countingStore } from './lease-stores.js'

const T0 = Date.UTC(2026, 0, 1, 10, 0, 0)

describe('lease', () => {
  it('decides locally from leases: far fewer store calls than decisions, the fleet-wide remaining shown', async () => {
    const c = clock(T0)
    const store = countingStore({ async: true })
    const policy = tokenBucket({ limit: 10_000, window: '1s', lease: { size: 50, ttlMs: '2s' } })
    const limiter = createLimiter({ store, now: c.now, policies: [policy] })
    let admitted = 0
    for (let i = 0; i < 2_000; i++) {
      const d = await limiter.consume('global')
      if (d.allowed) admitted++
      if (i % 10 === 9) await store.flush()
      c.advance(1)
    }
    expect(admitted).toBe(2_000)
    expect(store.ops.consume).toBeLessThan(2_000 / 20)
    const d = await limiter.consume('global')
    // The store's remaining at the last reply plus the units this server holds: at most the burst.
    expect(d.remaining).toBeGreaterThan(9_000)
    expect(d.remaining).toBeLessThanOrEqual(10_000)
    await limiter.close()
  })

  it('fixed window: two servers never admit more than the limit in a window; close gives the unspent units back', async () => {
    const c = clock(T0 + 30_000)
    const store = countingStore({ async: true })
    const policies = [fixedWindow({ name: 'global', limit: 100, window: '1m', lease: { size: 20, ttlMs: '5m' } })]
    const a = createLimiter({ store, now: c.now, policies })
    const b = createLimiter({ store, now: c.now, policies })
    let admitted = 0
    for (let i = 0; i < 300; i++) {
      if ((await (i % 3 === 0 ? a : b).consume('k')).allowed) admitted++
      if (i % 7 === 0) await store.flush()
    }
    await store.flush()
    expect(admitted).toBeLessThanOrEqual(100)
    expect(admitted).toBeGreaterThan(60)
    await a.close()
    await b.close()
    // Every unit not admitted is back in the store: the window's count is exactly what was admitted.
    const fresh = createLimiter({ store, now: c.now, policies: [fixedWindow({ name: 'global', limit: 100, window: '1m' })] })
    expect((await fresh.peek('k')).remaining).toBe(100 - admitted)
  })

  it("a denial's retryAfterMs is the store's: the window's end, remembered without a round trip per request", async () => {
    const c = clock(T0 + 45_000)
    const store = countingStore({ async: false })
    const limiter = createLimiter({
      store,
      now: c.now,
      policies: [fixedWindow({ name: 'q', limit: 5, window: '1m', lease: { size: 5, ttlMs: '1m' } })],
    })
    for (let i = 0; i < 5; i++) expect((await limiter.consume('k')).allowed).toBe(true)
    const denied = await limiter.consume('k')
    expect(denied).toMatchObject({ allowed: false, retryAfterMs: 15_000, violated: ['q'], remaining: 0 })
    const calls = store.ops.consume
    c.advance(5_000)
    expect((await limiter.consume('k')).retryAfterMs).toBe(10_000)
    expect(store.ops.consume).toBe(calls)
    c.advance(10_000)
    expect((await limiter.consume('k')).allowed).toBe(true)
  })

  it('a crashed server loses its units for the rest of the window only, and no unit is spent twice', async () => {
    const c = clock(T0)
    const store = countingStore({ async: false })
    const policies = [fixedWindow({ name: 'g', limit: 50, window: '10s', lease: { size: 10, ttlMs: '1m' } })]
    const crashed = createLimiter({ store, now: c.now, policies })
    for (let i = 0; i < 30; i++) await crashed.consume('k') // builds its leases up
    await store.flush()
    const survivor = createLimiter({ store, now: c.now, policies })
    let admitted = 0
    for (let i = 0; i < 100; i++) if ((await survivor.consume('k')).allowed) admitted++
    expect(30 + admitted).toBeLessThanOrEqual(50)
    c.advance(10_000) // the next window: the crashed server's leases ended with the last one
    let next = 0
    for (let i = 0; i < 100; i++) if ((await survivor.consume('k')).allowed) next++
    expect(next).toBe(50)
  })

  it('an expired lease gives its unspent units back (token bucket)', async () => {
    const c = clock(T0)
    const store = countingStore({ async: false })
    const policies = [tokenBucket({ name: 't', limit: 100, window: '1h', lease: { size: 40, ttlMs: '1s' } })]
    const a = createLimiter({ store, now: c.now, policies })
    for (let i = 0; i < 60; i++) await a.consume('k')
    await store.flush()
    c.advance(1_000)
    await a.consume('k') // sweeps: the expired leases go back
    await store.flush()
    expect(store.ops.refund).toBeGreaterThan(0)
    const plain = createLimiter({ store, now: c.now, policies: [tokenBucket({ name: 't', limit: 100, window: '1h' })] })
    // 61 admitted; about 1 token refilled in a second; the rest of the leases are back.
    expect((await plain.peek('k')).remaining).toBeGreaterThanOrEqual(100 - 61 - 1)
  })

  it('bad lease options are refused, naming the option', () => {
    expect(() => tokenBucket({ limit: 10, window: '1s', lease: { size: 11, ttlMs: '1s' } })).toThrow(/lease\.size/)
    expect(() => fixedWindow({ limit: 10, window: '1s', lease: { size: 5, ttlMs: 'soon' as never } })).toThrow(/lease\.ttlMs/)
    expect(() => fixedWindow({ limit: 10, window: '1s', lease: { size: 5 } as never })).toThrow(ConfigurationError)
    expect(() => tokenBucket({ limit: 10, window: '1s', lease: { size: 5, ttlMs: 1, extra: 1 } as never })).toThrow(/extra/)
    expect(() => tokenBucket({ limit: 10, window: '1s', shadow: true, lease: { size: 5, ttlMs: 1 } })).toThrow(/lease/)
  })
})
