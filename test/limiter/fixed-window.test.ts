import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

describe('fixedWindow', () => {
  it('counts up to the limit, then denies until the window edge (aligned to the epoch)', async () => {
    const c = clock(Date.UTC(2026, 0, 1, 10, 0, 30))
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ limit: 3, window: '1m' })] })
    for (let i = 0; i < 3; i++) expect((await limiter.consume('k')).remaining).toBe(2 - i)
    const denied = await limiter.consume('k')
    expect(denied).toMatchObject({ allowed: false, retryAfterMs: 30_000, resetAt: Date.UTC(2026, 0, 1, 10, 1, 0) })
    c.advance(29_999)
    expect((await limiter.consume('k')).allowed).toBe(false)
    c.advance(1)
    expect((await limiter.consume('k')).remaining).toBe(2)
  })

  it("'1d' is a UTC day", async () => {
    const c = clock(Date.UTC(2026, 4, 17, 23, 59, 59, 999))
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ limit: 1, window: '1d' })] })
    const d = await limiter.consume('k')
    expect(d.resetAt).toBe(Date.UTC(2026, 4, 18))
    c.advance(1)
    expect((await limiter.consume('k')).allowed).toBe(true)
  })

  it("'month' is a calendar-month quota with a hard stop until the 1st (UTC)", async () => {
    const c = clock(Date.UTC(2026, 1, 10, 12))
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ name: 'tool-calls', limit: 5000, window: 'month' })] })
    expect((await limiter.consume('acct', { cost: 4990 })).remaining).toBe(10)
    const over = await limiter.consume('acct', { cost: 11 })
    expect(over).toMatchObject({ allowed: false, violated: ['tool-calls'], resetAt: Date.UTC(2026, 2, 1) })
    expect(over.retryAfterMs).toBe(Date.UTC(2026, 2, 1) - c.now())
    expect((await limiter.consume('acct', { cost: 10 })).remaining).toBe(0)
    c.set(Date.UTC(2026, 2, 1) - 1)
    expect((await limiter.consume('acct')).allowed).toBe(false)
    c.set(Date.UTC(2026, 2, 1))
    expect((await limiter.consume('acct')).remaining).toBe(4999)
    // December rolls over into the next year.
    c.set(Date.UTC(2026, 11, 31, 23))
    expect((await limiter.consume('acct')).resetAt).toBe(Date.UTC(2027, 0, 1))
  })

  it('cost larger than the limit is never admitted; limit 0 denies everything', async () => {
    const c = clock(0)
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ limit: 5, window: '1s' })] })
    expect((await limiter.consume('k', { cost: 6 })).reason).toBe('exceeds-capacity')
    const zero = createLimiter({ now: c.now, policies: [fixedWindow({ limit: 0, window: '1s' })] })
    expect((await zero.consume('k')).allowed).toBe(false)
  })

  it('refunds only into the window that was charged, never below zero', async () => {
    const c = clock(10_000)
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ limit: 5, window: '10s' })] })
    const d = await limiter.consume('k', { cost: 3 })
    expect((await limiter.refund('k', { cost: 10, at: d.at })).remaining).toBe(5)
    const e = await limiter.consume('k', { cost: 5 })
    c.advance(10_000)
    await limiter.consume('k', { cost: 4 })
    // The refund is for the previous window: the current one is untouched.
    expect((await limiter.refund('k', { cost: 5, at: e.at })).remaining).toBe(1)
    expect((await limiter.peek('k')).remaining).toBe(1)
  })

  it('a clock that runs backwards never reopens an earlier window', async () => {
    const c = clock(20_000)
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ limit: 1, window: '10s' })] })
    await limiter.consume('k')
    c.advance(-15_000)
    expect((await limiter.consume('k')).allowed).toBe(false)
  })
})
