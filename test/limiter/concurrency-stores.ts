// Stores the concurrency and settle tests run on, each with the test's clock: the memory store and
// casStore over a versioned in-process map whose entries expire by that clock (as etcd's or
// DynamoDB's TTLs would), so lease expiry is never helped by a TTL read from the wall clock.

import { type CasBackend, casStore, MemoryStore, type Store, type StoreRefundRequest, type StoreRequest } from '../../src/index.js'

/** A versioned key-value map with TTLs on an injected clock: a compare-and-set backend. */
export function versionedMap(now: () => number): CasBackend & { readonly data: Map<string, CasBackend.Versioned & { expiresAt: number }> } {
  const data = new Map<string, CasBackend.Versioned & { expiresAt: number }>()
  let version = 0
  const live = (key: string) => {
    const entry = data.get(key)
    if (entry !== undefined && entry.expiresAt <= now()) {
      data.delete(key)
      return undefined
    }
    return entry
  }
  return {
    data,
    get: async (keys) => keys.map(live),
    commit: async (writes) => {
      for (const w of writes) if (live(w.key)?.version !== w.expected) return false
      for (const w of writes) {
        if (w.value === undefined) data.delete(w.key)
        else data.set(w.key, { value: w.value, version: ++version, expiresAt: now() + w.ttlMs })
      }
      return true
    },
    delete: async (keys) => {
      for (const k of keys) data.delete(k)
    },
  }
}

/** The stores every concurrency and settle test runs on: name → a new store on the clock `now`. */
export const STORES: readonly (readonly [string, (now: () => number) => Store])[] = [
  ['MemoryStore', () => new MemoryStore()],
  ['casStore', (now) => casStore({ backend: versionedMap(now) })],
]

/** A store that fails every call while `down` is set (an outage), else forwards to `inner`. */
export function flakyStore(inner: Store): Store & { down: boolean } {
  const flaky = {
    down: false,
    consume(r: StoreRequest) {
      up()
      return inner.consume(r)
    },
    peek(r: StoreRequest) {
      up()
      return inner.peek(r)
    },
    refund(r: StoreRefundRequest) {
      up()
      return inner.refund(r)
    },
    charge(r: StoreRequest) {
      up()
      if (inner.charge === undefined) throw new Error('the inner store has no charge()')
      return inner.charge(r)
    },
    reset(r: StoreRequest) {
      up()
      return inner.reset(r)
    },
    close: () => inner.close(),
  }
  function up(): void {
    if (flaky.down) throw new Error('store unreachable')
  }
  return flaky
}
