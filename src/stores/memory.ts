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
// A bare `{}` value type for lru-cache; states are numbers or arrays.
type Value = PolicyState & {}

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
  #probe = newOutcome()
  #memKeys: string[] = []
  /** Latest request time seen: blocks are compared in the callers' clock, which tests inject. */
  #lastNow = 0
  #states: (PolicyState | undefined)[] = []

  constructor(options: MemoryStoreOptions = {}) {
    const where = 'new MemoryStore()'
    if (typeof options !== 'object' || options === null) invalid(where, 'options', 'must be an object', options)
    checkKnownOptions(where, options, KNOWN)
    this.maxKeys = options.maxKeys === undefined ? 100_000 : checkInteger(where, 'maxKeys', options.maxKeys, 1, 100_000_000)
    this.#cache = new LRUCache<string, Value>({ max: this.maxKeys })
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

  /** Number of entries held now. */
  get size(): number {
    return this.#cache.size
  }

  attach(events: StoreEvents): void {
    this.#events = events
  }

  consume(request: StoreRequest): StoreResult {
    return this.#decide(request, true)
  }

  peek(request: StoreRequest): StoreResult {
    return this.#decide(request, false)
  }

  refund(request: StoreRefundRequest): StoreResult {
    this.#checkOpen()
    const { keys, policies, cost, now, chargedAt } = request
    const n = policies.length
    const results = new Array<number>(3 * n)
    const out = this.#probe
    for (let i = 0; i < n; i++) {
      const policy = policies[i]
      const memKey = this.#memKey(policy.slot, keys[i])
      policy.refund(this.#cache.peek(memKey, this.#lruOptions), cost, chargedAt, now, out)
      this.#write(memKey, policy, out.state, false)
      results[3 * i] = out.remaining
      results[3 * i + 1] = out.resetAt
      results[3 * i + 2] = 0
      this.#blocked.delete(memKey)
    }
    return { allowed: true, now, results }
  }

  reset(request: StoreRequest): void {
    this.#checkOpen()
    const { keys, policies } = request
    for (let i = 0; i < policies.length; i++) {
      const memKey = this.#memKey(policies[i].slot, keys[i])
      this.#cache.delete(memKey)
      this.#blocked.delete(memKey)
    }
  }

  close(): void {
    this.#closed = true
    this.#cache.clear()
    this.#blocked.clear()
  }

  /** Drops every entry whose state is fresh again. Optional: memory is bounded without it. */
  prune(now: number = Date.now()): number {
    let dropped = 0
    const probe = this.#probe
    for (const [memKey, state] of this.#cache.entries()) {
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

  #decide(request: StoreRequest, charge: boolean): StoreResult {
    this.#checkOpen()
    const { keys, policies, cost, now } = request
    if (now > this.#lastNow) this.#lastNow = now
    const n = policies.length
    const cache = this.#cache
    const results = new Array<number>(3 * n)

    if (n === 1) {
      // The common case, without the scratch arrays.
      const policy = policies[0]
      const memKey = this.#memKey(policy.slot, keys[0])
      const state = cache.peek(memKey, this.#lruOptions)
      const out = this.#outs[0]
      policy.step(state, cost, now, out)
      const allowed = out.allowed
      if (!allowed && !out.never) this.#blocked.set(memKey, now + out.retryAfterMs)
      if (charge && allowed && cost > 0) {
        this.#write(memKey, policy, out.state, state === undefined)
        if (this.#blocked.size !== 0) this.#blocked.delete(memKey)
      } else if (!charge && cost > 0) policy.step(state, 0, now, out)
      results[0] = out.remaining
      results[1] = out.resetAt
      results[2] = allowed ? 0 : out.retryAfterMs
      return { allowed, now, results }
    }

    const outs = this.#outs
    while (outs.length < n) outs.push(newOutcome())
    const memKeys = this.#memKeys
    const states = this.#states
    let allowed = true
    for (let i = 0; i < n; i++) {
      const policy = policies[i]
      const memKey = this.#memKey(policy.slot, keys[i])
      const state = cache.peek(memKey, this.#lruOptions)
      memKeys[i] = memKey
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
        this.#write(memKeys[i], policies[i], out.state, states[i] === undefined)
      } else if (out.allowed && cost > 0) {
        // Nothing is charged: report the admitting policies' uncharged state.
        policies[i].step(states[i], 0, now, out)
      }
      results[3 * i] = out.remaining
      results[3 * i + 1] = out.resetAt
      results[3 * i + 2] = out.allowed ? 0 : out.retryAfterMs
      states[i] = undefined
    }
    return { allowed, now, results }
  }

  /** Stores a new state (or drops a fresh one), making room first for a new entry. */
  #write(memKey: string, policy: Policy, state: PolicyState | undefined, isNew: boolean): void {
    const cache = this.#cache
    if (state === undefined) {
      cache.delete(memKey)
      if (this.#blocked.size !== 0) this.#blocked.delete(memKey)
      return
    }
    if (isNew) {
      if (!this.#policyOfSlot.has(policy.slot)) this.#policyOfSlot.set(policy.slot, policy)
      if (cache.size >= this.maxKeys && !cache.has(memKey)) this.#makeRoom()
    }
    cache.set(memKey, state as Value, this.#lruOptions)
  }

  /**
   * Evicts one entry. Walks from the least recently used end past entries that are still
   * blocked (at most as many as are blocked, plus one) and evicts the first that is not; the
   * blocked ones it passed move to the front so the next walk doesn't meet them again. If every
   * entry is blocked, the one whose block ends soonest goes, and the `evicted` event says so.
   */
  #makeRoom(): void {
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
