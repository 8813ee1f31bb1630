import { describe, expect, it } from 'vitest'
import { createLimiter, slidingWindow } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

describe('slidingWindow', () => {
  it('never admits more than the limit in any window-long span, even across an edge', async () => {
    const c = clock(1_000_000)
    const limiter = createLimiter({ now: c.now, policies: [slidingWindow({ limit: 10, window: '1s' })] })
    c.advance(950)
    for (let i = 0; i < 10; i++) expect((await limiter.consume('k')).allowed).toBe(true)
    // A fixed window would reopen at the next edge, 50 ms later; this one doesn't.
    c.advance(100)
    expect((await limiter.consume('k')).allowed).toBe(false)
  })

  it('readmits within one sub-window of the exact time (the documented strictness)', async () => {
    const c = clock(1_000_000)
    const limiter = createLimiter({ now: c.now, policies: [slidingWindow({ limit: 5, window: '1s', precision: 10 })] })
    for (let i = 0; i < 5; i++) await limiter.consume('k')
    const d = await limiter.consume('k')
    // Exact log: 1000 ms. Sub-window counters (100 ms each): at most 1100 ms.
    expect(d.retryAfterMs).toBeGreaterThanOrEqual(1000)
    expect(d.retryAfterMs).toBeLessThanOrEqual(1100)
    c.advance(d.retryAfterMs - 1)
    expect((await limiter.consume('k')).allowed).toBe(false)
    c.advance(1)
    expect((await limiter.consume('k')).allowed).toBe(true)
  })

  it('frees capacity gradually as sub-windows age out', async () => {
    const c = clock(0)
    const limiter = createLimiter({ now: c.now, policies: [slidingWindow({ limit: 4, window: '400ms', precision: 4 })] })
    for (let i = 0; i < 4; i++) {
      await limiter.consume('k')
      c.advance(100)
    }
    // t=400: sub-windows 0..4 are covered (0..3 hold one each).
    expect((await limiter.peek('k')).remaining).toBe(0)
    c.advance(100)
    expect((await limiter.peek('k')).remaining).toBe(1)
    c.advance(400)
    expect((await limiter.peek('k')).remaining).toBe(4)
  })

  it('cost, cost above limit, limit 0, refund into the charged sub-window only', async () => {
    const c = clock(0)
    const limiter = createLimiter({ now: c.now, policies: [slidingWindow({ limit: 10, window: '1s' })] })
    const d = await limiter.consume('k', { cost: 6 })
    expect(d.remaining).toBe(4)
    expect((await limiter.consume('k', { cost: 11 })).reason).toBe('exceeds-capacity')
    expect((await limiter.refund('k', { cost: 2, at: d.at })).remaining).toBe(6)
    c.advance(2000)
    expect((await limiter.refund('k', { cost: 2, at: d.at })).remaining).toBe(10)
    const zero = createLimiter({ now: c.now, policies: [slidingWindow({ limit: 0, window: '1s' })] })
    expect((await zero.consume('k')).allowed).toBe(false)
  })
})
