// A request that waits for a lease across a fixed window's edge is not admitted from that lease:
// the store charged it to the window that ended, and spending it in the next one would admit
// more than the limit there.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { countingStore } from '../limiter/lease-stores.js'

describe('lease: a lease that ends while its request waits', () => {
  it('is not spent in the next window', async () => {
    const edge = Date.UTC(2026, 0, 1, 0, 1)
    const c = clock(edge - 1)
    const store = countingStore({ async: true })
    const policies = [fixedWindow({ name: 'w', limit: 5, window: '1m', lease: { size: 5, ttlMs: '1h' } })]
    const limiter = createLimiter({ store, now: c.now, policies })
    // Sent in the old window; the answers arrive after the edge.
    const waiting = Array.from({ length: 5 }, () => limiter.consume('k'))
    c.advance(1)
    await store.flush()
    const late = await Promise.all(waiting)
    let admitted = late.filter((d) => d.allowed).length
    for (let i = 0; i < 10; i++) {
      if ((await limiter.consume('k')).allowed) admitted++
      await store.flush()
    }
    expect(admitted).toBe(5)
  })
})
