// A request reserved with an estimate of 0 (the cost is known only afterwards) and settled at 0
// was not marked settled: refund() saw nothing to give back and returned early, so a second settle
// of the same decision charged its actual cost after all. A decision settles once, whatever its
// estimate.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, slidingWindow, tokenBucket } from '../../src/index.js'

describe('a reservation of 0', () => {
  it.each([
    tokenBucket({ name: 'p', limit: 10, window: '1h' }),
    fixedWindow({ name: 'p', limit: 10, window: '1h' }),
    slidingWindow({ name: 'p', limit: 10, window: '1h' }),
  ])('is settled once ($kind)', async (policy) => {
    const limiter = createLimiter({ now: () => Date.UTC(2026, 0, 1), policies: [policy] })
    const d = await limiter.consume('k', { cost: 0 })
    expect((await limiter.settle(d, 0)).remaining).toBe(10)
    expect((await limiter.settle(d, 4)).remaining).toBe(10)
    expect((await limiter.peek('k')).remaining).toBe(10)
    // Settled above 0 the first time: charged once.
    const e = await limiter.consume('k', { cost: 0 })
    expect((await limiter.settle(e, 3)).remaining).toBe(7)
    expect((await limiter.settle(e, 3)).remaining).toBe(7)
  })
})
