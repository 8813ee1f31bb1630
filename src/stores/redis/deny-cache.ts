import { LRUCache } from 'lru-cache'
import type { StoreResult } from '../../limiter/store.js'

interface Entry {
  /** Local time (ms: the caller's clock, else the monotonic clock) before which the request is certainly denied. */
  readonly until: number
  /**
   * The cost that was denied. Only that cost is answered: a larger one is denied at least as long,
   * but its figures differ (a longer wait, other checks it would violate), and only Redis knows them.
   */
  readonly cost: number
  /** Local time (ms, as `until`) the denied call was made. */
  readonly sentAt: number
  /** The store's time of the denial. */
  readonly now: number
  readonly results: readonly number[]
  /** The reason of the block by hand that denied, if any. */
  readonly reason: string | undefined
  /** Redis keys of the request, to clear the entry when one of them is reset or refunded. */
  readonly keys: readonly string[]
}

/**
 * Denials remembered locally: a request denied until X (local clock) is denied again, without
 * Redis, until X, unless a reset or refund through this store touched one of its keys. Bounded
 * by `maxEntries` (least recently used entries go first).
 */
export class DenyCache {
  #entries: LRUCache<string, Entry>
  /** Redis key → names of the entries that include it. */
  #byKey = new Map<string, Set<string>>()

  constructor(maxEntries: number) {
    this.#entries = new LRUCache<string, Entry>({
      max: maxEntries,
      dispose: (entry, signature) => {
        this.#unindex(entry.keys, signature)
      },
    })
  }

  get size(): number {
    return this.#entries.size
  }

  /** The cached denial for this request, adjusted to `localNow`, or undefined. */
  get(signature: string, cost: number, localNow: number, storeNow: number | undefined): StoreResult | undefined {
    const entry = this.#entries.get(signature)
    if (entry === undefined) return undefined
    if (localNow >= entry.until) {
      this.#entries.delete(signature)
      return undefined
    }
    if (cost !== entry.cost) return undefined
    const elapsed = localNow - entry.sentAt
    const results = entry.results.slice()
    for (let i = 2; i < results.length; i += 3) {
      if (results[i] > 0) results[i] = Math.max(1, results[i] - elapsed)
    }
    const now = storeNow ?? entry.now + elapsed
    return entry.reason === undefined ? { allowed: false, now, results } : { allowed: false, now, results, reason: entry.reason }
  }

  /** Remembers a denial; `retryAfterMs` per check are in `results`. Never-admissible denials are not cached. */
  set(signature: string, keys: readonly string[], specs: readonly string[], cost: number, sentAt: number, result: StoreResult): void {
    const results = result.results
    let wait = 0
    for (let i = 2; i < results.length; i += 3) {
      const spec = specs[(i - 2) / 3]
      const retry = results[i]
      // A penalty box ("6" spec) that admits counts every denial that reaches Redis: none is cached.
      if (retry === 0 && (spec.charCodeAt(0) === 54 || spec.startsWith('s6'))) return
      // A shadow check ("s" spec) never denies: its wait is not the request's.
      if (spec.charCodeAt(0) === 115) continue
      if (retry < 0) return
      if (retry > wait) wait = retry
    }
    if (wait <= 0) return
    // Set first: replacing an entry disposes (and unindexes) the old one.
    this.#entries.set(signature, { until: sentAt + wait, cost, sentAt, now: result.now, results, reason: result.reason, keys })
    // Indexed by each key (an entry's name holds its specs too), so that a refund, charge or reset of any of them forgets it.
    for (const key of keys) {
      let set = this.#byKey.get(key)
      if (set === undefined) {
        set = new Set()
        this.#byKey.set(key, set)
      }
      set.add(signature)
    }
  }

  /** Forgets every entry that involves one of `keys`. */
  clear(keys: readonly string[]): void {
    if (this.#entries.size === 0) return
    for (const key of keys) {
      const set = this.#byKey.get(key)
      if (set !== undefined) for (const signature of [...set]) this.#entries.delete(signature)
    }
  }

  clearAll(): void {
    this.#entries.clear()
    this.#byKey.clear()
  }

  #unindex(keys: readonly string[], signature: string): void {
    for (const key of keys) {
      const set = this.#byKey.get(key)
      if (set === undefined) continue
      set.delete(signature)
      if (set.size === 0) this.#byKey.delete(key)
    }
  }
}

/** The cache key of a request: its Redis keys, length-prefixed so no two requests collide. */
export function signatureOf(keys: readonly string[]): string {
  if (keys.length === 1) return keys[0]
  // '#' cannot start a key (prefixes can't hold it), so a signature never equals a single key.
  let signature = '#'
  for (const key of keys) signature += `${key.length}:${key}`
  return signature
}

/** The deny cache's entry name for a request: its keys' signature and the numbers each is held to. */
export function denySignatureOf(keysSignature: string, specs: readonly string[]): string {
  let signature = keysSignature
  for (const spec of specs) signature += `|${spec}`
  return signature
}
