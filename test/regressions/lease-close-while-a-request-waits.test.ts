// A limiter closed while a request waits for a lease: the request is decided by the store as it
// is (once), instead of taking leases that the closed limiter gives straight back, over and over,
// while a unit stays out of the store.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { countingStore } from '../limiter/lease-stores.js'

describe('lease: close while a request waits', () => {
  it('decides the waiting request through the store and leaves every unit accounted for', async () => {
    const c = clock(Date.UTC(2026, 0, 1))
    const store = countingStore({ async: true })
    const policy = fixedWindow({ name: 'w', limit: 12, window: '1m', lease: { size: 4, ttlMs: '1h' } })
    const limiter = createLimiter({ store, now: c.now, policies: [policy] })
    const waiting = limiter.consume('k')
    await limiter.close()
    const decision = await waiting
    for (let i = 0; i < 5; i++) await store.flush()
    expect(decision.allowed).toBe(true)
    expect(store.ops.consume).toBeLessThanOrEqual(3)
    const check = createLimiter({ store, now: c.now, policies: [fixedWindow({ name: 'w', limit: 12, window: '1m' })] })
    expect((await check.peek('k')).remaining).toBe(11)
  })
})
