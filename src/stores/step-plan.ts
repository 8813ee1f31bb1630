import { LOOK } from '../limiter/algorithms/concurrency.js'
import { blockReasonOf } from '../limiter/algorithms/penalty-box.js'
import type { Policy, PolicyState, StepOutcome } from '../limiter/policy.js'
import { newOutcome } from '../limiter/policy.js'
import type { StoreRequest } from '../limiter/store.js'

/**
 * A decision worked out by the policies' own `step` functions from states read elsewhere (a
 * compare-and-set store, PostgreSQL): what to answer, and what to write if the states read are
 * still current. Stores that run the TypeScript step share this, so none re-implements the rules
 * of shadow checks, penalty boxes and leases.
 */
export interface StepPlan {
  readonly allowed: boolean
  /** Three numbers per check, as `StoreResult.results`. */
  readonly results: number[]
  /** The checks to write, in request order (empty: nothing changes). */
  readonly writes: PlannedWrite[]
  /** The reason of the block by hand (`limiter.block`) of a penalty box that denied, if it has one. */
  readonly reason?: string
}

/** One check's new state: `state` undefined means "fresh again: delete". */
export interface PlannedWrite {
  readonly index: number
  readonly state: PolicyState | undefined
  /** Time to live of the new state, ms (≥ 1). */
  readonly ttlMs: number
}

/** The state as stored: a number, or numbers joined by commas. */
export function encodeState(state: PolicyState): string {
  return typeof state === 'number' ? String(state) : state.join(',')
}

export function decodeState(policy: Policy, text: string): PolicyState {
  return policy.kind === 'token-bucket' ? Number(text) : text.split(',').map(Number)
}

const written = (index: number, out: StepOutcome): PlannedWrite => ({ index, state: out.state, ttlMs: Math.max(1, out.ttlMs) })

/**
 * `consume` (`charge` true) or `peek` of `request` against `states` (parallel to its checks;
 * `undefined`: absent), at `now`.
 */
export function planDecision(request: StoreRequest, states: readonly (PolicyState | undefined)[], charge: boolean, now: number): StepPlan {
  const { policies, cost } = request
  const n = policies.length
  const outs: StepOutcome[] = policies.map(() => newOutcome())
  // Shadow checks never deny; they are written only when every check, shadow ones too, admits.
  let allowed = true
  let boxed = false
  let shadowsAdmit = true
  for (let i = 0; i < n; i++) {
    policies[i].step(states[i], cost, now, outs[i], request.lease ?? (charge ? undefined : LOOK))
    if (!outs[i].allowed) {
      if (policies[i].shadow) shadowsAdmit = false
      else if (policies[i].offence !== undefined) boxed = true
      else allowed = false
    }
  }
  // Denied by a policy other than a penalty box: an offence for every box that admitted.
  const offended = charge && !allowed && cost > 0
  allowed &&= !boxed
  const writes: PlannedWrite[] = []
  // A consume with a lease writes its concurrency checks whatever the cost (a slot is not a cost).
  if (charge && allowed && (cost > 0 || request.lease !== undefined)) {
    for (let i = 0; i < n; i++) {
      const out = outs[i]
      if (policies[i].shadow && !shadowsAdmit) {
        // Not charged: report its uncharged state, as an admitting check of a denial does.
        if (out.allowed) policies[i].step(states[i], 0, now, out)
        continue
      }
      if (cost === 0 && policies[i].kind !== 'concurrency') continue
      writes.push(written(i, out))
    }
  } else {
    for (let i = 0; i < n; i++) {
      const offence = policies[i].offence
      if (offended && outs[i].allowed && offence !== undefined) {
        offence(states[i], now, outs[i])
        writes.push(written(i, outs[i]))
      } else if (outs[i].allowed && (cost > 0 || request.lease !== undefined)) policies[i].step(states[i], 0, now, outs[i])
    }
  }
  const results = new Array<number>(3 * n)
  let reason: string | undefined
  for (let i = 0; i < n; i++) {
    results[3 * i] = outs[i].remaining
    results[3 * i + 1] = outs[i].resetAt
    results[3 * i + 2] = outs[i].allowed ? 0 : outs[i].retryAfterMs
    // A box that denied with a block by hand: its reason (the state read; a denial writes no such block).
    if (reason === undefined && !outs[i].allowed && policies[i].kind === 'penalty-box' && !policies[i].shadow)
      reason = blockReasonOf(states[i], now)
  }
  return reason === undefined ? { allowed, results, writes } : { allowed, results, writes, reason }
}

/**
 * A refund or a charge: every check's state changed by `apply`, which always admits. A check is
 * written when it was present or `apply` made a state.
 */
export function planAdjust(
  policies: readonly Policy[],
  states: readonly (PolicyState | undefined)[],
  apply: (policy: Policy, state: PolicyState | undefined, out: StepOutcome) => void,
): StepPlan {
  const results: number[] = []
  const writes: PlannedWrite[] = []
  for (let i = 0; i < policies.length; i++) {
    const out = newOutcome()
    apply(policies[i], states[i], out)
    results.push(out.remaining, out.resetAt, 0)
    if (states[i] !== undefined || out.state !== undefined) writes.push(written(i, out))
  }
  return { allowed: true, results, writes }
}
