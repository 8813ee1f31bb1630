import { channel } from 'node:diagnostics_channel'
import { LRUCache } from 'lru-cache'
import { ConfigurationError, checkInteger, checkKnownOptions, invalid, StoreError } from '../../limiter/errors.js'
import type { Policy, PolicyState, StepOutcome } from '../../limiter/policy.js'
import { newOutcome } from '../../limiter/policy.js'
import type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from '../../limiter/store.js'

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most entries kept; one entry is one (subject, policy) pair. Bounds memory: about 110 bytes
   * per token-bucket entry (see docs/benchmarks.md). Entries of limited clients may fill the
   * store, but entries of clients that are not limited always have room for
   * `maxKeys - floor(maxKeys / 2)` of them (see docs/stores.md). Must be at least the number of
   * policies one request is decided against.
   * @default 100_000
   */
  maxKeys?: number
}

const KNOWN = { maxKeys: true } as const
/**
 * What the LRU holds per entry: a window state (an array), or — for a token bucket, whose state
 * is one number — the index of its slot in a Float64Array. The slot is updated in place, so a
 * token-bucket decision needs one LRU lookup and no allocation, and an entry costs a small
 * integer plus 8 bytes instead of a boxed number.
 */
type Value = number | number[]

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
 * The embedded store: state in this process, bounded by `maxKeys`, with no timer per key.
 * Decisions are synchronous and atomic (one request's checks are decided in one run of
 * JavaScript).
 *
 * Entries live in one of two segments. An entry that is not limited lives in an LRU (lru-cache).
 * An entry that is limited — denied, or with nothing left (remaining 0) — lives in a min-heap
 * ordered by the time it could admit again, and stays there until then; the LRU never walks past
 * it, so making room costs the same whatever the store holds. Limited entries may use the whole
 * store while nothing else needs the room, but beyond `floor(maxKeys / 2)` of them the one whose
 * block ends soonest goes first when room is needed (with an `evicted` event): entries that are
 * not limited always keep the rest of the capacity.
 *
 * @example
 * const limiter = createLimiter({ store: new MemoryStore({ maxKeys: 100_000 }), policies })
 */
export class MemoryStore implements Store {
  readonly maxKeys: number
  /** Entries that are not limited. Never fuller than `maxKeys` minus the limited ones, so it never evicts on its own. */
  #cache: LRUCache<string, Value>
  #pool = new Float64Array(1024)
  #poolTop = 0
  #freeSlots: number[] = []
  /** Most limited entries kept while entries that are not limited need the room. */
  readonly #limitedShare: number
  // The limited entries: a binary min-heap on the time each could admit a request of cost 1
  // again (`#heapUntil`), in parallel arrays, with each entry's position in `#limitedAt`.
  #heapKeys: string[] = []
  #heapUntil: number[] = []
  #heapStates: PolicyState[] = []
  #heapSize = 0
  #limitedAt = new Map<string, number>()
  /** Entries of the request being written (a decision on several policies): never chosen to make room. */
  #pinned: readonly string[] = []
  #pinnedCount = 0
  #pending: PendingEviction[] = []
  #warned = false
  #steps = 0
  /** Policy per slot, to judge whether an entry is fresh in `prune`. */
  #policyOfSlot = new Map<number, Policy>()
  #events: StoreEvents | undefined
  #closed = false
  /** The first policy slot this store sees: its entries are keyed by the bare subject (no string building per call). */
  #primarySlot = -1
  /** Reused option bag for lru-cache calls, so they allocate nothing. */
  #lruOptions = {}
  // Scratch space reused across calls: the store is synchronous, so one set suffices.
  #outs: StepOutcome[] = [newOutcome()]
  /**
   * Where a charge on a stored token bucket steps: its `state` only ever holds numbers, and with its
   * properties in another order it has a hidden class of its own, so the engine updates that number
   * in place instead of allocating a boxed one per decision (window states share `#outs`).
   */
  #bucketOut: StepOutcome = { state: 0, allowed: false, never: false, remaining: 0, resetAt: 0, retryAfterMs: 0, ttlMs: 0 }
  #probe = newOutcome()
  /** Where a spent state is asked when it could admit again. */
  #spent = newOutcome()
  #memKeys: string[] = []
  /** `consumeInto`'s subject, once per policy (reused: the store is synchronous). */
  #subjectKeys: string[] = []
  /** Latest request time seen: blocks are compared in the callers' clock, which tests inject. */
  #lastNow = 0
  #states: (PolicyState | undefined)[] = []
  #values: (Value | undefined)[] = []
  /**
   * The most recently used entry, when known: the entry key and LRU value of the last
   * single-policy decision. Deciding that key again skips `cache.get`, which would only find the
   * entry already at the most recently used end. Every other use of the cache forgets it.
   */
  #mruKey = NO_KEY
  #mruValue: Value = 0

  constructor(options: MemoryStoreOptions = {}) {
    const where = 'new MemoryStore()'
    if (typeof options !== 'object' || options === null) invalid(where, 'options', 'must be an object', options)
    checkKnownOptions(where, options, KNOWN)
    this.maxKeys = options.maxKeys === undefined ? 100_000 : checkInteger(where, 'maxKeys', options.maxKeys, 1, 100_000_000)
    this.#limitedShare = Math.floor(this.maxKeys / 2)
    this.#cache = new LRUCache<string, Value>({
      max: this.maxKeys,
      // A token-bucket entry going away gives its slot back (so the memo must not hand it out).
      dispose: (value) => {
        this.#forget()
        if (typeof value === 'number') this.#freeSlots.push(value)
      },
    })
  }

  /**
   * The entry key of (slot, subject). Subjects never start with U+0001 (see encodeSubject), so
   * the bare subject (primary slot) and the prefixed form (other slots) never collide.
   */
  #memKey(slot: number, subject: string): string {
    if (slot === this.#primarySlot) return subject
    if (this.#primarySlot < 0) {
      this.#primarySlot = slot
      return subject
    }
    return `\u0001${slot}\u0000${subject}`
  }

  /** The slot of an entry key. */
  #slotOf(memKey: string): number {
    return memKey.charCodeAt(0) === 1 ? Number(memKey.slice(1, memKey.indexOf('\u0000'))) : this.#primarySlot
  }

  /** The subject of an entry key. */
  #subjectOf(memKey: string): string {
    return memKey.charCodeAt(0) === 1 ? memKey.slice(memKey.indexOf('\u0000') + 1) : memKey
  }

  /** The state behind an LRU value. */
  #stateOf(value: Value | undefined): PolicyState | undefined {
    return typeof value === 'number' ? this.#pool[value] : value
  }

  /** Number of entries held now. */
  get size(): number {
    return this.#cache.size + this.#heapSize
  }

  /**
   * Entries visited or moved to make room and to keep limited entries in order, since
   * construction: the work eviction has cost. Tests hold it flat whatever the store holds. @internal
   */
  get evictionSteps(): number {
    return this.#steps
  }

  attach(events: StoreEvents): void {
    this.#events = events
  }

  consume(request: StoreRequest): StoreResult {
    const results = new Array<number>(3 * request.policies.length)
    const allowed = this.#decide(request.keys, request.policies, request.cost, request.now, true, results)
    return { allowed, now: request.now, results }
  }

  peek(request: StoreRequest): StoreResult {
    const results = new Array<number>(3 * request.policies.length)
    const allowed = this.#decide(request.keys, request.policies, request.cost, request.now, false, results)
    return { allowed, now: request.now, results }
  }

  refund(request: StoreRefundRequest): StoreResult {
    this.#checkOpen()
    const { keys, policies, cost, now, chargedAt } = request
    const n = policies.length
    this.#checkFits(n)
    if (now > this.#lastNow) this.#lastNow = now
    this.#forget()
    const results = new Array<number>(3 * n)
    const out = this.#probe
    this.#pin(this.#memKeys, n)
    for (let i = 0; i < n; i++) this.#memKeys[i] = this.#memKey(policies[i].slot, keys[i])
    for (let i = 0; i < n; i++) {
      const policy = policies[i]
      const memKey = this.#memKeys[i]
      const value = this.#cache.peek(memKey, this.#lruOptions)
      const at = value === undefined ? this.#positionOf(memKey) : -1
      policy.refund(at >= 0 ? this.#heapStates[at] : this.#stateOf(value), cost, chargedAt, now, out)
      const remaining = out.remaining
      const resetAt = out.resetAt
      if (value !== undefined || at >= 0 || out.state !== undefined) this.#put(memKey, policy, out.state, remaining, now, value, at)
      results[3 * i] = remaining
      results[3 * i + 1] = resetAt
      results[3 * i + 2] = 0
    }
    this.#unpin()
    if (this.#pending.length !== 0) this.#flush()
    return { allowed: true, now, results }
  }

  reset(request: StoreRequest): void {
    this.#checkOpen()
    this.#forget()
    const { keys, policies } = request
    for (let i = 0; i < policies.length; i++) {
      const memKey = this.#memKey(policies[i].slot, keys[i])
      if (!this.#cache.delete(memKey)) {
        const at = this.#positionOf(memKey)
        if (at >= 0) this.#heapRemove(at)
      }
    }
  }

  close(): void {
    this.#closed = true
    this.#forget()
    this.#cache.clear()
    this.#heapKeys = []
    this.#heapUntil = []
    this.#heapStates = []
    this.#heapSize = 0
    this.#limitedAt.clear()
    this.#pending = []
    this.#freeSlots = []
    this.#poolTop = 0
  }

  /**
   * Drops every entry whose state is fresh again, and moves limited entries whose block has
   * ended back among the others. Optional: memory is bounded without it.
   */
  prune(now: number = Date.now()): number {
    this.#forget()
    let dropped = 0
    const probe = this.#probe
    const isFresh = (memKey: string, state: PolicyState | undefined): boolean => {
      const policy = this.#policyOfSlot.get(this.#slotOf(memKey))
      if (policy === undefined) return false
      policy.step(state, 0, now, probe)
      return probe.state === undefined || probe.ttlMs <= 0
    }
    for (const [memKey, value] of this.#cache.entries()) {
      if (isFresh(memKey, this.#stateOf(value))) {
        this.#cache.delete(memKey)
        dropped++
      }
    }
    const fresh: string[] = []
    const unblocked: string[] = []
    for (let i = 0; i < this.#heapSize; i++) {
      const memKey = this.#heapKeys[i]
      if (isFresh(memKey, this.#heapStates[i])) fresh.push(memKey)
      else if (this.#heapUntil[i] <= now) unblocked.push(memKey)
    }
    for (const memKey of fresh) this.#heapRemove(this.#positionOf(memKey))
    for (const memKey of unblocked) this.#demote(this.#positionOf(memKey))
    return dropped + fresh.length
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('ERR_RK_CLOSED', 'MemoryStore: used after close()')
  }

  /** One request needs an entry per policy: a store smaller than that would mix their states. */
  #checkFits(n: number): void {
    if (n > this.maxKeys) {
      throw new ConfigurationError(
        'ERR_RK_INVALID_OPTION',
        'new MemoryStore()',
        'maxKeys',
        `must be at least the number of policies one request is decided against (${n})`,
        this.maxKeys,
      )
    }
  }

  /** The store's fast path (see `Store.consumeInto`): `consume` of one subject, into `results`. */
  consumeInto(subject: string, policies: readonly Policy[], cost: number, now: number, results: number[]): boolean {
    if (policies.length === 1) return this.#decideOne(subject, policies[0], cost, now, true, results)
    const keys = this.#subjectKeys
    for (let i = 0; i < policies.length; i++) keys[i] = subject
    return this.#decideMany(keys, policies, cost, now, true, results)
  }

  /** `consume` (charge) or `peek` into `results`, three numbers per check; returns whether the request is admitted. */
  #decide(keys: readonly string[], policies: readonly Policy[], cost: number, now: number, charge: boolean, results: number[]): boolean {
    return policies.length === 1
      ? this.#decideOne(keys[0], policies[0], cost, now, charge, results)
      : this.#decideMany(keys, policies, cost, now, charge, results)
  }

  /** `#decide` for one policy, without the arrays (the hot path). */
  #decideOne(key: string, policy: Policy, cost: number, now: number, charge: boolean, results: number[]): boolean {
    this.#checkOpen()
    if (now > this.#lastNow) this.#lastNow = now
    const memKey = this.#memKey(policy.slot, key)
    // The entry decided last is still the most recently used: looking it up again would change nothing.
    const value = memKey === this.#mruKey && !lruMetrics.hasSubscribers ? this.#mruValue : this.#cache.get(memKey, this.#lruOptions)
    if (value === undefined && this.#heapSize !== 0) {
      const at = this.#positionOf(memKey)
      if (at >= 0) return this.#decideLimited(memKey, at, policy, cost, now, charge, results)
    }
    let out = this.#outs[0]
    if (typeof value === 'number' && cost > 0) {
      // A charge on a stored token bucket steps from a call site of its own, which stays monomorphic
      // (so inlined, its state never boxed) when windows share this code.
      out = this.#bucketOut
      policy.step(this.#pool[value], cost, now, out)
    } else policy.step(this.#stateOf(value), cost, now, out)
    const allowed = out.allowed
    if (!charge || !allowed || cost === 0) {
      this.#unchanged(memKey, policy, value, cost, now, charge, out, results)
      return allowed
    }
    const remaining = out.remaining
    const resetAt = out.resetAt
    const next = out.state
    if (typeof next === 'number' && typeof value === 'number' && remaining !== 0) {
      // Token bucket already stored and not spent: update its slot in place; the entry stays the most recently used.
      this.#pool[value] = next
      this.#remember(memKey, value)
    } else {
      const stored = this.#put(memKey, policy, next, remaining, now, value, -1)
      // A written entry was set last (the most recently used), unless it is limited or dropped.
      if (stored === undefined) this.#forget()
      else this.#remember(memKey, stored)
      if (this.#pending.length !== 0) this.#flush()
    }
    // Written last: an `evicted` listener above may have decided on this store (and its scratch).
    results[0] = remaining
    results[1] = resetAt
    results[2] = 0
    return true
  }

  /** The rest of `#decideOne` when nothing is written: a denial, a peek or a cost of 0. */
  #unchanged(
    memKey: string,
    policy: Policy,
    value: Value | undefined,
    cost: number,
    now: number,
    charge: boolean,
    stepped: StepOutcome,
    results: number[],
  ): void {
    const allowed = stepped.allowed
    results[2] = allowed ? 0 : stepped.retryAfterMs
    if (!allowed && charge && !stepped.never && value !== undefined) this.#protect(memKey, value, now + stepped.retryAfterMs)
    else if (value !== undefined) this.#remember(memKey, value)
    let out = stepped
    if (!charge && cost > 0) {
      // A peek reports the uncharged state (the retry above stays the charge's).
      out = this.#outs[0]
      policy.step(this.#stateOf(value), 0, now, out)
    }
    results[0] = out.remaining
    results[1] = out.resetAt
  }

  /** `#decideOne` for an entry that is limited (held in the heap at `at`). */
  #decideLimited(memKey: string, at: number, policy: Policy, cost: number, now: number, charge: boolean, results: number[]): boolean {
    const state = this.#heapStates[at]
    const out = this.#outs[0]
    policy.step(state, cost, now, out)
    const allowed = out.allowed
    if (!charge || !allowed || cost === 0) {
      results[2] = allowed ? 0 : out.retryAfterMs
      if (!allowed && charge && !out.never) this.#protect(memKey, undefined, now + out.retryAfterMs)
      // A peek reports the uncharged state.
      if (!charge && cost > 0) policy.step(state, 0, now, out)
      results[0] = out.remaining
      results[1] = out.resetAt
      return allowed
    }
    const remaining = out.remaining
    const resetAt = out.resetAt
    const stored = this.#put(memKey, policy, out.state, remaining, now, undefined, at)
    if (stored === undefined) this.#forget()
    else this.#remember(memKey, stored)
    if (this.#pending.length !== 0) this.#flush()
    results[0] = remaining
    results[1] = resetAt
    results[2] = 0
    return true
  }

  /** `#decide` for several policies: all are stepped before any is written, so a denial charges none. */
  #decideMany(
    keys: readonly string[],
    policies: readonly Policy[],
    cost: number,
    now: number,
    charge: boolean,
    results: number[],
  ): boolean {
    this.#checkOpen()
    const n = policies.length
    this.#checkFits(n)
    if (now > this.#lastNow) this.#lastNow = now
    this.#forget()
    const cache = this.#cache
    const outs = this.#outs
    while (outs.length < n) outs.push(newOutcome())
    const memKeys = this.#memKeys
    const states = this.#states
    const values = this.#values
    let allowed = true
    for (let i = 0; i < n; i++) {
      const policy = policies[i]
      const memKey = this.#memKey(policy.slot, keys[i])
      const value = cache.get(memKey, this.#lruOptions)
      let state: PolicyState | undefined
      if (value !== undefined) state = typeof value === 'number' ? this.#pool[value] : value
      else if (this.#heapSize !== 0) {
        const at = this.#positionOf(memKey)
        if (at >= 0) state = this.#heapStates[at]
      }
      memKeys[i] = memKey
      values[i] = value
      states[i] = state
      policy.step(state, cost, now, outs[i])
      if (!outs[i].allowed) allowed = false
    }
    const write = charge && allowed && cost > 0
    // While this request's entries are written, making room for one never evicts another.
    if (write) this.#pin(memKeys, n)
    for (let i = 0; i < n; i++) {
      const out = outs[i]
      if (write) {
        const at = values[i] === undefined ? this.#positionOf(memKeys[i]) : -1
        this.#put(memKeys[i], policies[i], out.state, out.remaining, now, values[i], at)
      } else if (!out.allowed) {
        if (charge && !out.never) this.#protect(memKeys[i], values[i], now + out.retryAfterMs)
      } else if (cost > 0) {
        // Nothing is charged: report the admitting policies' uncharged state.
        policies[i].step(states[i], 0, now, out)
      }
      results[3 * i] = out.remaining
      results[3 * i + 1] = out.resetAt
      results[3 * i + 2] = out.allowed ? 0 : out.retryAfterMs
      states[i] = undefined
      values[i] = undefined
    }
    this.#unpin()
    if (this.#pending.length !== 0) this.#flush()
    return allowed
  }

  #forget(): void {
    this.#mruKey = NO_KEY
  }

  #remember(memKey: string, value: Value): void {
    this.#mruKey = memKey
    this.#mruValue = value
  }

  #pin(memKeys: readonly string[], n: number): void {
    this.#pinned = memKeys
    this.#pinnedCount = n
  }

  #unpin(): void {
    this.#pinnedCount = 0
  }

  #isPinned(memKey: string): boolean {
    for (let i = 0; i < this.#pinnedCount; i++) if (this.#pinned[i] === memKey) return true
    return false
  }

  /** The heap position of a limited entry, or -1. */
  #positionOf(memKey: string): number {
    if (this.#heapSize === 0) return -1
    return this.#limitedAt.get(memKey) ?? -1
  }

  /**
   * Stores a new state for an entry whose current LRU value is `value` or heap position `at`
   * (neither: a new entry), in the segment it belongs to now: limited when `remaining` is 0, until
   * a request of cost 1 could pass again; otherwise the LRU. A fresh state (undefined) drops the
   * entry. Makes room first for a new entry. Returns the entry's LRU value (undefined: dropped or
   * limited).
   */
  #put(
    memKey: string,
    policy: Policy,
    state: PolicyState | undefined,
    remaining: number,
    now: number,
    value: Value | undefined,
    at: number,
  ): Value | undefined {
    if (state === undefined) {
      if (value !== undefined) this.#cache.delete(memKey)
      else if (at >= 0) this.#heapRemove(at)
      return undefined
    }
    if (remaining === 0) {
      const spent = this.#spent
      policy.step(state, 1, now, spent)
      if (!spent.allowed && !spent.never) {
        const until = now + spent.retryAfterMs
        if (at >= 0) this.#heapUpdate(at, until, state)
        else if (value !== undefined) {
          // Moves from the LRU to the limited entries: the count held does not change.
          this.#cache.delete(memKey)
          this.#heapPush(memKey, until, state)
        } else {
          this.#register(policy)
          if (this.size < this.maxKeys || this.#makeRoom(until)) this.#heapPush(memKey, until, state)
          // The new entry's block ends sooner than every other limited entry's: it is the one that goes.
          else this.#evicted(memKey, until)
        }
        return undefined
      }
    }
    if (at >= 0) {
      // No longer limited: back to the LRU, at its most recently used end.
      this.#heapRemove(at)
      return this.#setLru(memKey, state)
    }
    if (value !== undefined) {
      if (typeof state === 'number' && typeof value === 'number') {
        // Token bucket already stored: update its slot in place.
        this.#pool[value] = state
        return value
      }
      return this.#setLru(memKey, state)
    }
    this.#register(policy)
    if (this.size >= this.maxKeys) this.#makeRoom(-1)
    return this.#setLru(memKey, state)
  }

  /** Marks a stored entry limited until `until` (a denial): moved out of the LRU, or its block extended. */
  #protect(memKey: string, value: Value | undefined, until: number): void {
    if (value !== undefined) {
      const state = this.#stateOf(value) as PolicyState
      this.#cache.delete(memKey)
      this.#heapPush(memKey, until, state)
      return
    }
    const at = this.#positionOf(memKey)
    if (at >= 0 && until > this.#heapUntil[at]) this.#heapUpdate(at, until, this.#heapStates[at])
  }

  #register(policy: Policy): void {
    if (!this.#policyOfSlot.has(policy.slot)) this.#policyOfSlot.set(policy.slot, policy)
  }

  /** Adds an entry at the LRU's most recently used end. */
  #setLru(memKey: string, state: PolicyState): Value {
    if (typeof state === 'number') {
      const slot = this.#takeSlot()
      this.#pool[slot] = state
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
    if (this.#poolTop === this.#pool.length) {
      const bigger = new Float64Array(this.#pool.length * 2)
      bigger.set(this.#pool)
      this.#pool = bigger
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
    this.#forget()
    const now = this.#lastNow
    let top = this.#soonestUnpinned()
    for (let i = 0; i < DEMOTIONS_PER_CALL && top >= 0 && this.#heapUntil[top] <= now; i++) {
      this.#demote(top)
      top = this.#soonestUnpinned()
    }
    const blocked = top >= 0 && this.#heapUntil[top] > now
    if (blocked && this.#heapSize + (incomingUntil >= 0 ? 1 : 0) > this.#limitedShare) {
      if (incomingUntil >= 0 && incomingUntil < this.#heapUntil[top]) return false
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
    const memKey = this.#heapKeys[at]
    const until = this.#heapUntil[at]
    this.#heapRemove(at)
    if (until > this.#lastNow) this.#evicted(memKey, until)
  }

  /** Queues the `evicted` event of a limited entry (emitted once the call's bookkeeping is done). */
  #evicted(memKey: string, until: number): void {
    this.#pending.push({ key: this.#subjectOf(memKey), blockedUntil: until })
  }

  /** Emits the queued events. A listener may call this store again: the call's work is done by now. */
  #flush(): void {
    const pending = this.#pending
    this.#pending = []
    if (!this.#warned) {
      this.#warned = true
      this.#events?.warn?.({
        code: 'RK_MEMORY_LIMITED_EVICTED',
        message:
          `MemoryStore: more clients are limited than fit in their share of maxKeys (${this.maxKeys}); ` +
          "the ones whose block ends soonest are evicted ('evicted' events). Raise maxKeys.",
      })
    }
    for (const each of pending) this.#events?.evicted?.(each)
  }

  /** Moves the limited entry at `at` (its block has ended) to the LRU's most recently used end. */
  #demote(at: number): void {
    this.#steps++
    const memKey = this.#heapKeys[at]
    const state = this.#heapStates[at]
    this.#heapRemove(at)
    this.#setLru(memKey, state)
  }

  /** Heap position of the limited entry whose block ends soonest among those not pinned, or -1. */
  #soonestUnpinned(): number {
    if (this.#heapSize === 0) return -1
    if (this.#pinnedCount === 0 || !this.#isPinned(this.#heapKeys[0])) return 0
    // Pinned entries sit at the root: the answer is a child of theirs (at most a few to look at).
    let best = -1
    const stack = [0]
    while (stack.length !== 0) {
      const i = stack.pop() as number
      if (i >= this.#heapSize) continue
      this.#steps++
      if (this.#isPinned(this.#heapKeys[i])) stack.push(2 * i + 1, 2 * i + 2)
      else if (best < 0 || this.#heapUntil[i] < this.#heapUntil[best]) best = i
    }
    return best
  }

  #heapPush(memKey: string, until: number, state: PolicyState): void {
    const at = this.#heapSize++
    this.#heapKeys[at] = memKey
    this.#heapUntil[at] = until
    this.#heapStates[at] = state
    this.#limitedAt.set(memKey, at)
    this.#siftUp(at)
  }

  #heapUpdate(at: number, until: number, state: PolicyState): void {
    const before = this.#heapUntil[at]
    this.#heapUntil[at] = until
    this.#heapStates[at] = state
    if (until < before) this.#siftUp(at)
    else if (until > before) this.#siftDown(at)
  }

  #heapRemove(at: number): void {
    this.#limitedAt.delete(this.#heapKeys[at])
    const last = --this.#heapSize
    if (at !== last) {
      const until = this.#heapUntil[at]
      this.#place(at, this.#heapKeys[last], this.#heapUntil[last], this.#heapStates[last])
      if (this.#heapUntil[at] < until) this.#siftUp(at)
      else this.#siftDown(at)
    }
    // Let go of the key and state (the arrays keep their length).
    this.#heapKeys[last] = ''
    this.#heapStates[last] = 0
  }

  #place(at: number, memKey: string, until: number, state: PolicyState): void {
    this.#heapKeys[at] = memKey
    this.#heapUntil[at] = until
    this.#heapStates[at] = state
    this.#limitedAt.set(memKey, at)
  }

  #siftUp(start: number): void {
    const keys = this.#heapKeys
    const untils = this.#heapUntil
    const states = this.#heapStates
    const memKey = keys[start]
    const until = untils[start]
    const state = states[start]
    let at = start
    while (at > 0) {
      const parent = (at - 1) >> 1
      if (untils[parent] <= until) break
      this.#steps++
      this.#place(at, keys[parent], untils[parent], states[parent])
      at = parent
    }
    if (at !== start) this.#place(at, memKey, until, state)
  }

  #siftDown(start: number): void {
    const keys = this.#heapKeys
    const untils = this.#heapUntil
    const states = this.#heapStates
    const size = this.#heapSize
    const memKey = keys[start]
    const until = untils[start]
    const state = states[start]
    let at = start
    for (;;) {
      const left = 2 * at + 1
      if (left >= size) break
      const right = left + 1
      const child = right < size && untils[right] < untils[left] ? right : left
      if (untils[child] >= until) break
      this.#steps++
      this.#place(at, keys[child], untils[child], states[child])
      at = child
    }
    if (at !== start) this.#place(at, memKey, until, state)
  }
}
