// `Store.releaseLease` is documented as the synchronous fast path of a release beside
// `consumeInto`: a store without `consumeInto` is never asked, and gives its leases back through
// `refund` (which may answer with a promise). Once decisions an asynchronous store admitted kept
// their lease themselves, their release went to `releaseLease` whenever the store had one.

import { expect, it } from 'vitest'
import { concurrency, createLimiter, MemoryStore, type Store, type StoreRefundRequest, type StoreRequest } from '../../src/index.js'

it('a store with releaseLease but no consumeInto has its leases given back with refund', async () => {
  const memory = new MemoryStore()
  const calls: string[] = []
  const store: Store = {
    consume: async (request: StoreRequest) => memory.consume(request),
    peek: async (request: StoreRequest) => memory.peek(request),
    refund: async (request: StoreRefundRequest) => {
      calls.push('refund')
      return memory.refund(request)
    },
    reset: async (request: StoreRequest) => memory.reset(request),
    close: () => memory.close(),
    releaseLease: () => {
      calls.push('releaseLease')
      return Promise.reject(new Error('not a synchronous release'))
    },
  } as unknown as Store
  const limiter = createLimiter({ store, policies: [concurrency({ name: 'one', limit: 1, leaseMs: '1m' })] })
  const first = await limiter.consume('k')
  expect((await limiter.consume('k')).allowed).toBe(false)
  await limiter.release(first)
  expect(calls).toEqual(['refund'])
  expect((await limiter.consume('k')).allowed).toBe(true)
})
