import { describe, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

const T0 = 1_700_000_000_000

describe('tokenBucket', () => {
  it('admits the whole burst at once, then refills limit per window', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ limit: 100, window: '1m', burst: 150 })] })
    for (let i = 0; i < 150; i++) expect((await limiter.consume('k')).allowed).toBe(true)
    const denied = await limiter.consume('k')
    expect(denied.allowed).toBe(false)
    expect(denied.reason).toBe('limited')
    expect(denied.remaining).toBe(0)
    // One token every 600 ms.
    expect(denied.retryAfterMs).toBe(600)
    c.advance(599)
    expect((await limiter.consume('k')).allowed).toBe(false)
    c.advance(1)
    const d = await limiter.consume('k')
    expect(d.allowed).toBe(true)
    expect(d.remaining).toBe(0)
    // After a full minute of quiet: 100 more tokens (not the whole burst).
    c.advance(60_000)
    expect((await limiter.peek('k')).remaining).toBe(100)
  })

  it('first request on a fresh key sees burst - cost remaining and resetAt = when full again', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ limit: 10, window: '1s' })] })
    const d = await limiter.consume('k', { cost: 3 })
    expect(d).toMatchObject({ allowed: true, remaining: 7, limit: 10, resetAt: T0 + 300, retryAfterMs: 0 })
  })

  it('is exact for rates that do not divide the window (7 per minute)', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ limit: 7, window: '1m' })] })
    for (let i = 0; i < 7; i++) expect((await limiter.consume('k')).allowed).toBe(true)
    const denied = await limiter.consume('k')
    // 60000/7 = 8571.43 ms per token: the first one is back at 8572 ms (rounded up).
    expect(denied.retryAfterMs).toBe(8572)
    c.advance(8571)
    expect((await limiter.consume('k')).allowed).toBe(false)
    c.advance(1)
    expect((await limiter.consume('k')).allowed).toBe(true)
    // Exactly 7 tokens after exactly one minute from empty.
    await limiter.reset('k')
    for (let i = 0; i < 7; i++) await limiter.consume('k')
    c.advance(60_000)
    expect((await limiter.peek('k')).remaining).toBe(7)
  })

  it('charges cost > 1 and denies a cost above the burst with a distinct reason', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ limit: 10, window: '10s', burst: 20 })] })
    expect((await limiter.consume('k', { cost: 15 })).remaining).toBe(5)
    const tooBig = await limiter.consume('k', { cost: 21 })
    expect(tooBig).toMatchObject({ allowed: false, reason: 'exceeds-capacity', retryAfterMs: Number.POSITIVE_INFINITY })
    expect(tooBig.remaining).toBe(5)
    const wait = await limiter.consume('k', { cost: 8 })
    expect(wait).toMatchObject({ allowed: false, reason: 'limited', retryAfterMs: 3000 })
  })

  it('peek charges nothing; refund never exceeds capacity; reset forgets', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ limit: 5, window: '5s' })] })
    const first = await limiter.consume('k', { cost: 4 })
    expect((await limiter.peek('k')).remaining).toBe(1)
    expect((await limiter.peek('k')).remaining).toBe(1)
    expect((await limiter.peek('k', { cost: 2 })).allowed).toBe(false)
    expect((await limiter.refund('k', { cost: 2, at: first.at })).remaining).toBe(3)
    expect((await limiter.refund('k', { cost: 100, at: first.at })).remaining).toBe(5)
    expect((await limiter.peek('k')).remaining).toBe(5)
    await limiter.consume('k', { cost: 5 })
    await limiter.reset('k')
    expect((await limiter.peek('k')).remaining).toBe(5)
  })

  it('limit 0 denies everything, forever', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ limit: 0, window: '1m' })] })
    const d = await limiter.consume('k')
    expect(d).toMatchObject({ allowed: false, reason: 'exceeds-capacity', remaining: 0, retryAfterMs: Number.POSITIVE_INFINITY })
    c.advance(3_600_000)
    expect((await limiter.consume('k')).allowed).toBe(false)
    expect((await limiter.consume('k', { cost: 0 })).allowed).toBe(true)
  })

  it('a clock that runs backwards never mints tokens', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ limit: 2, window: '1s' })] })
    await limiter.consume('k')
    await limiter.consume('k')
    c.advance(-10_000)
    expect((await limiter.consume('k')).allowed).toBe(false)
  })

  it('keeps sub-tick rates strict when the resolution is capped', async () => {
    const c = clock(T0)
    // 7919 per minute needs 1/7919 ms ticks; capped at 1/1024 ms, rounded up (strict).
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ limit: 7919, window: '1m' })] })
    expect((await limiter.consume('k', { cost: 7919 })).allowed).toBe(true)
    c.advance(60_000)
    const d = await limiter.peek('k')
    expect(d.remaining).toBeGreaterThanOrEqual(7917)
    expect(d.remaining).toBeLessThanOrEqual(7919)
  })
})
