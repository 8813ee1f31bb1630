import { LOOK } from '../../limiter/algorithms/concurrency.js'
import { StoreError } from '../../limiter/errors.js'
import type { Policy, PolicyState, StepOutcome } from '../../limiter/policy.js'
import { hasConcurrency, newOutcome } from '../../limiter/policy.js'
import type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from '../../limiter/store.js'
import { policySlot } from '../policy-slot.js'
import { blockReasonIn } from './block-reason.js'
import { decideLimited } from './decide-limited.js'
import { type Adjustment, Entries, type Value } from './entries.js'
import { acquireOne, releaseOne } from './leased.js'
import { checkFits, type MemoryStoreOptions, memoryStoreOptions } from './options.js'

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
 * It implements the store contract's fast path (`consumeInto`): a limiter's commonest call
 * builds no request or result objects.
 * @example
 * const limiter = createLimiter({ store: new MemoryStore({ maxKeys: 100_000 }), policies })
 */
export class MemoryStore implements Store {
  readonly maxKeys: number
  readonly #entries: Entries
  #closed = false
  // Scratch space reused across calls: the store is synchronous, so one set suffices.
  #outs: StepOutcome[] = [newOutcome()]
  /** Where a charge on a stored token bucket steps: its `state` only ever holds numbers, and with its properties in another order it has a hidden class of its own, so the engine updates that number in place instead of allocating a boxed one per decision (window states share `#outs`). */
  #bucketOut: StepOutcome = { state: 0, allowed: false, never: false, remaining: 0, resetAt: 0, retryAfterMs: 0, ttlMs: 0 }
  #memKeys: string[] = []
  #subjectKeys: string[] = [] // `consumeInto`'s subject, once per policy
  #states: (PolicyState | undefined)[] = []
  #values: (Value | undefined)[] = []
  /** A policy whose entries are keyed by the bare subject (see EntryKeys), once `#decideOne` has met it: the commonest decision finds its entry key with one comparison. */
  #barePolicy: Policy | undefined = undefined

  constructor(options: MemoryStoreOptions = {}) {
    this.maxKeys = memoryStoreOptions('new MemoryStore()', options).maxKeys
    this.#entries = new Entries(this.maxKeys)
  }

  /** Number of entries held now. */
  get size(): number {
    return this.#entries.size
  }

  /** Entries held, dormant ones included (concurrency entries without a lease, which `size` leaves out): what `maxKeys` bounds. @internal */
  get held(): number {
    return this.#entries.held
  }

  /**
   * Entries visited or moved to make room and to keep limited entries in order, since
   * construction: the work eviction has cost. Tests hold it flat whatever the store holds. @internal
   */
  get evictionSteps(): number {
    return this.#entries.steps
  }

  attach(events: StoreEvents): void {
    this.#entries.attach(events)
  }

  consume(request: StoreRequest): StoreResult {
    return this.#answer(request, true)
  }

  peek(request: StoreRequest): StoreResult {
    return this.#answer(request, false)
  }

  /** `consume` or `peek`: with a lease (a peek of concurrency checks: LOOK), by the general path, which hands it to every step. */
  #answer(request: StoreRequest, charge: boolean): StoreResult {
    const { keys, policies, cost, now } = request
    const results = new Array<number>(3 * policies.length)
    const lease = request.lease ?? (!charge && hasConcurrency(policies) ? LOOK : undefined)
    const allowed =
      lease === undefined
        ? this.#decide(keys, policies, cost, now, charge, results)
        : this.#decideMany(keys, policies, cost, now, charge, results, lease)
    const reason = allowed ? undefined : blockReasonIn(this.#entries, keys, policies, now, results)
    return reason === undefined ? { allowed, now, results } : { allowed, now, results, reason }
  }

  /**
   * The store's fast path (see `Store.consumeInto`): `consume` of one subject, into `results`.
   * Kept this small so that the engine inlines it into the limiter whatever else it inlines there.
   */
  consumeInto(subject: string, policies: readonly Policy[], cost: number, now: number, results: number[], lease?: number): boolean {
    if (policies.length !== 1 || policies[0].shadow) return this.#consumeMany(subject, policies, cost, now, results, lease)
    return lease === undefined
      ? this.#decideOne(subject, policies[0], cost, now, true, results)
      : this.#acquireOne(subject, policies, cost, now, results, lease)
  }

  /** `consumeInto` of one policy with a lease: a concurrency one alone takes its slot without the general path's arrays. */
  #acquireOne(subject: string, policies: readonly Policy[], cost: number, now: number, results: number[], lease: number): boolean {
    const policy = policies[0]
    if (policy.kind !== 'concurrency') return this.#consumeMany(subject, policies, cost, now, results, lease)
    this.#checkOpen()
    return acquireOne(this.#entries, this.#memKeyOf(policy, subject), policy, cost, now, this.#outs[0], results, lease)
  }

  /** `consumeInto` on several policies, all for the one subject, or with a lease (concurrency policies). */
  #consumeMany(subject: string, policies: readonly Policy[], cost: number, now: number, results: number[], lease?: number): boolean {
    const keys = this.#subjectKeys
    for (let i = 0; i < policies.length; i++) keys[i] = subject
    return this.#decideMany(keys, policies, cost, now, true, results, lease)
  }

  refund(request: StoreRefundRequest): StoreResult {
    const { cost, chargedAt, now, lease, charged } = request
    const policy = request.policies[0]
    // A release of one concurrency policy (the commonest refund): without the general path's closure and arrays, when the LRU holds its entry.
    if (lease !== undefined && request.policies.length === 1 && policy.kind === 'concurrency') {
      this.#checkOpen()
      const results = new Array<number>(3)
      const memKey = this.#memKeyOf(policy, request.keys[0])
      if (releaseOne(this.#entries, memKey, policy, cost, chargedAt, now, lease, charged, this.#outs[0], results))
        return { allowed: true, now, results }
    }
    return this.#adjust(request, (policy, state, out) => policy.refund(state, cost, chargedAt, now, out, lease, charged))
  }

  /** The store's fast path of a release (see `Store.releaseLease`): `refund` of the lease, without the request and the answer. */
  releaseLease(subject: string, policies: readonly Policy[], lease: number, chargedAt: number, now: number): void {
    const policy = policies[0]
    if (policies.length === 1 && policy.kind === 'concurrency') {
      this.#checkOpen()
      if (releaseOne(this.#entries, this.#memKeyOf(policy, subject), policy, 1, chargedAt, now, lease, undefined, this.#outs[0], undefined))
        return
    }
    this.refund({ keys: policies.map(() => subject), policies, cost: 1, now, tag: subject, lease, chargedAt })
  }

  /** Charges every check whatever its state (`Store.charge`: a settled cost's extra). */
  charge(request: StoreRequest): StoreResult {
    const { cost, now } = request
    return this.#adjust(request, (policy, state, out) => policy.charge(state, cost, now, out))
  }

  reset(request: StoreRequest): void {
    this.#checkOpen()
    const entries = this.#entries
    entries.forget()
    const { keys, policies } = request
    for (let i = 0; i < policies.length; i++) entries.delete(entries.keys.of(policySlot(policies[i]), keys[i]))
  }

  close(): void {
    this.#closed = true
    this.#entries.clear()
  }

  /** Drops every entry whose state is fresh again, and moves limited entries whose block has ended back among the others. Optional: memory is bounded without it. */
  prune(now: number = Date.now()): number {
    return this.#entries.prune(now)
  }

  /** A refund or a charge: every check's state changed by `apply`, which always admits. */
  #adjust(request: StoreRequest, apply: Adjustment): StoreResult {
    this.#checkOpen()
    checkFits(this.maxKeys, request.policies.length)
    return {
      allowed: true,
      now: request.now,
      results: this.#entries.adjust(request.keys, request.policies, request.now, apply, this.#memKeys),
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('ERR_RK_CLOSED', 'MemoryStore: used after close()')
  }

  /** `consume` (charge) or `peek` into `results`, three numbers per check; returns whether the request is admitted. */
  #decide(keys: readonly string[], policies: readonly Policy[], cost: number, now: number, charge: boolean, results: number[]): boolean {
    return policies.length === 1 && !policies[0].shadow
      ? this.#decideOne(keys[0], policies[0], cost, now, charge, results)
      : this.#decideMany(keys, policies, cost, now, charge, results)
  }

  /** `#decide` for one policy, without the arrays (the hot path). */
  #decideOne(key: string, policy: Policy, cost: number, now: number, charge: boolean, results: number[]): boolean {
    const entries = this.#entries
    this.#checkOpen()
    entries.seen(now)
    const memKey = policy === this.#barePolicy ? key : this.#memKeyOf(policy, key)
    // The entry decided last is still the most recently used: looking it up again would change nothing.
    const value = entries.lookup(memKey)
    if (value === undefined && entries.heap.size !== 0) {
      const at = entries.heap.positionOf(memKey)
      if (at >= 0) return decideLimited(entries, memKey, at, policy, cost, now, charge, this.#outs[0], results)
    }
    let out = this.#outs[0]
    if (typeof value === 'number' && cost > 0) {
      // A charge on a stored token bucket steps from a call site of its own, which stays monomorphic
      // (so inlined, its state never boxed) when windows share this code.
      out = this.#bucketOut
      policy.step(entries.pool[value], cost, now, out)
    } else policy.step(entries.stateOf(value), cost, now, out)
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
      entries.pool[value] = next
      entries.remember(memKey, value)
    } else {
      // A written entry was set last (the most recently used), unless it is limited or dropped.
      entries.write(memKey, policy, next, remaining, now, value, -1)
    }
    // Written last: an `evicted` listener above may have decided on this store (and its scratch).
    results[0] = remaining
    results[1] = resetAt
    results[2] = 0
    return true
  }

  /** The entry key of (policy, subject); remembers a policy whose entries are keyed by the bare subject. */
  #memKeyOf(policy: Policy, subject: string): string {
    if (policy === this.#barePolicy) return subject
    const memKey = this.#entries.keys.of(policySlot(policy), subject)
    if (memKey === subject) this.#barePolicy = policy
    return memKey
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
    const entries = this.#entries
    const allowed = stepped.allowed
    results[2] = allowed ? 0 : stepped.retryAfterMs
    if (!allowed && charge && !stepped.never && value !== undefined) entries.protect(memKey, value, now + stepped.retryAfterMs)
    else if (value !== undefined) entries.remember(memKey, value)
    let out = stepped
    if (!charge && cost > 0) {
      // A peek reports the uncharged state (the retry above stays the charge's).
      out = this.#outs[0]
      policy.step(entries.stateOf(value), 0, now, out)
    }
    results[0] = out.remaining
    results[1] = out.resetAt
  }

  /** Writes check `i` of the request `#decideMany` decides. */
  #put(i: number, policy: Policy, out: StepOutcome, now: number): void {
    const at = this.#values[i] === undefined ? this.#entries.heap.positionOf(this.#memKeys[i]) : -1
    this.#entries.put(this.#memKeys[i], policy, out.state, out.remaining, now, this.#values[i], at)
  }

  /** `#decide` for several policies (or a shadow one): all stepped before any is written; shadow ones never deny, written only if all admit. */
  #decideMany(
    keys: readonly string[],
    policies: readonly Policy[],
    cost: number,
    now: number,
    charge: boolean,
    results: number[],
    lease?: number,
  ): boolean {
    this.#checkOpen()
    const n = policies.length
    checkFits(this.maxKeys, n)
    this.#entries.seen(now)
    this.#entries.forget()
    const outs = this.#outs
    while (outs.length < n) outs.push(newOutcome())
    const memKeys = this.#memKeys
    const states = this.#states
    const values = this.#values
    let allowed = true
    let boxed = false
    let shadowsAdmit = true
    for (let i = 0; i < n; i++) {
      const policy = policies[i]
      const memKey = this.#entries.keys.of(policySlot(policy), keys[i])
      const value = this.#entries.get(memKey)
      let state: PolicyState | undefined
      if (value !== undefined) state = typeof value === 'number' ? this.#entries.pool[value] : value
      else if (this.#entries.heap.size !== 0) {
        const at = this.#entries.heap.positionOf(memKey)
        if (at >= 0) state = this.#entries.heap.states[at]
      }
      memKeys[i] = memKey
      values[i] = value
      states[i] = state
      policy.step(state, cost, now, outs[i], lease)
      if (!outs[i].allowed) policy.shadow ? (shadowsAdmit = false) : policy.offence ? (boxed = true) : (allowed = false)
    }
    // Denied by a policy other than a penalty box: an offence for every box that admitted.
    const offended = charge && !allowed && cost > 0
    allowed &&= !boxed
    // A consume with a lease writes its concurrency checks whatever the cost (a slot is not a cost).
    const write = charge && allowed && (cost > 0 || lease !== undefined)
    // While this request's entries are written, making room for one never evicts another.
    if (write || offended) this.#entries.pin(memKeys, n)
    for (let i = 0; i < n; i++) {
      const out = outs[i]
      if (offended && out.allowed && policies[i].offence !== undefined) {
        policies[i].offence?.(states[i], now, out)
        this.#put(i, policies[i], out, now)
      } else if (write && (cost > 0 || policies[i].kind === 'concurrency') && (shadowsAdmit || !policies[i].shadow)) {
        this.#put(i, policies[i], out, now)
      } else if (!out.allowed) {
        // A full concurrency limit stays protected while its leases live (until the last expires).
        const until = policies[i].kind === 'concurrency' ? out.resetAt : now + out.retryAfterMs
        if (charge && !out.never) this.#entries.protect(memKeys[i], values[i], until)
      } else if (cost > 0 || lease !== undefined) {
        // Nothing is charged: report the admitting policies' uncharged state (a look, taking no slot).
        policies[i].step(states[i], 0, now, out)
      }
      results[3 * i] = out.remaining
      results[3 * i + 1] = out.resetAt
      results[3 * i + 2] = out.allowed ? 0 : out.retryAfterMs
      states[i] = values[i] = undefined
    }
    this.#entries.unpin()
    this.#entries.flush()
    return allowed
  }
}
