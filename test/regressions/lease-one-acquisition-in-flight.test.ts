// A leased policy never has two acquisitions in flight for one subject: requests that find the
// pool short while one is on its way wait for it (two at once would hold twice the lease, past
// what the bound in docs/algorithms.md counts on). And the fleet-wide `remaining` estimate never
// shows more than the capacity (held units already refilled in the store were counted twice).

import { describe, expect, it } from 'vitest'
import { createLimiter, MemoryStore, type Store, type StoreResult, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

describe('lease: one acquisition in flight per subject', () => {
  it('concurrent requests on an empty pool share the store calls, one at a time', async () => {
    const memory = new MemoryStore()
    let inFlight = 0
    let most = 0
    const store: Store = {
      consume(r) {
        inFlight++
        most = Math.max(most, inFlight)
        return new Promise<StoreResult>((resolve) =>
          setImmediate(() => {
            inFlight--
            resolve(memory.consume(r) as StoreResult)
          }),
        )
      },
      peek: (r) => memory.peek(r),
      refund: (r) => memory.refund(r),
      reset: (r) => memory.reset(r),
      close: () => undefined,
    }
    const c = clock(Date.UTC(2026, 0, 1))
    const limiter = createLimiter({
      store,
      now: c.now,
      policies: [tokenBucket({ limit: 1_000, window: '1s', lease: { size: 10, ttlMs: '1s' } })],
    })
    for (let round = 0; round < 5; round++) {
      const decisions = await Promise.all(Array.from({ length: 40 }, () => limiter.consume('k')))
      expect(decisions.every((d) => d.allowed)).toBe(true)
      for (const d of decisions) expect(d.remaining).toBeLessThanOrEqual(1_000)
      c.advance(10)
    }
    expect(most).toBe(1)
  })
})
