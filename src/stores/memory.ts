import { channel } from 'node:diagnostics_channel'
import { LRUCache } from 'lru-cache'
import { checkInteger, checkKnownOptions, invalid, StoreError } from '../core/errors.js'
import type { Policy, PolicyState, StepOutcome } from '../core/policy.js'
import { newOutcome } from '../core/policy.js'
import type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from '../core/store.js'

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most entries kept; one entry is one (subject, policy) pair. Bounds memory: about 110 bytes
   * per token-bucket entry (see docs/benchmarks.md).
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

/**
 * The embedded store: state in this process, in an LRU bounded by `maxKeys`, with no timer per
 * key. Decisions are synchronous and atomic (one request's checks are decided in one run of
 * JavaScript). A key that is currently limited is never evicted to make room while an
 * unlimited one exists; when every entry is limited, the one whose block ends soonest goes and
 * the limiter's `evicted` event says so. Entries whose state is fresh again are dropped when
 * next touched or when room is needed.
 *
 * @example
 * const limiter = createLimiter({ store: new MemoryStore({ maxKeys: 100_000 }), policies })
 */
export class MemoryStore implements Store {
  readonly maxKeys: number
  #cache: LRUCache<string, Value>
  #pool = new Float64Array(1024)
  #poolTop = 0
  #freeSlots: number[] = []
  /** Entries denied at least once, with the epoch ms their block ends (pruned lazily). */
  #blocked = new Map<string, number>()
  /** Policy per slot, to judge whether an entry is limited when room is needed. */
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
  #memKeys: string[] = []
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
    return this.#cache.size
  }

  attach(events: StoreEvents): void {
    this.#events = events
  }

  consume(request: StoreRequest): StoreResult {
    const results = new Array<number>(3 * request.policies.length)
    const allowed = this.decideInto(request.keys, request.policies, request.cost, request.now, true, results)
    return { allowed, now: request.now, results }
  }

  peek(request: StoreRequest): StoreResult {
    const results = new Array<number>(3 * request.policies.length)
    const allowed = this.decideInto(request.keys, request.policies, request.cost, request.now, false, results)
    return { allowed, now: request.now, results }
  }

  refund(request: StoreRefundRequest): StoreResult {
    this.#checkOpen()
    this.#forget()
    const { keys, policies, cost, now, chargedAt } = request
    const n = policies.length
    const results = new Array<number>(3 * n)
    const out = this.#probe
    for (let i = 0; i < n; i++) {
      const policy = policies[i]
      const memKey = this.#memKey(policy.slot, keys[i])
      const value = this.#cache.peek(memKey, this.#lruOptions)
      policy.refund(this.#stateOf(value), cost, chargedAt, now, out)
      if (value !== undefined || out.state !== undefined) this.#write(memKey, policy, out.state, value)
      results[3 * i] = out.remaining
      results[3 * i + 1] = out.resetAt
      results[3 * i + 2] = 0
      this.#blocked.delete(memKey)
    }
    return { allowed: true, now, results }
  }

  reset(request: StoreRequest): void {
    this.#checkOpen()
    this.#forget()
    const { keys, policies } = request
    for (let i = 0; i < policies.length; i++) {
      const memKey = this.#memKey(policies[i].slot, keys[i])
      this.#cache.delete(memKey)
      this.#blocked.delete(memKey)
    }
  }

  close(): void {
    this.#closed = true
    this.#forget()
    this.#cache.clear()
    this.#blocked.clear()
    this.#freeSlots = []
    this.#poolTop = 0
  }

  /** Drops every entry whose state is fresh again. Optional: memory is bounded without it. */
  prune(now: number = Date.now()): number {
    this.#forget()
    let dropped = 0
    const probe = this.#probe
    for (const [memKey, value] of this.#cache.entries()) {
      const state = this.#stateOf(value)
      const policy = this.#policyOfSlot.get(this.#slotOf(memKey))
      if (policy === undefined) continue
      policy.step(state, 0, now, probe)
      if (probe.state === undefined || probe.ttlMs <= 0) {
        this.#cache.delete(memKey)
        this.#blocked.delete(memKey)
        dropped++
      }
    }
    return dropped
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('ERR_RK_CLOSED', 'MemoryStore: used after close()')
  }

  /**
   * `consume` (charge) or `peek` without the request and result objects: writes the three
   * numbers per check into `results` and returns whether the request is admitted. The limiter
   * calls this directly so a decision on this store allocates almost nothing. @internal
   */
  decideInto(keys: readonly string[], policies: readonly Policy[], cost: number, now: number, charge: boolean, results: number[]): boolean {
    return policies.length === 1
      ? this.decideOneInto(keys[0], policies[0], cost, now, charge, results)
      : this.#decideMany(keys, policies, cost, now, charge, results)
  }

  /** `decideInto` for one policy, without the arrays (the limiter's hot path). @internal */
  decideOneInto(key: string, policy: Policy, cost: number, now: number, charge: boolean, results: number[]): boolean {
    this.#checkOpen()
    if (now > this.#lastNow) this.#lastNow = now
    const memKey = this.#memKey(policy.slot, key)
    // The entry decided last is still the most recently used: looking it up again would change nothing.
    const value = memKey === this.#mruKey && !lruMetrics.hasSubscribers ? this.#mruValue : this.#cache.get(memKey, this.#lruOptions)
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
    if (typeof next === 'number' && typeof value === 'number') {
      // Token bucket already stored: update its slot in place; the entry stays the most recently used.
      this.#pool[value] = next
      this.#remember(memKey, value)
    } else {
      const stored = this.#write(memKey, policy, next, value)
      // A written entry was set last (the most recently used), unless it was dropped.
      if (stored === undefined) this.#forget()
      else this.#remember(memKey, stored)
    }
    if (this.#blocked.size !== 0) this.#blocked.delete(memKey)
    // Written last: an `evicted` listener above may have decided on this store (and its scratch).
    results[0] = remaining
    results[1] = resetAt
    results[2] = 0
    return true
  }

  /** The rest of `decideOneInto` when nothing is written: a denial, a peek or a cost of 0. */
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
    if (!allowed && !stepped.never) this.#blocked.set(memKey, now + stepped.retryAfterMs)
    if (value !== undefined) this.#remember(memKey, value)
    let out = stepped
    if (!charge && cost > 0) {
      // A peek reports the uncharged state (the retry above stays the charge's).
      out = this.#outs[0]
      policy.step(this.#stateOf(value), 0, now, out)
    }
    results[0] = out.remaining
    results[1] = out.resetAt
  }

  /** `decideInto` for several policies: all are stepped before any is written, so a denial charges none. */
  #decideMany(
    keys: readonly string[],
    policies: readonly Policy[],
    cost: number,
    now: number,
    charge: boolean,
    results: number[],
  ): boolean {
    this.#checkOpen()
    if (now > this.#lastNow) this.#lastNow = now
    this.#forget()
    const n = policies.length
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
      const state = typeof value === 'number' ? this.#pool[value] : value
      memKeys[i] = memKey
      values[i] = value
      states[i] = state
      policy.step(state, cost, now, outs[i])
      if (!outs[i].allowed) {
        allowed = false
        if (!outs[i].never) this.#blocked.set(memKey, now + outs[i].retryAfterMs)
      }
    }
    for (let i = 0; i < n; i++) {
      const out = outs[i]
      if (charge && allowed && cost > 0) {
        this.#write(memKeys[i], policies[i], out.state, values[i])
      } else if (out.allowed && cost > 0) {
        // Nothing is charged: report the admitting policies' uncharged state.
        policies[i].step(states[i], 0, now, out)
      }
      results[3 * i] = out.remaining
      results[3 * i + 1] = out.resetAt
      results[3 * i + 2] = out.allowed ? 0 : out.retryAfterMs
      states[i] = undefined
      values[i] = undefined
    }
    return allowed
  }

  #forget(): void {
    this.#mruKey = NO_KEY
  }

  #remember(memKey: string, value: Value): void {
    this.#mruKey = memKey
    this.#mruValue = value
  }

  /**
   * Stores a new state for an entry whose current LRU value is `value` (undefined: new entry),
   * or drops it when the state is fresh again, making room first for a new entry. Returns the
   * entry's LRU value now (undefined: dropped).
   */
  #write(memKey: string, policy: Policy, state: PolicyState | undefined, value: Value | undefined): Value | undefined {
    const cache = this.#cache
    if (state === undefined) {
      if (value !== undefined) cache.delete(memKey)
      if (this.#blocked.size !== 0) this.#blocked.delete(memKey)
      return undefined
    }
    if (typeof state === 'number' && typeof value === 'number') {
      // Token bucket already stored: update its slot in place.
      this.#pool[value] = state
      return value
    }
    if (value === undefined) {
      if (!this.#policyOfSlot.has(policy.slot)) this.#policyOfSlot.set(policy.slot, policy)
      if (cache.size >= this.maxKeys) this.#makeRoom()
    }
    if (typeof state === 'number') {
      const slot = this.#takeSlot()
      this.#pool[slot] = state
      cache.set(memKey, slot, this.#lruOptions)
      return slot
    }
    cache.set(memKey, state, this.#lruOptions)
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
   * Evicts one entry. Walks from the least recently used end past entries that are still
   * blocked (at most as many as are blocked, plus one) and evicts the first that is not; the
   * blocked ones it passed move to the front so the next walk doesn't meet them again. If every
   * entry is blocked, the one whose block ends soonest goes, and the `evicted` event says so.
   */
  #makeRoom(): void {
    this.#forget()
    const cache = this.#cache
    const blocked = this.#blocked
    const now = this.#lastNow
    let steps = blocked.size + 1
    const passed: string[] = []
    let victim: string | undefined
    for (const memKey of cache.rkeys()) {
      const until = blocked.get(memKey)
      if (until === undefined || until <= now) {
        victim = memKey
        break
      }
      passed.push(memKey)
      if (--steps <= 0) break
    }
    for (const memKey of passed) cache.get(memKey)
    if (victim !== undefined) {
      blocked.delete(victim)
      cache.delete(victim)
      return
    }
    // Every entry is blocked: evict the one whose block ends soonest.
    let soonest = Number.POSITIVE_INFINITY
    for (const [memKey, until] of blocked) {
      if (!cache.has(memKey)) {
        blocked.delete(memKey)
      } else if (until < soonest) {
        soonest = until
        victim = memKey
      }
    }
    if (victim === undefined) {
      const lru = cache.rkeys().next()
      if (!lru.done) cache.delete(lru.value)
      return
    }
    blocked.delete(victim)
    cache.delete(victim)
    this.#events?.evicted?.({ key: this.#subjectOf(victim), blockedUntil: soonest })
  }
}
