// A peek's decision is admitted with reason 'ok' and carries the cost it asked about, like a
// charged decision: limiter.settle(peekDecision, actual) took it for a reservation and charged the
// difference, though the peek had charged nothing. A settle only ever corrects what a consume
// charged.

import { describe, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'

describe('settle of a peek', () => {
  it('charges nothing, whatever the actual cost', async () => {
    const limiter = createLimiter({
      now: () => Date.UTC(2026, 0, 1),
      policies: [tokenBucket({ name: 'tokens', limit: 100, window: '1h' })],
    })
    const look = await limiter.peek('k', { cost: 10 })
    expect(look).toMatchObject({ allowed: true, reason: 'ok', cost: 10 })
    expect((await limiter.settle(look, 50)).remaining).toBe(100)
    expect((await limiter.settle(look, 0)).remaining).toBe(100)
    expect((await limiter.peek('k')).remaining).toBe(100)
  })
})
