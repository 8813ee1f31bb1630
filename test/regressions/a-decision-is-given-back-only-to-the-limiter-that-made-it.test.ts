// limiter.refund(key, { decision }) and limiter.settle(decision, actual) trusted any decision:
// given one made by another limiter (say, the same policies on another store, or an app with one
// limiter per route class), they credited a bucket the decision had never been charged to, so a
// client got requests it never paid for, or a reservation was settled twice. A limiter now gives
// back only what it charged, and refuses the rest with an error naming the option.

import { describe, expect, it } from 'vitest'
import { createLimiter, MemoryStore, RateKeeperError, tokenBucket } from '../../src/index.js'

const now = () => Date.UTC(2026, 0, 1)

describe('a decision of another limiter', () => {
  // One array of policies shared by both limiters, as apps often do.
  const policies = [tokenBucket({ name: 'tokens', limit: 10, window: '1h' })]
  const setup = () => {
    const a = createLimiter({ now, policies, store: new MemoryStore() })
    const b = createLimiter({ now, policies, store: new MemoryStore() })
    return { a, b }
  }

  it('is refused by refund, and credits nothing', async () => {
    const { a, b } = setup()
    await b.consume('k', { cost: 4 })
    const fromA = await a.consume('k', { cost: 4 })
    await expect(async () => b.refund('k', { decision: fromA })).rejects.toThrow(RateKeeperError)
    await expect(async () => b.refund('k', { decision: fromA })).rejects.toThrow(/decision.*this limiter returned/)
    expect((await b.peek('k')).remaining).toBe(6)
    // The limiter that made it still takes it back.
    expect((await a.refund('k', { decision: fromA })).remaining).toBe(10)
  })

  it('is refused by settle, and charges or credits nothing', async () => {
    const { a, b } = setup()
    await b.consume('k', { cost: 4 })
    const fromA = await a.consume('k', { cost: 4 })
    await expect(async () => b.settle(fromA, 0)).rejects.toThrow(/decision.*this limiter returned/)
    await expect(async () => b.settle(fromA, 9)).rejects.toThrow(/decision.*this limiter returned/)
    expect((await b.peek('k')).remaining).toBe(6)
    expect((await a.settle(fromA, 1)).remaining).toBe(9)
  })

  it('is refused when it only looks like a decision', async () => {
    const { b } = setup()
    const forged = { allowed: true, reason: 'ok', key: 'k', cost: 4, at: now() } as never
    await expect(async () => b.refund('k', { decision: forged })).rejects.toThrow(/decision/)
    await expect(async () => b.settle(forged, 0)).rejects.toThrow(/decision/)
    expect((await b.peek('k')).remaining).toBe(10)
  })

  it('with per-call policies, is still given back by the limiter that made it', async () => {
    const { a, b } = setup()
    const own = [tokenBucket({ name: 'burst', limit: 5, window: '1m' })]
    const fromA = await a.consume('k', { cost: 2, policies: own })
    await expect(async () => b.refund('k', { decision: fromA })).rejects.toThrow(/this limiter returned/)
    expect((await a.refund('k', { decision: fromA })).remaining).toBe(5)
  })
})
