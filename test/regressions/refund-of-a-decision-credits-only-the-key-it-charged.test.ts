// `refund(key, { decision })` credited `key`, whatever key the decision charged: a decision of
// client A, given back as `refund('B', { decision })`, handed B a unit it never paid for (B at
// 0 of 2 got a third request) while A's charge stayed. A key other than the decision's is now
// refused, naming `key`; the decision's own key is refunded as before.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

describe('refund(key, { decision }) with another key', () => {
  for (const policy of [fixedWindow({ name: 'fw', limit: 2, window: '1h' }), tokenBucket({ name: 'tb', limit: 2, window: '1h' })]) {
    it(`${policy.kind}: is refused, and credits nobody`, async () => {
      const c = clock(Date.UTC(2026, 0, 1))
      const limiter = createLimiter({ now: c.now, policies: [policy] })
      const a = await limiter.consume('A')
      await limiter.consume('B')
      await limiter.consume('B')
      await expect(limiter.refund('B', { decision: a })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'key' })
      expect((await limiter.consume('B')).allowed).toBe(false)
      expect((await limiter.refund('A', { decision: a })).remaining).toBe(2)
    })
  }

  it('with per-call policies too', async () => {
    const own = [fixedWindow({ name: 'own', limit: 1, window: '1h' })]
    const limiter = createLimiter({ now: () => Date.UTC(2026, 0, 1), policies: [fixedWindow({ name: 'default', limit: 5, window: '1h' })] })
    const a = await limiter.consume('A', { policies: own })
    await expect(limiter.refund('B', { decision: a })).rejects.toMatchObject({ option: 'key' })
    expect((await limiter.peek('A', { policies: own })).remaining).toBe(0)
  })
})
