// Stores for the lease tests: the memory store behind a counter, answering at once or on the
// next turn of the event loop (as a networked store would), so acquisitions interleave with requests.
import type { Store, StoreRefundRequest, StoreRequest, StoreResult } from '../../src/index.js'
import { MemoryStore } from '../../src/index.js'

export interface CountingStore extends Store {
  readonly ops: { consume: number; refund: number; peek: number }
  /** Answers held for the next turn of the event loop. */
  flush(): Promise<void>
}

/** A `MemoryStore` whose calls are counted; `async: true` answers each call with a promise settled a turn later. */
export function countingStore(opts: { async: boolean; inner?: Store }): CountingStore {
  const inner = opts.inner ?? new MemoryStore()
  const ops = { consume: 0, refund: 0, peek: 0 }
  const later = <T>(f: () => T): T | Promise<T> =>
    opts.async ? new Promise<T>((resolve, reject) => setImmediate(() => Promise.resolve().then(f).then(resolve, reject))) : f()
  return {
    ops,
    consume(r: StoreRequest) {
      ops.consume++
      return later(() => inner.consume(r) as StoreResult)
    },
    peek(r: StoreRequest) {
      ops.peek++
      return later(() => inner.peek(r) as StoreResult)
    },
    refund(r: StoreRefundRequest) {
      ops.refund++
      return later(() => inner.refund(r) as StoreResult)
    },
    charge(r: StoreRequest) {
      return later(() => (inner.charge as NonNullable<Store['charge']>).call(inner, r) as StoreResult)
    },
    reset: (r) => inner.reset(r),
    close: () => undefined,
    flush: () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve))),
  }
}
