// limiter.settle may charge a fixed window past its limit (a debt that lasts until the window
// ends). A look at such a window (a peek, a cost of 0) and a refund into it reported
// `limit - count`: a negative remaining, which the memory store passed on as is and casStore's
// answer check turned into a store error. Remaining is clamped at 0, as in every other algorithm.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { STORES } from '../limiter/concurrency-stores.js'

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
