import { hasPenaltyBox } from './algorithms/penalty-box.js'
import { blockIn } from './block.js'
import { hasOwnDeadline, malformedAnswer, wellFormed, withDeadline } from './deadline.js'
import type { Decision } from './decision.js'
import { DecisionRecord, decidedByFallback, decisionOf, NO_NAMES, storeErrorDecision } from './decision-record.js'
import { ConfigurationError, invalid, StoreError } from './errors.js'
import { LimiterEmitter, StoreHealth } from './events.js'
import { type BuiltRequest, buildRequest, type CallPlan, type RequestContext, refundOf, requestWith, type StoreCall } from './layers.js'
import { hasLease, LeaseStore } from './lease-store.js'
import { newLedger, record } from './ledger.js'
import { checkedClock, checkLimiterOptions } from './options.js'
import { hasShadow, type Policy } from './policy.js'
import { refund } from './refund.js'
import { type ResetContext, resetKey } from './reset.js'
import { chargeIn, needsLease, newLease, RELEASE_ANSWER, releasing, type SettleContext, settle } from './settle.js'
import { timerSleep } from './sleep.js'
import type { Store, StoreEvents, StoreRequest, StoreResult } from './store.js'
import { hubOf, type StoreEventHub, type StoreListener } from './store-events.js'
import { timeStoreCall } from './store-timing.js'
import { encodeSubject } from './subject.js'
import { isThenable, promised } from './thenable.js'
import type { ConsumeOptions, Limiter, LimiterOptions, StoreErrorMode } from './types.js'
import { waitFor } from './wait.js'

/** A store with the synchronous fast path (see `Store.consumeInto`). */
type FastStore = Store & Required<Pick<Store, 'consumeInto'>>

function hasFastPath(store: Store | undefined): store is FastStore {
  return typeof store?.consumeInto === 'function'
}

/**
 * Creates a limiter whose store, and fallback store, default to `newDefaultStore()`: the kernel
 * knows no store of its own. Use `createLimiter` (`src/create-limiter.ts`), which supplies
 * `MemoryStore`.
 */
export function createLimiterWith(options: LimiterOptions, newDefaultStore: () => Store): Limiter {
  checkLimiterOptions('createLimiter()', options)
  const policies: readonly Policy[] = Object.freeze(options.policies.slice()) // its own list: see `checkOwn`
  const onStoreError: StoreErrorMode = options.onStoreError ?? 'allow'
  const ownsFallback = onStoreError === 'fallback' && options.fallback === undefined
  const fallback: Store | undefined = onStoreError === 'fallback' ? (options.fallback ?? newDefaultStore()) : undefined
  const now = options.now === undefined ? Date.now : checkedClock(options.now) // each answer checked: see checkedClock
  const base: Store = options.store ?? newDefaultStore()
  const dryRun = options.dryRun ?? false
  const nearLimit = options.nearLimit
  const timeoutMs = options.timeoutMs ?? 100
  const store: Store = hasLease(policies) ? new LeaseStore(base, now, hasOwnDeadline(base) ? 0 : timeoutMs) : base // lease-store.ts
  let closed = false
  let closing: Promise<void> | undefined // what every close() call resolves with: a second waits for the leases too
  const closeOnce = async (): Promise<void> => {
    closed = true
    storeHub.delete(self)
    fallbackHub?.delete(self)
    if (store !== base) await store.close() // gives the leases back; then the store, when the limiter made it
    if (options.store === undefined) await base.close()
    if (ownsFallback && fallback !== undefined) await fallback.close()
  }
  // An in-process store's buffer path, for the commonest call (leases drawn there; never with shadows or penalty boxes).
  const leasing = policies.some((p) => p.kind === 'concurrency')
  const fast = hasFastPath(store) && !hasShadow(policies) && !hasPenaltyBox(policies) ? store : undefined
  // The fast path's numbers for one policy; decisions don't keep it (see `consumeFast`).
  const scratchResults = [0, 0, 0]
  const emitter = new LimiterEmitter()
  // --- store events: each limiter hears what its own calls caused (see store-events.ts) ---
  const storeHub: StoreEventHub = hubOf(base)
  const health = new StoreHealth({ emitter, logger: options.logger, hub: storeHub, now: options.now ?? Date.now, onStoreError })
  const self: StoreListener = {
    evicted: (info) => emitter.emit('evicted', info),
    hear: (info) => health.hear(info),
    measured: (name, value) => {
      if (emitter.any && emitter.has('store-measure')) emitter.emit('store-measure', { name, value })
    },
  }
  const fallbackHub: StoreEventHub | undefined = fallback === undefined ? undefined : hubOf(fallback)
  storeHub.add(self)
  fallbackHub?.add(self)
  /** Given to stores with every request, for what that call causes. */
  const callEvents: StoreEvents = { evicted: self.evicted, warn: (info) => health.warn(info), measured: self.measured }
  const requests: RequestContext = { policies, now, events: callEvents }

  // --- what each store gets: a deadline unless it has its own; validation unless it is in-process ---
  const storeDeadline = hasOwnDeadline(store) ? 0 : timeoutMs
  const fallbackDeadline = fallback === undefined || hasOwnDeadline(fallback) ? 0 : timeoutMs
  const storeTrusted = fast !== undefined
  const fallbackTrusted = hasFastPath(fallback)
  /** What refund, settle and release need to know of the decisions made. */
  const ledger = newLedger()

  /** Calls the store; an event it reports meanwhile (synchronously) is this limiter's. */
  const callStore = (s: Store, hub: StoreEventHub, call: StoreCall): StoreResult | Promise<StoreResult> => {
    const previous = hub.current
    hub.current = self
    try {
      if (call.mode === 'consume') return s.consume(call.request)
      if (call.mode === 'peek') return s.peek(call.request)
      if (call.mode === 'charge') return chargeIn(s, call.request, health)
      return s.refund(refundOf(call.request, call.at ?? call.request.now, call.charged))
    } finally {
      hub.current = previous
    }
  }

  /**
   * Asks store `s` (the store, or the fallback) to decide: with a deadline when it answers with
   * a promise and enforces none of its own, its answer checked unless it is in-process.
   */
  const ask = (s: Store, call: StoreCall): Decision | Promise<Decision> => {
    const main = s === store
    let result: StoreResult | Promise<StoreResult>
    try {
      result = callStore(s, main ? storeHub : (fallbackHub as StoreEventHub), call)
    } catch (error) {
      return failed(main, call, error)
    }
    if (isThenable(result)) {
      const ms = main ? storeDeadline : fallbackDeadline
      let settled = ms > 0 ? withDeadline(result, ms) : result
      if (emitter.any && emitter.has('store-call')) settled = timeStoreCall(settled, emitter, main, call.mode)
      return settled.then(
        (answer) => answered(main, call, answer),
        (error) => failed(main, call, error),
      )
    }
    return answered(main, call, result)
  }

  /** Turns a store's answer into the decision, or into a store error when it is malformed. */
  const answered = (main: boolean, call: StoreCall, answer: StoreResult): Decision | Promise<Decision> => {
    if (!(main ? storeTrusted : fallbackTrusted) && !wellFormed(answer, call.request.policies)) {
      return failed(main, call, malformedAnswer())
    }
    if (main && health.failing) health.calm()
    if (call.mode === 'refund' && call.request.lease !== undefined) return RELEASE_ANSWER // a release's: never read, so not built
    const decision = toDecision(call, answer, main)
    record(ledger, call, decision, main, policies)
    return decision
  }

  const failed = (main: boolean, call: StoreCall, error: unknown): Decision | Promise<Decision> => {
    if (main) return recover(call, error)
    if (error instanceof ConfigurationError) throw error
    // The fallback failed too (or a refund of its own charge did): nothing left to ask.
    if (call.mode === 'refund' && emitter.any) emitter.emit('store-error', { error, key: call.key, action: onStoreError })
    return storeErrorOf(call, error)
  }

  /** Applies `onStoreError` to a failed call of the store. */
  const recover = (call: StoreCall, error: unknown): Decision | Promise<Decision> => {
    if (error instanceof ConfigurationError) throw error
    health.outage(error)
    if (emitter.any) emitter.emit('store-error', { error, key: call.key, action: onStoreError })
    // A refund goes to the store that charged, or nowhere: the fallback never charged this one.
    if (fallback !== undefined && call.mode !== 'refund') return ask(fallback, call)
    return storeErrorOf(call, error)
  }

  /** The decision of a call no store answered; a consume's is announced (and counted) like any other. */
  const storeErrorOf = (call: StoreCall, error: unknown): Decision => {
    const { key, tier, request } = call
    const allowed = onStoreError !== 'deny'
    const decision = storeErrorDecision({ key, cost: request.cost, at: request.now, tier, class: call.class, error, allowed, dryRun })
    // `decision`, and `limited` when denied; never `near-limit` (no store said how near).
    if (emitter.any && call.mode === 'consume') emitter.announce(decision, undefined)
    return decision
  }

  /** Turns a store result into a decision, and announces a consume's. */
  const toDecision = (call: StoreCall, result: StoreResult, main: boolean): Decision => {
    const { mode, request, layerOf } = call
    const decision = decisionOf({
      key: call.key,
      cost: request.cost,
      list: request.policies,
      layerOf,
      allowed: result.allowed,
      at: result.now,
      results: result.results,
      tier: call.tier,
      class: call.class,
      dryRun: dryRun && !result.allowed && mode === 'consume',
      reason: result.reason,
    })
    if (!main) decidedByFallback(decision)
    if (emitter.any && mode === 'consume') emitter.announce(decision, nearLimit)
    return decision
  }

  /** `consumeFast`'s decision on several policies: it keeps `results`, which are its own. */
  const decidedMany = (key: string, allowed: boolean, at: number, results: readonly number[], lease: number | undefined): Decision => {
    const decision = decisionOf({
      key,
      cost: 1,
      list: policies,
      layerOf: undefined,
      allowed,
      at,
      results,
      tier: undefined,
      class: undefined,
      dryRun: dryRun && !allowed,
    })
    if (lease !== undefined && allowed) DecisionRecord.holdLease(decision, lease, ledger)
    if (emitter.any) emitter.announce(decision, nearLimit)
    return decision
  }

  /** `consumeFast` when the store threw: recovered as `run` would recover the same request. */
  const fastFailed = (key: string, subject: string, t: number, lease: number | undefined, error: unknown): Decision | Promise<Decision> => {
    const keys = new Array<string>(policies.length).fill(subject)
    const request: StoreRequest = { keys, policies, cost: 1, now: t, tag: subject, events: callEvents, lease }
    return recover({ mode: 'consume', key, request, layerOf: undefined, tier: undefined, at: undefined }, error)
  }

  /**
   * The commonest call (consume, no options) on a store with the fast path: no request or result
   * objects. Its rare branches are functions of their own, so that what runs per call is small
   * enough for the engine to inline whole (the decision's constructor included).
   */
  const consumeFast = (s: FastStore, where: string, key: string): Decision | Promise<Decision> => {
    const subject = encodeSubject(where, key)
    const t = now()
    const results = policies.length === 1 ? scratchResults : new Array<number>(3 * policies.length)
    const lease = leasing ? newLease() : undefined
    let allowed: boolean
    // An eviction this call forces is this limiter's (see store-events.ts).
    const previous = storeHub.current
    storeHub.current = self
    try {
      allowed = s.consumeInto(subject, policies, 1, t, results, lease)
    } catch (error) {
      storeHub.current = previous
      return fastFailed(key, subject, t, lease, error)
    }
    storeHub.current = previous
    if (health.failing) health.calm()
    if (results !== scratchResults) return decidedMany(key, allowed, t, results, lease)
    // One policy: its numbers are the headline (no copy of the scratch kept); built here, inlined.
    const retry = results[2]
    const decision = new DecisionRecord(
      allowed,
      allowed ? 'ok' : retry < 0 ? 'exceeds-capacity' : 'limited',
      key,
      1,
      policies[0].limit,
      results[0],
      results[1],
      allowed ? 0 : retry < 0 ? Number.POSITIVE_INFINITY : retry,
      allowed || retry === 0 ? NO_NAMES : [policies[0].name],
      t,
      undefined,
      dryRun && !allowed ? true : undefined,
      undefined,
      policies,
      undefined,
      undefined,
      undefined,
    )
    if (lease !== undefined && allowed) DecisionRecord.holdLease(decision, lease, ledger)
    if (emitter.any) emitter.announce(decision, nearLimit)
    return decision
  }

  /** A `consume` that `consumeFast` does not take (kept out of the entries, which the engine inlines into their callers). */
  const consumeRun = (where: string, key: string, opts: ConsumeOptions | undefined) => run({ mode: 'consume', where, key, options: opts })

  /** A call: its store request built (its options checked), then asked of `plan.target` (default: the store). */
  const run = (plan: CallPlan): Decision | Promise<Decision> => {
    const { mode, where, key, options: opts } = plan
    if (closed) throw new StoreError('ERR_RK_CLOSED', `${where}: the limiter is closed`)
    let built: BuiltRequest
    if (opts === undefined) {
      // The common call, without the option checks; a consume of concurrency policies takes a lease (whatever its cost).
      const subject = encodeSubject(where, key)
      const keys = policies.length === 1 ? [subject] : new Array<string>(policies.length).fill(subject)
      const lease = mode === 'consume' && leasing ? newLease() : undefined
      built = { request: { keys, policies, cost: 1, now: now(), tag: subject, events: callEvents, lease }, layerOf: undefined }
    } else {
      built = buildRequest(requests, { where, key, options: opts, defaultCost: plan.defaultCost ?? 1 })
      if (mode === 'consume' && needsLease(built.request)) {
        const r = built.request
        built = { request: requestWith(r, r.cost, r.now, newLease()), layerOf: built.layerOf }
      }
    }
    const call: StoreCall = {
      mode,
      key,
      request: built.request,
      layerOf: built.layerOf,
      tier: opts?.tier,
      class: opts?.class,
      at: plan.at,
      charged: plan.charged,
    }
    return ask(plan.target ?? store, call)
  }
  const released = (d: Decision): void => void (emitter.any && emitter.emit('released', d))
  // Fast-path leases are released in the limiter's concurrency policies, for the decision's subject.
  const leasePolicies = policies.filter((p) => p.kind === 'concurrency')
  const shared = { store, fallback, policies, now, run, ask, released, ledger, leasePolicies, events: callEvents, emitter, storeDeadline }
  const refunds: SettleContext = { ...shared, ...ledger, isClosed: () => closed, hub: storeHub, self, health, recover }
  const resets: ResetContext = { store, fallback, storeHub, fallbackHub, storeDeadline, fallbackDeadline, self, health }
  const limiter: Limiter = {
    policies,
    store: base,
    onStoreError,
    dryRun,
    // The fast path when the store has one and the call passes no options (a closed limiter goes to run, which refuses).
    decide: (key, opts) =>
      opts === undefined && fast !== undefined && !closed
        ? consumeFast(fast, 'limiter.decide()', key)
        : consumeRun('limiter.decide()', key, opts),
    // decide, and one resolved promise: no async function, no closure per call.
    consume(key, opts) {
      try {
        const where = 'limiter.consume()'
        return Promise.resolve(
          opts === undefined && fast !== undefined && !closed ? consumeFast(fast, where, key) : consumeRun(where, key, opts),
        )
      } catch (error) {
        return Promise.reject(error)
      }
    },
    peek: (key, opts) => promised(() => run({ mode: 'peek', where: 'limiter.peek()', key, options: opts })),
    refund: (key, opts) => promised(() => refund(refunds, key, opts)),
    release: (decision) => releasing(refunds, decision),
    settle: (decision, actualCost) =>
      promised(() => {
        if (closed) throw new StoreError('ERR_RK_CLOSED', 'limiter.settle(): the limiter is closed')
        return settle(refunds, decision, actualCost)
      }),
    reset: (key, opts) =>
      promised(() => {
        if (closed) throw new StoreError('ERR_RK_CLOSED', 'limiter.reset(): the limiter is closed')
        return resetKey(resets, buildRequest(requests, { where: 'limiter.reset()', key, options: opts, defaultCost: 0 }).request)
      }),
    block: (key, opts) => blockIn(run, policies, 'limiter.block()', key, opts, false),
    unblock: (key, opts) => blockIn(run, policies, 'limiter.unblock()', key, opts, true),
    wait: (key, opts) => waitFor({ consume: (k, o) => limiter.consume(k, o), now, sleep: options.sleep ?? timerSleep }, key, opts),
    // Like a store's warnings: printed when nobody listens and there is no logger.
    warn: (info) => health.warn(info),
    listed: (event) => emitter.emit('listed', event),
    on: (event, listener) => {
      if (typeof listener !== 'function') invalid('limiter.on()', 'listener', 'must be a function', listener)
      return emitter.on(event, listener)
    },
    close: () => (closing ??= closeOnce()),
  }
  return limiter
}
