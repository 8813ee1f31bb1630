// `refund(key, { decision })` takes the decision's cost and time as defaults, and accepted any
// `cost` or `at` beside it: a decision that charged 1 unit, refunded with `cost: 5`, gave back 5
// (a full window or bucket again after 5 of 5 were spent), and one refunded with `at` in a later
// window credited that window, which it never charged. A smaller cost (part of the charge) is
// still given back; a larger one, or another `at`, is refused naming the option.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, type Policy, slidingWindow, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 0, 1)

const policies: Policy[] = [
  fixedWindow({ name: 'fw', limit: 5, window: '1h' }),
  slidingWindow({ name: 'sw', limit: 5, window: '1h' }),
  tokenBucket({ name: 'tb', limit: 5, window: '1h' }),
]

describe('refund(key, { decision, cost, at })', () => {
  for (const policy of policies) {
    it(`${policy.kind}: a cost above the decision's is refused, and nothing is given back`, async () => {
      const c = clock(T0)
      const limiter = createLimiter({ now: c.now, policies: [policy] })
      const d = await limiter.consume('k')
      for (let i = 0; i < 4; i++) await limiter.consume('k')
      await expect(limiter.refund('k', { decision: d, cost: 5 })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'cost' })
      expect((await limiter.peek('k')).remaining).toBe(0)
      // The decision was not used up by the refused call: its own unit still comes back, once.
      expect((await limiter.refund('k', { decision: d, cost: 1 })).remaining).toBe(1)
      expect((await limiter.refund('k', { decision: d })).remaining).toBe(1)
    })

    it(`${policy.kind}: a cost below the decision's gives that part back`, async () => {
      const c = clock(T0)
      const limiter = createLimiter({ now: c.now, policies: [policy] })
      const d = await limiter.consume('k', { cost: 4 })
      expect((await limiter.refund('k', { decision: d, cost: 3 })).remaining).toBe(4)
    })
  }

  it("an `at` other than the decision's is refused: a later window gets nothing it was not charged", async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ name: 'fw', limit: 2, window: '1h' })] })
    const d = await limiter.consume('k')
    c.advance(3_600_000)
    await limiter.consume('k')
    await limiter.consume('k')
    await expect(limiter.refund('k', { decision: d, at: c.now() })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'at' })
    expect((await limiter.peek('k')).remaining).toBe(0)
    expect((await limiter.refund('k', { decision: d, at: d.at })).remaining).toBe(0)
  })

  it('with per-call policies and layers too', async () => {
    const c = clock(T0)
    const team = [{ name: 'team', key: 'team:a', policies: [fixedWindow({ name: 'team', limit: 2, window: '1h' })] }]
    const own = [fixedWindow({ name: 'own', limit: 5, window: '1h' })]
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ name: 'default', limit: 5, window: '1h' })] })
    const d = await limiter.consume('k', { policies: own, layers: team })
    await limiter.consume('k2', { policies: own, layers: team })
    await expect(limiter.refund('k', { decision: d, cost: 2 })).rejects.toMatchObject({ option: 'cost' })
    expect((await limiter.peek('k3', { policies: own, layers: team })).remaining).toBe(0)
  })
})
