import type { Decision } from './decision.js'
import { DecisionRecord } from './decision-record.js'
import { invalidAtRequest } from './errors.js'
import type { BuiltRequest, CallPlan, StoreCall } from './layers.js'
import { callCost, checkCallOptions } from './options.js'
import type { Policy } from './policy.js'
import { checkPolicies, invalidInCall } from './policy-list.js'
import type { Store, StoreRequest } from './store.js'
import { encodeSubject } from './subject.js'
import type { RefundOptions } from './types.js'

/** What `refund` needs of its limiter. */
export interface RefundContext {
  readonly store: Store
  readonly fallback: Store | undefined
  /** The limiter's own policies (its copy): the list its default decisions are made with. */
  readonly policies: readonly Policy[]
  readonly now: () => number
  /** Decisions charged by the fallback store: their refunds go there. */
  readonly chargedByFallback: WeakSet<Decision>
  /** Admitted decisions made with per-call policies or layers: the request they charged. */
  readonly chargedWith: WeakMap<Decision, BuiltRequest>
  /** Decisions already given back: a second refund gives nothing. */
  readonly refunded: WeakSet<Decision>
  /** Answers of peeks, refunds, settles and blocks: admitted, with a cost, yet they charged nothing to give back. */
  readonly looked: WeakSet<Decision>
  /** Builds a call's request and asks the store. */
  readonly run: (plan: CallPlan) => Decision | Promise<Decision>
  /** Asks a store a request already built. */
  readonly ask: (store: Store, call: StoreCall) => Decision | Promise<Decision>
}

/**
 * `limiter.refund()`: gives the cost back to the store that charged the decision (the fallback
 * for its own charges), with the policies and layers it was decided with. A decision that
 * charged nothing, or was given back already, gives nothing and reports the current state.
 */
export function refund(context: RefundContext, key: string, opts: RefundOptions | undefined): Decision | Promise<Decision> {
  const where = 'limiter.refund()'
  const { fallback, run, ask, now } = context
  const decision = opts?.decision
  if (decision !== undefined && (typeof decision !== 'object' || decision === null)) {
    invalidAtRequest(where, 'decision', 'must be the decision being refunded', decision)
  }
  // `undefined` alone means "not passed": a null `at` is refused below, never read as now.
  const at = opts?.at === undefined ? decision?.at : opts.at
  if (at !== undefined && (typeof at !== 'number' || !Number.isFinite(at))) {
    invalidAtRequest(where, 'at', 'must be epoch ms (decision.at)', at)
  }
  // The key a decision charged is the only one it gives back to.
  if (decision !== undefined && typeof decision.key === 'string' && key !== decision.key) {
    invalidAtRequest(where, 'key', "must be the decision's key (a refund credits only the key that was charged)", key)
  }
  // Beside a decision, `cost` and `at` may only narrow what it charged: part of its cost, at its time.
  if (decision !== undefined && opts?.cost !== undefined && callCost(where, opts.cost) > decision.cost) {
    invalidInCall(where, 'cost', "must not exceed the decision's cost (a refund gives back at most what was charged)", opts.cost)
  }
  if (decision !== undefined && opts?.at !== undefined && opts.at !== decision.at) {
    invalidAtRequest(where, 'at', "must be the decision's at, when the decision is given (or be left out)", opts.at)
  }
  const target = decision !== undefined && fallback !== undefined && context.chargedByFallback.has(decision) ? fallback : context.store
  const cost = typeof decision?.cost === 'number' ? decision.cost : 1
  if (decision === undefined) return run({ mode: 'refund', where, key, options: opts, at, target, defaultCost: cost })
  // What the decision charged, when it was not the limiter's defaults; a shadow-limited decision's
  // record wins over `policies`/`layers` given again (its shadow policies were not charged).
  const charged =
    (opts?.policies === undefined && opts?.layers === undefined) || (decision.shadowViolated?.length ?? 0) > 0
      ? context.chargedWith.get(decision)
      : undefined
  // Charged nothing (denied, dry-run, a store error, cost 0, not a consume's) or already given back: nothing to refund.
  if (
    decision.allowed !== true ||
    decision.reason !== 'ok' ||
    decision.cost === 0 ||
    context.refunded.has(decision) ||
    context.looked.has(decision)
  ) {
    if (charged === undefined) {
      const { decision: _d, at: _at, cost: _c, ...rest } = opts as RefundOptions
      return run({ mode: 'peek', where, key, options: { ...rest, cost: 0 }, target, defaultCost: 0 })
    }
    const look: StoreRequest = { ...charged.request, cost: 0, now: now() }
    return ask(target, { mode: 'peek', key, request: look, layerOf: charged.layerOf, tier: decision.tier, at: undefined })
  }
  checkOwn(context, where, decision)
  // What it charged, whatever lists come with it: those must be the same (HTTP count modes pass them again).
  const recorded = context.chargedWith.get(decision)
  checkSameLists(context, where, opts as RefundOptions, recorded)
  context.refunded.add(decision)
  if (recorded === undefined) {
    // The limiter's own policies, for the key, under its own tag. The whole cost was charged: a token
    // bucket gives a part back out of what is left of it.
    const { decision: _d, at: _at, policies: _p, layers: _l, tag: _t, ...rest } = opts as RefundOptions
    return run({ mode: 'refund', where, key, options: rest, at, target, defaultCost: cost, charged: cost })
  }
  // The policies and layers the decision was made with, not the limiter's defaults.
  const back: StoreRequest = { ...recorded.request, cost: opts?.cost === undefined ? cost : callCost(where, opts.cost), now: now() }
  return ask(target, {
    mode: 'refund',
    key,
    request: back,
    layerOf: recorded.layerOf,
    tier: opts?.tier ?? decision.tier,
    at,
    charged: cost,
  })
}

/**
 * Throws unless the `policies` and `layers` given beside a charged decision (each checked only
 * when given) are those it charged, shadow policies aside: `recorded` (its request), or the
 * limiter's own policies for the decision's key alone. Any other list would be credited what it never paid.
 */
function checkSameLists(context: RefundContext, where: string, opts: RefundOptions, recorded: BuiltRequest | undefined): void {
  const policies = opts.policies
  const layers = opts.layers
  if (policies === undefined && layers === undefined) return
  checkCallOptions(where, opts)
  const own: string[] = []
  const layered: string[] = []
  // Shadow policies aside: a shadow-limited decision's record leaves them out (they were not charged).
  if (recorded === undefined) for (const p of context.policies) p.shadow || own.push(p.id)
  else {
    const { request, layerOf } = recorded
    for (let i = 0; i < request.policies.length; i++) {
      const p = request.policies[i]
      if (p.shadow) continue
      if (layerOf?.[i] === undefined) own.push(p.id)
      else layered.push(`${p.id}\u0000${request.keys[i]}`)
    }
  }
  if (
    policies !== undefined &&
    !sameEntries(
      own,
      policies.filter((p) => !p.shadow).map((p) => p.id),
    )
  ) {
    invalidInCall(where, 'policies', 'must be the policies the decision was made with (or be left out)', policies)
  }
  if (layers === undefined) return
  const given: string[] = []
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]
    if (typeof layer !== 'object' || layer === null) invalidInCall(where, `layers[${i}]`, 'must be { name, key, policies }', layer)
    const subject = encodeSubject(where, layer.key)
    for (const p of checkPolicies(where, `layers[${i}].policies`, layer.policies, { requestTime: true }))
      if (!p.shadow) given.push(`${p.id}\u0000${subject}`)
  }
  if (!sameEntries(layered, given)) invalidInCall(where, 'layers', 'must be the layers the decision was made with (or be left out)', layers)
}

/** The same entries, in any order. */
function sameEntries(charged: string[], given: string[]): boolean {
  charged.sort()
  given.sort()
  return charged.length === given.length && charged.every((entry, i) => entry === given[i])
}

/**
 * Throws unless this limiter made `decision`: a charge given back, or settled, in a limiter that
 * never made it would credit a bucket it was never taken from. A decision of another limiter
 * (even one with the same policies, which each limiter copies) or an object that only looks like
 * a decision is refused, naming the option.
 */
export function checkOwn(context: RefundContext, where: string, decision: Decision): void {
  if (DecisionRecord.listOf(decision) === context.policies) return
  if (context.chargedWith.has(decision)) return
  invalidAtRequest(where, 'decision', 'must be a decision this limiter returned (give it back to the limiter that made it)', decision)
}
