import { channel } from 'node:diagnostics_channel'
import { LRUCache } from 'lru-cache'
import { LOOK } from '../../limiter/algorithms/concurrency.js'
import type { Policy, PolicyState, StepOutcome } from '../../limiter/policy.js'
import { newOutcome } from '../../limiter/policy.js'
import type { StoreEvents } from '../../limiter/store.js'
import { policySlot } from '../policy-slot.js'
import { EntryKeys } from './entry-keys.js'
import { LimitedHeap } from './limited-heap.js'

/**
 * What the LRU holds per entry: a window state (an array), or — for a token bucket, whose state
 * is one number — the index of its slot in a Float64Array. The slot is updated in place, so a
 * token-bucket decision needs one LRU lookup and no allocation, and an entry costs a small
 * integer plus 8 bytes instead of a boxed number.
 */
export type Value = number | number[]

/** lru-cache reports every `get` here when someone subscribes: skipping a get must not hide one. */
const lruMetrics = channel('lru-cache:metrics')
/**
 * Matches no entry key (subjects never start with U+0001 and prefixed keys are longer); a string,
 * so that comparing with it stays a string comparison.
 */
const NO_KEY = '\u0001'
/** Limited entries whose block has ended moved back to the LRU per room made: bounds the work of one call. */
const DEMOTIONS_PER_CALL = 4

/** An `evicted` event waiting to be emitted (after the call's own bookkeeping is done). */
interface PendingEviction {
  key: string
  blockedUntil: number
}

/**
 * The memory store's entries, in two segments: those not limited in an LRU (lru-cache), the
 * limited ones in a {@link LimitedHeap}; and the bookkeeping that keeps `maxKeys` (making room,
 * moving entries between the segments, the `evicted` events). Decisions are the store's.
 */
/** A refund or a charge of one check: writes the check's new state into `out`, admitting always. */
export type Adjustment = (policy: Policy, state: PolicyState | undefined, out: StepOutcome) => void

export class Entries {
  readonly keys = new EntryKeys()
  readonly heap = new LimitedHeap()
  /** Token-bucket states, by the slot the LRU holds (see {@link Value}). */
  pool = new Float64Array(1024)
  readonly #maxKeys: number
  /** Entries that are not limited. Never fuller than `maxKeys` minus the limited ones, so it never evicts on its own. */
  readonly #cache: LRUCache<string, Value>
  #poolTop = 0
  #freeSlots: number[] = []
  /** Most limited entries kept while entries that are not limited need the room. */
  readonly #limitedShare: number
  /** Entries of the request being written (a decision on several policies): never chosen to make room. */
  #pinned: readonly string[] = []
  #pinnedCount = 0
  readonly #isPinned = (memKey: string): boolean => {
    for (let i = 0; i < this.#pinnedCount; i++) if (this.#pinned[i] === memKey) return true
    return false
  }
  #pending: PendingEviction[] = []
  #warned = false
  #steps = 0
  /** Policy per slot, to judge whether an entry is fresh in `prune`. */
  readonly #policyOfSlot = new Map<number, Policy>()
  #events: StoreEvents | undefined
  /** Reused option bag for lru-cache calls, so they allocate nothing. */
  readonly #lruOptions = {}
  /** Where a spent state is asked when it could admit again. */
  readonly #spent = newOutcome()
  readonly #probe = newOutcome()
  /** Latest request time seen: blocks are compared in the callers' clock, which tests inject. */
  #lastNow = 0
  /**
   * The most recently used entry, when known: the entry key and LRU value of the last
   * single-policy decision. Deciding that key again skips `cache.get`, which would only find the
   * entry already at the most recently used end. Every other use of the cache forgets it.
   */
  #mruKey = NO_KEY
  #mruValue: Value = 0
  /**
   * Dormant entries held: concurrency entries whose last lease was given back. Such an entry stays
   * in the LRU, emptied in place (its array of leases, length 0), instead of being deleted and
   * made again by the subject's next request; its state reads as fresh (no lease), it takes a
   * slot of `maxKeys` and is evicted like any entry that is not limited, and `size` leaves it out.
   */
  #dormant = 0

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys
    this.#limitedShare = Math.floor(maxKeys / 2)
    this.#cache = new LRUCache<string, Value>({
      max: maxKeys,
      // A token-bucket entry going away gives its slot back (so the memo must not hand it out).
      dispose: (value) => {
        this.forget()
        if (typeof value === 'number') this.#freeSlots.push(value)
        else if (value.length === 0) this.#dormant--
      },
    })
  }

  /** Number of entries held now, dormant ones left out (their state is fresh: no entry as far as anyone can tell). */
  get size(): number {
    return this.#cache.size + this.heap.size - this.#dormant
  }

  /** Entries held, dormant ones included: what `maxKeys` bounds. */
  get held(): number {
    return this.#cache.size + this.heap.size
  }

  /** Entries visited or moved to make room and to keep limited entries in order, since construction. */
  get steps(): number {
    return this.#steps + this.heap.steps
  }

  attach(events: StoreEvents): void {
    this.#events = events
  }

  /** A request made at `now` was seen. */
  seen(now: number): void {
    if (now > this.#lastNow) this.#lastNow = now
  }

  /** The LRU value of an entry, marking it used (the memo spares the lookup of the entry used last). */
  lookup(memKey: string): Value | undefined {
    return memKey === this.#mruKey && !lruMetrics.hasSubscribers ? this.#mruValue : this.#cache.get(memKey, this.#lruOptions)
  }

  /** The LRU value of an entry, marking it used, without the memo. */
  get(memKey: string): Value | undefined {
    return this.#cache.get(memKey, this.#lruOptions)
  }

  /** The LRU value of an entry, leaving its place in the LRU as it is. */
  peek(memKey: string): Value | undefined {
    return this.#cache.peek(memKey, this.#lruOptions)
  }

  /** The state behind an LRU value. */
  stateOf(value: Value | undefined): PolicyState | undefined {
    return typeof value === 'number' ? this.pool[value] : value
  }

  forget(): void {
    this.#mruKey = NO_KEY
  }

  remember(memKey: string, value: Value): void {
    this.#mruKey = memKey
    this.#mruValue = value
  }

  /** While a request's entries are written, making room for one never evicts another. */
  pin(memKeys: readonly string[], n: number): void {
    this.#pinned = memKeys
    this.#pinnedCount = n
  }

  unpin(): void {
    this.#pinnedCount = 0
  }

  /** Forgets an entry, in whichever segment it is. */
  delete(memKey: string): void {
    if (!this.#cache.delete(memKey)) {
      const at = this.heap.positionOf(memKey)
      if (at >= 0) this.heap.remove(at)
    }
  }

  /** Emits the queued `evicted` events. A listener may call the store again: the call's work is done by now. */
  flush(): void {
    // The check alone, on every write: small enough that the engine inlines it and not the rest.
    if (this.#pending.length !== 0) this.#emitPending()
  }

  #emitPending(): void {
    const pending = this.#pending
    this.#pending = []
    if (!this.#warned) {
      this.#warned = true
      this.#events?.warn?.({
        code: 'RK_MEMORY_LIMITED_EVICTED',
        message:
          `MemoryStore: more clients are limited than fit in their share of maxKeys (${this.#maxKeys}); ` +
          "the ones whose block ends soonest are evicted ('evicted' events). Raise maxKeys.",
      })
    }
    for (const each of pending) this.#events?.evicted?.(each)
  }

  /**
   * A refund or a charge (`apply`) of every check, written whatever it admits: three numbers per
   * check (remaining, resetAt, 0). `memKeys` is the caller's scratch, pinned while they are written.
   */
  adjust(keys: readonly string[], policies: readonly Policy[], now: number, apply: Adjustment, memKeys: string[]): number[] {
    const n = policies.length
    this.seen(now)
    this.forget()
    const results = new Array<number>(3 * n)
    const out = this.#probe
    this.pin(memKeys, n)
    for (let i = 0; i < n; i++) memKeys[i] = this.keys.of(policySlot(policies[i]), keys[i])
    for (let i = 0; i < n; i++) {
      const policy = policies[i]
      const memKey = memKeys[i]
      // A concurrency entry is written in place (see `put`): marked used here, as writing it anew would.
      const value = policy.kind === 'concurrency' ? this.get(memKey) : this.peek(memKey)
      const at = value === undefined ? this.heap.positionOf(memKey) : -1
      apply(policy, at >= 0 ? this.heap.states[at] : this.stateOf(value), out)
      const remaining = out.remaining
      const resetAt = out.resetAt
      if (value !== undefined || at >= 0 || out.state !== undefined) this.put(memKey, policy, out.state, remaining, now, value, at)
      results[3 * i] = remaining
      results[3 * i + 1] = resetAt
      results[3 * i + 2] = 0
    }
    this.unpin()
    this.flush()
    return results
  }

  /**
   * `put`, then what every single write does after it: the written entry is remembered as the most
   * recently used (forgotten when it went limited or was dropped), and queued `evicted` events go out.
   */
  write(
    memKey: string,
    policy: Policy,
    state: PolicyState | undefined,
    remaining: number,
    now: number,
    value: Value | undefined,
    at: number,
  ): void {
    const stored = this.put(memKey, policy, state, remaining, now, value, at)
    if (stored === undefined) this.forget()
    else this.remember(memKey, stored)
    this.flush()
  }

  /**
   * Stores a new state for an entry whose current LRU value is `value` or heap position `at`
   * (neither: a new entry), in the segment it belongs to now: limited when `remaining` is 0, until
   * a request of cost 1 could pass again; otherwise the LRU. A fresh state (undefined) drops the
   * entry. Makes room first for a new entry. Returns the entry's LRU value (undefined: dropped or
   * limited).
   */
  put(
    memKey: string,
    policy: Policy,
    state: PolicyState | undefined,
    remaining: number,
    now: number,
    value: Value | undefined,
    at: number,
  ): Value | undefined {
    if (state === undefined) {
      if (value !== undefined) {
        // A concurrency entry left without leases goes dormant: its subject's next request refills it.
        if (policy.kind === 'concurrency' && typeof value !== 'number') return this.#empty(value)
        this.#deleteLru(memKey)
      } else if (at >= 0) this.heap.remove(at)
      return undefined
    }
    if (remaining === 0) {
      const spent = this.#spent
      // A probe: would one more request pass? (Without a lease, a concurrency limit only looks.)
      policy.step(state, 1, now, spent, LOOK)
      if (!spent.allowed && !spent.never) {
        // A full concurrency limit is kept until its last lease expires, not just until the retry hint.
        const until = policy.kind === 'concurrency' ? spent.resetAt : now + spent.retryAfterMs
        this.#putLimited(memKey, policy, state, until, value, at)
        return undefined
      }
    }
    if (at >= 0) {
      // No longer limited: back to the LRU, at its most recently used end.
      this.heap.remove(at)
      return this.#setLru(memKey, state)
    }
    if (value !== undefined) {
      if (typeof state === 'number' && typeof value === 'number') {
        // Token bucket already stored: update its slot in place.
        this.pool[value] = state
        return value
      }
      // Concurrency entry already stored: its leases copied into its array, which the LRU keeps.
      if (policy.kind === 'concurrency' && typeof value !== 'number') return this.#refill(value, state as readonly number[])
      return this.#setLru(memKey, state)
    }
    this.#register(policy)
    if (this.held >= this.#maxKeys) this.#makeRoom(-1)
    return this.#setLru(memKey, state)
  }

  /**
   * Empties a concurrency entry's array in place: the entry goes dormant. The entry keeps its
   * place, and the array is written only by this store (a policy's `step` returns a new array).
   * By `pop`, not `length = 0`: setting a length is a call into the engine's runtime, and popping
   * keeps the array's room for the refill.
   */
  #empty(value: number[]): number[] {
    if (value.length !== 0) {
      while (value.length !== 0) value.pop()
      this.#dormant++
    }
    return value
  }

  /** Copies a concurrency entry's new leases into its array, waking it if it was dormant. */
  #refill(value: number[], leases: readonly number[]): number[] {
    if (leases === value) return value
    if (value.length === 0) this.#dormant--
    const n = leases.length
    while (value.length > n) value.pop()
    for (let i = 0; i < n; i++) value[i] = leases[i]
    return value
  }

  /** `put` of a state with nothing left, limited until `until`. */
  #putLimited(memKey: string, policy: Policy, state: PolicyState, until: number, value: Value | undefined, at: number): void {
    if (at >= 0) this.heap.update(at, until, state)
    else if (value !== undefined) {
      // Moves from the LRU to the limited entries: the count held does not change.
      this.#cache.delete(memKey)
      this.heap.push(memKey, until, state)
    } else {
      this.#register(policy)
      if (this.held < this.#maxKeys || this.#makeRoom(until)) this.heap.push(memKey, until, state)
      // The new entry's block ends sooner than every other limited entry's: it is the one that goes.
      else this.#evicted(memKey, until)
    }
  }

  /** Marks a stored entry limited until `until` (a denial): moved out of the LRU, or its block extended. */
  protect(memKey: string, value: Value | undefined, until: number): void {
    if (value !== undefined) {
      const state = this.stateOf(value) as PolicyState
      this.#cache.delete(memKey)
      this.heap.push(memKey, until, state)
      return
    }
    const at = this.heap.positionOf(memKey)
    if (at >= 0 && until > this.heap.untils[at]) this.heap.update(at, until, this.heap.states[at])
  }

  /**
   * Drops every entry whose state is fresh again, and moves limited entries whose block has
   * ended back among the others. Returns the number dropped.
   */
  prune(now: number): number {
    this.forget()
    let dropped = 0
    const probe = this.#probe
    const isFresh = (memKey: string, state: PolicyState | undefined): boolean => {
      const policy = this.#policyOfSlot.get(this.keys.slotOf(memKey))
      if (policy === undefined) return false
      policy.step(state, 0, now, probe)
      return probe.state === undefined || probe.ttlMs <= 0
    }
    for (const [memKey, value] of this.#cache.entries()) {
      if (isFresh(memKey, this.stateOf(value))) {
        // A dormant entry was already dropped as far as `size` tells.
        if (typeof value === 'number' || value.length !== 0) dropped++
        this.#cache.delete(memKey)
      }
    }
    const heap = this.heap
    const fresh: string[] = []
    const unblocked: string[] = []
    for (let i = 0; i < heap.size; i++) {
      const memKey = heap.keys[i]
      if (isFresh(memKey, heap.states[i])) fresh.push(memKey)
      else if (heap.untils[i] <= now) unblocked.push(memKey)
    }
    for (const memKey of fresh) heap.remove(heap.positionOf(memKey))
    for (const memKey of unblocked) this.#demote(heap.positionOf(memKey))
    return dropped + fresh.length
  }

  /** Empties both segments. */
  clear(): void {
    this.forget()
    this.#cache.clear()
    this.heap.clear()
    this.#pending = []
    this.#freeSlots = []
    this.#poolTop = 0
    this.#dormant = 0
  }

  #register(policy: Policy): void {
    if (!this.#policyOfSlot.has(policySlot(policy))) this.#policyOfSlot.set(policySlot(policy), policy)
  }

  /**
   * Deletes an entry of the LRU. The last one goes by `pop`: lru-cache's `delete` of its only
   * entry clears the whole cache, filling arrays of `maxKeys` slots (hundreds of µs), which a
   * lone key going back to fresh (a concurrency lease released) would pay on every request.
   * Only for an entry the LRU holds (`put` is given its value): when it holds one entry, that is
   * the one, and no lookup needs to tell.
   */
  #deleteLru(memKey: string): void {
    if (this.#cache.size === 1) this.#cache.pop()
    else this.#cache.delete(memKey)
  }

  /** Adds an entry at the LRU's most recently used end. */
  #setLru(memKey: string, state: PolicyState): Value {
    if (typeof state === 'number') {
      const slot = this.#takeSlot()
      this.pool[slot] = state
      this.#cache.set(memKey, slot, this.#lruOptions)
      return slot
    }
    this.#cache.set(memKey, state, this.#lruOptions)
    return state
  }

  /** A free slot in the pool, growing it when needed. */
  #takeSlot(): number {
    const free = this.#freeSlots.pop()
    if (free !== undefined) return free
    if (this.#poolTop === this.pool.length) {
      const bigger = new Float64Array(this.pool.length * 2)
      bigger.set(this.pool)
      this.pool = bigger
    }
    return this.#poolTop++
  }

  /**
   * Frees one entry for a new one (`incomingUntil`: when the new entry's block ends, or -1 if it
   * is not limited). Constant work apart from the heap's O(log n) reordering:
   * - a few limited entries whose block has ended move back to the LRU (they are not limited
   *   any more, and are kept like an entry used just now);
   * - while limited entries (counting a limited newcomer) exceed their share, the one whose block
   *   ends soonest is evicted, with an event — or the newcomer is not kept, if its block ends
   *   sooner still (returns false);
   * - otherwise the least recently used entry that is not limited is evicted.
   * Entries of the request being written are never chosen.
   */
  #makeRoom(incomingUntil: number): boolean {
    this.forget()
    const now = this.#lastNow
    const heap = this.heap
    const pinning = this.#pinnedCount !== 0
    let top = heap.soonestUnpinned(this.#isPinned, pinning)
    for (let i = 0; i < DEMOTIONS_PER_CALL && top >= 0 && heap.untils[top] <= now; i++) {
      this.#demote(top)
      top = heap.soonestUnpinned(this.#isPinned, pinning)
    }
    const blocked = top >= 0 && heap.untils[top] > now
    if (blocked && heap.size + (incomingUntil >= 0 ? 1 : 0) > this.#limitedShare) {
      if (incomingUntil >= 0 && incomingUntil < heap.untils[top]) return false
      this.#evictLimited(top)
      return true
    }
    if (this.#evictLru()) return true
    if (top < 0) return false
    this.#evictLimited(top)
    return true
  }

  /** Evicts the least recently used entry of the LRU that is not pinned. */
  #evictLru(): boolean {
    this.#steps++
    if (this.#pinnedCount === 0) return this.#cache.pop() !== undefined
    for (const memKey of this.#cache.rkeys()) {
      this.#steps++
      if (!this.#isPinned(memKey)) return this.#cache.delete(memKey)
    }
    return false
  }

  /** Evicts the limited entry at heap position `at`, with an event if it was still blocked. */
  #evictLimited(at: number): void {
    this.#steps++
    const memKey = this.heap.keys[at]
    const until = this.heap.untils[at]
    this.heap.remove(at)
    if (until > this.#lastNow) this.#evicted(memKey, until)
  }

  /** Queues the `evicted` event of a limited entry (emitted once the call's bookkeeping is done). */
  #evicted(memKey: string, until: number): void {
    this.#pending.push({ key: this.keys.subjectOf(memKey), blockedUntil: until })
  }

  /** Moves the limited entry at `at` (its block has ended) to the LRU's most recently used end. */
  #demote(at: number): void {
    this.#steps++
    const memKey = this.heap.keys[at]
    const state = this.heap.states[at]
    this.heap.remove(at)
    this.#setLru(memKey, state)
  }
}
