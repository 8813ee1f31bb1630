// A store with `queueRelease` but no deadline of its own (no `timeoutMs`) whose releases never
// settle must not hang `limiter.release()`: the limiter gives every store call of such a store its
// own deadline, and a queued release has none, so its releases go through `refund`, bounded.

import { describe, expect, it } from 'vitest'
import { concurrency, createLimiter, MemoryStore, type Store, type StoreError, type StoreErrorEvent } from '../../src/index.js'

const never = <T>(): Promise<T> => new Promise<T>(() => {})

describe('limiter.release() on a store that queues releases without a deadline of its own', () => {
  it('settles by the limiter’s deadline as a store-error, instead of hanging', async () => {
    const inner = new MemoryStore()
    let queued = 0
    const store: Store = {
      consume: async (request) => inner.consume(request),
      peek: async (request) => inner.peek(request),
      refund: never,
      reset: never,
      close: () => inner.close(),
      queueRelease: () => {
        queued++
        return never()
      },
    }
    const limiter = createLimiter({ store, policies: [concurrency({ name: 'cc', limit: 2, leaseMs: '1m' })], timeoutMs: 20 })
    const errors: StoreErrorEvent[] = []
    limiter.on('store-error', (event) => errors.push(event))
    limiter.on('warn', () => {})
    const d = await limiter.consume('k')
    const outcome = await Promise.race([
      limiter.release(d).then(() => 'settled'),
      new Promise((resolve) => setTimeout(() => resolve('hung'), 1000)),
    ])
    expect(outcome).toBe('settled')
    expect(queued).toBe(0)
    expect(errors.map((e) => [e.key, (e.error as StoreError).code])).toEqual([['k', 'ERR_RK_STORE_TIMEOUT']])
  })
})
