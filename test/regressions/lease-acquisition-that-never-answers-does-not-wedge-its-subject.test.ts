// A leased policy (`lease: { size, ttlMs }`) acquires its leases in the background, one
// acquisition in flight per subject, with no deadline of its own. On a store without a deadline
// of its own, one acquisition that never answered (a dead connection) held that slot forever:
// every later request of the subject waited on it and failed by the limiter's deadline, long
// after the store answered again (denied for good under onStoreError 'deny', unlimited for good
// under 'allow'), and close() never resolved. The lease store's calls now have the limiter's
// deadline too.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, type Store, tokenBucket } from '../../src/index.js'

const T0 = 1_700_000_000_000

/** A store over memory whose calls answer with promises, and never while `hanging` is set. */
function stalling() {
  const mem = new MemoryStore()
  const state = { hanging: true }
  const answer = <T>(value: () => T): Promise<T> => (state.hanging ? new Promise<T>(() => {}) : Promise.resolve(value()))
  const store: Store = {
    consume: (r) => answer(() => mem.consume(r)),
    peek: (r) => answer(() => mem.peek(r)),
    refund: (r) => answer(() => mem.refund(r)),
    charge: (r) => answer(() => mem.charge(r)),
    reset: (r) => mem.reset(r),
    close() {},
  }
  return { store, state }
}

describe('a lease acquisition that never answers', () => {
  for (const policy of [
    tokenBucket({ name: 'tb', limit: 100, window: '1m', lease: { size: 10, ttlMs: '10s' } }),
    fixedWindow({ name: 'fw', limit: 100, window: '1m', lease: { size: 10, ttlMs: '10s' } }),
  ]) {
    it(`${policy.kind}: the subject is decided again once the store answers`, async () => {
      const { store, state } = stalling()
      const limiter = createLimiter({ store, now: () => T0, timeoutMs: 5, onStoreError: 'deny', policies: [policy] })
      limiter.on('store-error', () => {})
      limiter.on('warn', () => {})
      expect((await limiter.consume('k')).reason).toBe('store-error')
      state.hanging = false
      const reasons: string[] = []
      for (let i = 0; i < 20; i++) reasons.push((await limiter.consume('k')).reason)
      expect(reasons.at(-1)).toBe('ok')
    })
  }

  it('close() resolves although the acquisition never will', async () => {
    const { store } = stalling()
    const policy = tokenBucket({ name: 'tb', limit: 100, window: '1m', lease: { size: 10, ttlMs: '10s' } })
    const limiter = createLimiter({ store, now: () => T0, timeoutMs: 5, onStoreError: 'deny', policies: [policy] })
    limiter.on('store-error', () => {})
    limiter.on('warn', () => {})
    await limiter.consume('k')
    await limiter.close()
  }, 5_000)
})
