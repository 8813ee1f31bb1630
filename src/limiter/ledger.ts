import type { Decision } from './decision.js'
import { DecisionRecord } from './decision-record.js'
import type { BuiltRequest, StoreCall } from './layers.js'
import { requestWith } from './layers.js'
import { hasShadow, type Policy } from './policy.js'
import type { StoreRequest } from './store.js'

/**
 * What a limiter remembers of the decisions it made, for `refund`, `settle` and `release`: held
 * weakly, so a decision nobody keeps is forgotten with it.
 */
export interface Ledger {
  /** Decisions charged by the fallback store: their refunds, settles and releases go there. */
  readonly chargedByFallback: WeakSet<Decision>
  /** Admitted decisions made with per-call policies or layers: the request they charged (without its lease). */
  readonly chargedWith: WeakMap<Decision, BuiltRequest>
  /** Decisions already given back by refund({ decision }) or settled: a second refund gives nothing. */
  readonly refunded: WeakSet<Decision>
  /** Admitted decisions holding a lease (concurrency policies): the call that took it. */
  readonly leases: WeakMap<Decision, StoreCall>
  /**
   * Answers of calls other than consume (peek, refund, settle's charge, block): admitted, with a
   * cost, yet no charge of their own to give back or correct.
   */
  readonly looked: WeakSet<Decision>
}

export function newLedger(): Ledger {
  return {
    chargedByFallback: new WeakSet(),
    chargedWith: new WeakMap(),
    refunded: new WeakSet(),
    leases: new WeakMap(),
    looked: new WeakSet(),
  }
}

/**
 * Records what `call` charged or took, decided by the store (`main`) or the fallback, when the
 * limiter's own policies are `defaults`.
 */
export function record(ledger: Ledger, call: StoreCall, decision: Decision, main: boolean, defaults: readonly Policy[]): void {
  if (call.mode !== 'consume') {
    ledger.looked.add(decision)
    return
  }
  if (!decision.allowed || decision.reason !== 'ok') return
  const { request, layerOf } = call
  if (!main) ledger.chargedByFallback.add(decision)
  if (request.lease !== undefined) {
    // Taken by the store in the limiter's own policies for the subject alone (no layer, tier or
    // tag of its own): the decision keeps it, as on the fast path, and `release` gives it back
    // the same way, without a ledger entry (a WeakMap's entry costs its set, get and delete, and
    // the collector's work on every one still held).
    if (
      main &&
      layerOf === undefined &&
      call.tier === undefined &&
      request.policies === defaults &&
      request.tag === request.keys[0] &&
      decision instanceof DecisionRecord
    ) {
      DecisionRecord.holdLease(decision, request.lease, ledger)
    } else ledger.leases.set(decision, call)
  }
  // A shadow policy that would have denied kept every shadow policy uncharged: what was charged
  // is the enforcing policies alone, and a refund or settle of the decision touches only them.
  if (hasShadow(request.policies) && (decision.shadowViolated?.length ?? 0) > 0) {
    ledger.chargedWith.set(decision, enforcingOnly(request, layerOf))
    return
  }
  // What a charge was made on, when not the limiter's defaults (its policies, no layers, the subject's
  // own tag, which on Redis Cluster is part of the state's identity): refund({ decision }) and settle
  // go there, without the lease (a refund or a settle gives back cost, never the slot: that is `release`'s).
  if (layerOf !== undefined || request.policies !== defaults || request.tag !== request.keys[0]) {
    ledger.chargedWith.set(decision, {
      request: request.lease === undefined ? request : requestWith(request, request.cost, request.now, undefined),
      layerOf,
    })
  }
}

/** The enforcing checks of `request` (its shadow ones left out), without its lease. */
function enforcingOnly(request: StoreRequest, layerOf: readonly (string | undefined)[] | undefined): BuiltRequest {
  const keys: string[] = []
  const policies: Policy[] = []
  const layers: (string | undefined)[] | undefined = layerOf === undefined ? undefined : []
  for (let i = 0; i < request.policies.length; i++) {
    if (request.policies[i].shadow) continue
    keys.push(request.keys[i])
    policies.push(request.policies[i])
    layers?.push(layerOf?.[i])
  }
  return {
    request: { keys, policies, cost: request.cost, now: request.now, tag: request.tag, events: request.events },
    layerOf: layers,
  }
}
