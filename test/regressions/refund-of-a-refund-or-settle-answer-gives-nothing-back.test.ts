// refund() and settle() resolve to a decision: admitted, reason 'ok', carrying a cost, like a
// charged one. Given back again with refund(key, { decision }), that answer was taken for a
// charge: a refund's answer refunded its cost a second time (and that answer a third, without
// end), and a settle's answer gave back the units the settle had just charged. Only a consume's
// decision charged anything: the answers of refund, settle, block and unblock give nothing back.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'

const T0 = Date.UTC(2026, 0, 1)

describe('refund of what refund or settle answered', () => {
  for (const policy of [fixedWindow({ name: 'fw', limit: 3, window: '1h' }), tokenBucket({ name: 'tb', limit: 3, window: '1h' })]) {
    it(`${policy.kind}: a refund's answer gives nothing back, however often it is refunded`, async () => {
      const limiter = createLimiter({ now: () => T0, policies: [policy] })
      const d = await limiter.consume('k')
      await limiter.consume('k')
      await limiter.consume('k')
      let answer = await limiter.refund('k', { decision: d })
      expect(answer.remaining).toBe(1)
      for (let i = 0; i < 3; i++) answer = await limiter.refund('k', { decision: answer })
      expect((await limiter.peek('k')).remaining).toBe(1)
    })

    it(`${policy.kind}: a settle's answer gives nothing back`, async () => {
      const limiter = createLimiter({ now: () => T0, policies: [policy] })
      const d = await limiter.consume('k')
      const charged = await limiter.settle(d, 3)
      expect(charged.remaining).toBe(0)
      await limiter.refund('k', { decision: charged })
      expect((await limiter.peek('k')).remaining).toBe(0)
      const e = await limiter.consume('other', { cost: 2 })
      const back = await limiter.settle(e, 1)
      expect(back.remaining).toBe(2)
      await limiter.refund('other', { decision: back })
      expect((await limiter.peek('other')).remaining).toBe(2)
      expect((await limiter.settle(back, 0)).remaining).toBe(2)
    })
  }
})
