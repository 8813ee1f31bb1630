import type { Decision } from './decision.js'
import { DecisionRecord, NO_NAMES } from './decision-record.js'
import { ConfigurationError, invalidAtRequest } from './errors.js'
import { requestWith, type StoreCall } from './layers.js'
import { hasConcurrency, type Policy } from './policy.js'
import { invalidInCall } from './policy-list.js'
import { checkOwn, type RefundContext, refund } from './refund.js'
import type { Store, StoreEvents, StoreRequest, StoreResult } from './store.js'
import type { StoreEventHub, StoreListener } from './store-events.js'
import { encodeSubject } from './subject.js'
import { isThenable, RESOLVED } from './thenable.js'

/** What `release` and `settle` need of their limiter, beyond what `refund` does. */
export interface SettleContext extends RefundContext {
  /** Admitted decisions that took a lease: the call that took it. */
  readonly leases: WeakMap<Decision, StoreCall>
  /** The limiter was closed: its leases expire on their own. */
  readonly isClosed: () => boolean
  /** The limiter's ledger as a whole: the owner of its fast-path leases. */
  readonly ledger: object
  /** The limiter's own concurrency policies: what a lease taken on the fast path (no options, no layers) is released in. */
  readonly leasePolicies: readonly Policy[]
  /** The events given to stores with every request. */
  readonly events: StoreEvents
  /** A decision's leases are being given back (the `released` event). */
  readonly released: (decision: Decision) => void
  /** The store's event hub: a release through `Store.releaseLease` is this limiter's call while it runs, as `ask` makes one. */
  readonly hub: StoreEventHub
  /** This limiter, as the hub's listener. */
  readonly self: StoreListener
  /** The store's health: an answer ends an outage, as `ask` does with one. */
  readonly health: { readonly failing: boolean; calm(): void; warn(info: { code: string; message: string }): void }
  /** What `ask` does with a failure of the store: `onStoreError` applied (a refund's: reported, nothing else). */
  readonly recover: (call: StoreCall, error: unknown) => Decision | Promise<Decision>
  /** The limiter's events: a release is asked of the store as any call when someone times store calls. */
  readonly emitter: { readonly any: boolean; has(event: 'store-call'): boolean }
  /** The deadline the limiter gives the store's calls, ms (0: the store has its own, `Store.timeoutMs`). */
  readonly storeDeadline: number
}

/**
 * What a store's answer to a release (a refund carrying its lease) becomes: `release` resolves to
 * nothing, so no decision is built from the answer, which nobody reads.
 */
export const RELEASE_ANSWER: Decision = Object.freeze(
  new DecisionRecord(true, 'ok', '', 0, 0, 0, 0, 0, NO_NAMES, 0, undefined, undefined, undefined, [], undefined, undefined, undefined),
)

/** Every check of the request is a concurrency one. */
function onlyLeases(request: StoreRequest): boolean {
  const list = request.policies
  for (let i = 0; i < list.length; i++) if (list[i].kind !== 'concurrency') return false
  return true
}

/** The leases a request takes: one per concurrency policy, under one number. */
export function needsLease(request: StoreRequest): boolean {
  return hasConcurrency(request.policies)
}

// Lease numbers: random 53-bit integers, so that two processes sharing a store never collide in
// practice (a collision needs two live leases of one subject drawn alike: about 1 in 2^53 each).
const HIGH = 2 ** 21
const LOW = 2 ** 32

/** A new lease number. */
export function newLease(): number {
  return Math.floor(Math.random() * HIGH) * LOW + Math.floor(Math.random() * LOW)
}

/**
 * `limiter.release()`: gives back the leases the decision took, in the store that granted them.
 * Only the concurrency policies are asked (a release is a refund of the lease alone), and only
 * once: a second release, a decision without a lease, or one made by a closed limiter does
 * nothing. Never rejects for a store failure, which the limiter reports as `store-error`; the
 * lease then expires after its `leaseMs`.
 */
export function release(context: SettleContext, decision: Decision): Promise<void> {
  if (typeof decision !== 'object' || decision === null) {
    invalidAtRequest('limiter.release()', 'decision', 'must be a decision returned by this limiter', decision)
  }
  // Taken on the limiter's fast path: kept by the decision itself, given back to the store that took it.
  const lease = DecisionRecord.takeLease(decision, context.ledger)
  if (lease !== undefined) {
    context.released(decision)
    if (context.isClosed()) return RESOLVED
    const subject = encodeSubject('limiter.release()', decision.key)
    const s = context.store
    if (releasesLeases(s)) return releaseLeaseIn(context, s, decision, subject, lease)
    // A queued release has no deadline of the limiter's: only a store with its own deadline queues them.
    if (
      queuesReleases(s) &&
      context.storeDeadline === 0 &&
      !context.health.failing &&
      !(context.emitter.any && context.emitter.has('store-call'))
    ) {
      return queueReleaseIn(context, s, decision, subject, lease)
    }
    const done = context.ask(s, leaseRefund(context, decision, subject, lease, context.now()))
    return isThenable(done) ? done.then(noop) : RESOLVED
  }
  const call = context.leases.get(decision)
  if (call === undefined) return RESOLVED
  context.leases.delete(decision)
  context.released(decision)
  if (context.isClosed()) return Promise.resolve()
  const { request, layerOf } = call
  let back: StoreRequest
  let layers = layerOf
  if (onlyLeases(request)) back = requestWith(request, request.cost, context.now(), request.lease)
  else {
    // The concurrency checks alone: a refund with the lease would give the rate policies' cost back too.
    const keys: string[] = []
    const policies: StoreRequest['policies'][number][] = []
    const kept: (string | undefined)[] | undefined = layerOf === undefined ? undefined : []
    for (let i = 0; i < request.policies.length; i++) {
      if (request.policies[i].kind !== 'concurrency') continue
      keys.push(request.keys[i])
      policies.push(request.policies[i])
      kept?.push(layerOf?.[i])
    }
    back = { keys, policies, cost: request.cost, now: context.now(), tag: request.tag, events: request.events, lease: request.lease }
    layers = kept
  }
  const target = context.fallback !== undefined && context.chargedByFallback.has(decision) ? context.fallback : context.store
  const done = context.ask(target, { mode: 'refund', key: call.key, request: back, layerOf: layers, tier: call.tier, at: decision.at })
  return Promise.resolve(done).then(noop)
}

function noop(): void {}

/** A store with the synchronous fast path of a release (see `Store.releaseLease`). */
type LeaseReleasingStore = Store & Required<Pick<Store, 'releaseLease'>>

/** Only beside `consumeInto`, as documented: a store without it gives its leases back through `refund` (which may be asynchronous). */
function releasesLeases(s: Store): s is LeaseReleasingStore {
  return typeof s.releaseLease === 'function' && typeof s.consumeInto === 'function'
}

/** The refund that gives a fast-path lease back: the lease alone, in the limiter's concurrency policies, for the decision's subject. */
function leaseRefund(context: SettleContext, decision: Decision, subject: string, lease: number, now: number): StoreCall {
  const policies = context.leasePolicies
  // One policy (the common case): a literal, not `fill` (a call into the runtime).
  const keys = policies.length === 1 ? [subject] : new Array<string>(policies.length).fill(subject)
  const request: StoreRequest = { keys, policies, cost: 1, now, tag: subject, events: context.events, lease }
  return { mode: 'refund', key: decision.key, request, layerOf: undefined, tier: undefined, at: decision.at }
}

/**
 * A fast-path lease given back through the store's own fast path (`Store.releaseLease`): no
 * request, no answer, no promise. Everything else is as `ask` does it: the call's events are this
 * limiter's, an answer ends an outage, a failure is recovered from.
 */
function releaseLeaseIn(context: SettleContext, s: LeaseReleasingStore, decision: Decision, subject: string, lease: number): Promise<void> {
  const hub = context.hub
  const previous = hub.current
  hub.current = context.self
  const t = context.now()
  try {
    s.releaseLease(subject, context.leasePolicies, lease, decision.at, t)
  } catch (error) {
    hub.current = previous
    return releaseFailed(context, decision, subject, lease, t, error)
  }
  hub.current = previous
  if (context.health.failing) context.health.calm()
  return RESOLVED
}

/** A store that queues releases (see `Store.queueRelease`). */
type ReleaseQueueingStore = Store & Required<Pick<Store, 'queueRelease'>>

function queuesReleases(s: Store): s is ReleaseQueueingStore {
  return typeof s.queueRelease === 'function'
}

/**
 * A lease the store took for the limiter's own policies, given back through the store's queue
 * (`Store.queueRelease`): no request, answer or promise of its own. A failure the store finds at
 * once is recovered from as in {@link releaseLeaseIn}; one it finds later is reported as a
 * `store-error`, as `ask` reports a failed refund (the lease then expires after its `leaseMs`).
 */
function queueReleaseIn(
  context: SettleContext,
  s: ReleaseQueueingStore,
  decision: Decision,
  subject: string,
  lease: number,
): Promise<void> {
  const hub = context.hub
  const previous = hub.current
  hub.current = context.self
  const t = context.now()
  const failed = (error: unknown): void => {
    // recover() rethrows a ConfigurationError, for a caller to see: nobody awaits this failure, so it is a warning.
    if (error instanceof ConfigurationError)
      context.health.warn({ code: 'RK_RELEASE_FAILED', message: `limiter.release(): ${error.message}` })
    else context.recover(leaseRefund(context, decision, subject, lease, t), error)
  }
  try {
    const done = s.queueRelease(subject, context.leasePolicies, lease, decision.at, t, failed)
    hub.current = previous
    return guarded(context, done)
  } catch (error) {
    hub.current = previous
    return releaseFailed(context, decision, subject, lease, t, error)
  }
}

/** A fast-path release the store failed at once: recovered from as a failed refund of that lease (a `store-error`). */
function releaseFailed(
  context: SettleContext,
  decision: Decision,
  subject: string,
  lease: number,
  t: number,
  error: unknown,
): Promise<void> {
  const done = context.recover(leaseRefund(context, decision, subject, lease, t), error)
  return isThenable(done) ? done.then(noop) : RESOLVED
}

// The last promise a store's queueRelease returned, and what the limiter made of it: the releases
// queued together share both (one guard per group, not per release). Cleared once it settles.
let guardSource: unknown
let guardContext: SettleContext | undefined
let guard: Promise<void> = RESOLVED

/**
 * What `limiter.release()` returns for a queued release: the store's promise, made safe. A release
 * never rejects (an adapter never awaits one, so a rejection would go unhandled): a store's promise
 * that rejects anyway is told as a warning, once per promise. Anything else it returns (not a
 * promise) counts as done.
 */
function guarded(context: SettleContext, done: unknown): Promise<void> {
  if (done === guardSource && context === guardContext) return guard
  const settled = (): void => {
    if (guardSource === done) {
      guardSource = undefined
      guardContext = undefined
    }
  }
  guardSource = done
  guardContext = context
  guard = Promise.resolve(done).then(settled, (error: unknown) => {
    settled()
    const message = error instanceof Error ? error.message : String(error)
    context.health.warn({
      code: 'RK_RELEASE_FAILED',
      message: `limiter.release(): the store's queueRelease() promise rejected (${message}); it must fulfil, and pass a failure to failed`,
    })
  })
  return guard
}

/** `limiter.release()`: {@link release}, its throw (a bad argument) as a rejection; no closure per call. */
export function releasing(context: SettleContext, decision: Decision): Promise<void> {
  try {
    return release(context, decision)
  } catch (error) {
    return Promise.reject(error)
  }
}

/**
 * `limiter.settle()`: the decision reserved its `cost` as an estimate; `actualCost` is what the
 * request really cost. Less gives the difference back (as `refund` would: into the window
 * charged, never above capacity); more charges the difference whatever the policies' state (they
 * may go into debt, which later requests wait out). Leases are untouched (see `release`). Once
 * per decision, into the store that charged it; a decision that charged nothing, was refunded
 * or was settled already changes nothing, and the call reports the current state.
 */
export function settle(context: SettleContext, decision: Decision, actualCost: unknown): Decision | Promise<Decision> {
  const where = 'limiter.settle()'
  if (typeof decision !== 'object' || decision === null || typeof decision.key !== 'string') {
    invalidAtRequest(where, 'decision', 'must be a decision returned by this limiter', decision)
  }
  if (typeof actualCost !== 'number' || !Number.isInteger(actualCost) || actualCost < 0 || actualCost > 1_000_000_000) {
    invalidInCall(where, 'actualCost', 'must be an integer from 0 to 1000000000', actualCost)
  }
  const key = decision.key
  const charged = decision.allowed === true && decision.reason === 'ok' && !context.refunded.has(decision) && !context.looked.has(decision)
  if (charged) checkOwn(context, where, decision)
  const diff = actualCost - decision.cost
  // Nothing charged or already given back, or exactly the estimate: refund() reports the state (and, for
  // a charged decision, marks it given back so that a second settle or refund changes nothing).
  if (!charged || diff <= 0) {
    const done = refund(context, key, { decision, cost: charged ? -diff : 0 })
    // Settled, even when refund() found nothing to give back (a reservation of 0 settled at 0).
    if (charged) context.refunded.add(decision)
    return done
  }
  context.refunded.add(decision)
  const target = context.fallback !== undefined && context.chargedByFallback.has(decision) ? context.fallback : context.store
  const with_ = context.chargedWith.get(decision)
  if (with_ === undefined) {
    return context.run({ mode: 'charge', where, key, options: { cost: diff, tier: decision.tier }, target })
  }
  const extra = requestWith(with_.request, diff, context.now(), undefined)
  return context.ask(target, { mode: 'charge', key, request: extra, layerOf: with_.layerOf, tier: decision.tier, at: undefined })
}

/** Stores already warned that they have no `charge`. */
const warnedNoCharge = new WeakSet<Store>()

/**
 * A settled cost's extra, charged whatever the state (`Store.charge`); on a store without
 * `charge`, with `consume` — which admits it only if it fits — and a warning, once per store.
 */
export function chargeIn(
  s: Store,
  request: StoreRequest,
  health: { warn(info: { code: string; message: string }): void },
): StoreResult | Promise<StoreResult> {
  if (typeof s.charge === 'function') return s.charge(request)
  if (!warnedNoCharge.has(s)) {
    warnedNoCharge.add(s)
    health.warn({
      code: 'RK_STORE_NO_CHARGE',
      message:
        'limiter.settle(): the store has no charge() method, so an actual cost above its estimate is charged with consume(), which admits it only if it fits: the rest is not counted. Use a store with charge() (MemoryStore, RedisStore, casStore) for exact settling.',
    })
  }
  return s.consume(request)
}
