// With leases (`lease: { size, ttlMs }`), a refund goes back to a live lease of the server when one
// can take it. It went to the newest lease whatever the refunded charge: a request admitted in one
// fixed window and refunded after the next window began was credited to that window's lease, so
// the new window admitted 11 at a limit of 10. A refund now goes only to a lease taken before the
// charge it gives back (one the charge may have been spent from); otherwise to the store, whose
// refund credits only the window charged.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 0, 1)

describe('a refund with leases', () => {
  it('of a request of the previous window gives the new window nothing', async () => {
    const c = clock(T0)
    const limiter = createLimiter({
      store: new MemoryStore(),
      now: c.now,
      policies: [fixedWindow({ name: 'fw', limit: 10, window: '1m', lease: { size: 5, ttlMs: '2m' } })],
    })
    const old = await limiter.consume('k')
    expect(old.allowed).toBe(true)
    c.advance(60_000)
    let admitted = 0
    for (let i = 0; i < 12; i++) if ((await limiter.consume('k')).allowed) admitted++
    expect(admitted).toBe(10)
    await limiter.refund('k', { decision: old })
    for (let i = 0; i < 3; i++) if ((await limiter.consume('k')).allowed) admitted++
    expect(admitted).toBe(10)
  })

  it('of a request of this window still gives its unit back', async () => {
    const c = clock(T0)
    const limiter = createLimiter({
      store: new MemoryStore(),
      now: c.now,
      policies: [fixedWindow({ name: 'fw', limit: 10, window: '1m', lease: { size: 5, ttlMs: '2m' } })],
    })
    c.advance(60_000)
    const decisions = []
    for (let i = 0; i < 12; i++) decisions.push(await limiter.consume('k'))
    const last = decisions.filter((d) => d.allowed).at(-1)
    expect(last).toBeDefined()
    await limiter.refund('k', { decision: last })
    expect((await limiter.consume('k')).allowed).toBe(true)
    expect((await limiter.consume('k')).allowed).toBe(false)
  })
})
