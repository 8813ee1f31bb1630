// A peek's decision is admitted with reason 'ok' and carries the cost it asked about, like a
// charged decision. settle() knew a peek had charged nothing; refund(key, { decision }) did not,
// and gave the peek's cost back: a client at 0 of 2 peeked, refunded the peek, and was admitted
// again (a unit it never paid for, as often as it liked). A refund of a peek now gives nothing
// and reports the current state, as for any decision that charged nothing.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, slidingWindow, tokenBucket } from '../../src/index.js'

describe('refund of a peek', () => {
  for (const policy of [
    fixedWindow({ name: 'fw', limit: 2, window: '1h' }),
    slidingWindow({ name: 'sw', limit: 2, window: '1h' }),
    tokenBucket({ name: 'tb', limit: 2, window: '1h' }),
  ]) {
    it(`${policy.kind}: gives nothing back`, async () => {
      const limiter = createLimiter({ now: () => Date.UTC(2026, 0, 1), policies: [policy] })
      await limiter.consume('k')
      const look = await limiter.peek('k', { cost: 1 })
      expect(look).toMatchObject({ allowed: true, reason: 'ok', cost: 1 })
      await limiter.consume('k')
      expect((await limiter.refund('k', { decision: look })).remaining).toBe(0)
      expect((await limiter.consume('k')).allowed).toBe(false)
    })
  }

  it('with per-call policies too', async () => {
    const own = [fixedWindow({ name: 'own', limit: 1, window: '1h' })]
    const limiter = createLimiter({ now: () => Date.UTC(2026, 0, 1), policies: [fixedWindow({ name: 'default', limit: 5, window: '1h' })] })
    const look = await limiter.peek('k', { policies: own })
    await limiter.consume('k', { policies: own })
    await limiter.refund('k', { decision: look })
    expect((await limiter.consume('k', { policies: own })).allowed).toBe(false)
  })
})
