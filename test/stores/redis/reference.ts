import { LOOK } from '../../../src/limiter/algorithms/concurrency.js'
import { blockReasonOf } from '../../../src/limiter/algorithms/penalty-box.js'
import { newOutcome, type Policy, type PolicyState, type StepOutcome } from '../../../src/limiter/policy.js'
import type { StoreRefundRequest, StoreRequest, StoreResult } from '../../../src/limiter/store.js'

/**
 * The oracle: the store contract written as plainly as possible on top of the policies' own
 * `step` / `refund` (no cache, no eviction, no cleverness). Every store must answer exactly this.
 */
export class ReferenceStore {
  readonly states = new Map<string, PolicyState>()

  #key(subject: string, policy: Policy): string {
    return `${policy.id}\u0000${subject}`
  }

  consume(request: StoreRequest): StoreResult {
    return this.#decide(request, true)
  }

  peek(request: StoreRequest): StoreResult {
    return this.#decide(request, false)
  }

  refund(request: StoreRefundRequest): StoreResult {
    const { cost, now, chargedAt, lease } = request
    return this.#adjust(request, (policy, state, out) => policy.refund(state, cost, chargedAt, now, out, lease))
  }

  charge(request: StoreRequest): StoreResult {
    const { cost, now } = request
    return this.#adjust(request, (policy, state, out) => policy.charge(state, cost, now, out))
  }

  /** A refund or a charge: every check's state changed by `apply`, which always admits. */
  #adjust(request: StoreRequest, apply: (policy: Policy, state: PolicyState | undefined, out: StepOutcome) => void): StoreResult {
    const { keys, policies, now } = request
    const results: number[] = []
    const out = newOutcome()
    for (let i = 0; i < policies.length; i++) {
      const key = this.#key(keys[i], policies[i])
      apply(policies[i], this.states.get(key), out)
      if (out.state === undefined) this.states.delete(key)
      else this.states.set(key, out.state)
      results.push(out.remaining, out.resetAt, 0)
    }
    return { allowed: true, now, results }
  }

  reset(request: StoreRequest): void {
    for (let i = 0; i < request.policies.length; i++) this.states.delete(this.#key(request.keys[i], request.policies[i]))
  }

  close(): void {}

  #decide(request: StoreRequest, charge: boolean): StoreResult {
    const { keys, policies, cost, now, lease } = request
    const n = policies.length
    const outs: StepOutcome[] = []
    const states: (PolicyState | undefined)[] = []
    // Shadow checks never deny; they are written only when every check, shadow ones too, admits.
    let allowed = true
    let boxed = false
    let shadowsAdmit = true
    for (let i = 0; i < n; i++) {
      const state = this.states.get(this.#key(keys[i], policies[i]))
      const out = newOutcome()
      policies[i].step(state, cost, now, out, lease ?? (charge ? undefined : LOOK))
      outs.push(out)
      states.push(state)
      if (!out.allowed) {
        if (policies[i].shadow) shadowsAdmit = false
        else if (policies[i].kind === 'penalty-box') boxed = true
        else allowed = false
      }
    }
    // Denied by a policy other than a penalty box: one offence for every box that admitted.
    const offended = charge && !allowed && cost > 0
    allowed &&= !boxed
    const results: number[] = []
    for (let i = 0; i < n; i++) {
      const out = outs[i]
      const offence = policies[i].offence
      if (offended && out.allowed && offence !== undefined) {
        offence(states[i], now, out)
        const key = this.#key(keys[i], policies[i])
        if (out.state === undefined) this.states.delete(key)
        else this.states.set(key, out.state)
        results.push(out.remaining, out.resetAt, out.allowed ? 0 : out.retryAfterMs)
        continue
      }
      const retry = out.allowed ? 0 : out.retryAfterMs
      // A consume with a lease writes its concurrency checks whatever the cost (a slot is not a cost).
      const written = allowed && (shadowsAdmit || !policies[i].shadow)
      if (charge && written && (cost > 0 || (lease !== undefined && policies[i].kind === 'concurrency'))) {
        const key = this.#key(keys[i], policies[i])
        if (out.state === undefined) this.states.delete(key)
        else this.states.set(key, out.state)
      } else if (cost > 0 || lease !== undefined) {
        // Nothing charged: remaining and reset describe the uncharged state (a look: no lease).
        policies[i].step(states[i], 0, now, out)
      }
      results.push(out.remaining, out.resetAt, retry)
    }
    // The reason of the first box that denied with a block by hand (the state it decided on).
    for (let i = 0; i < n && !allowed; i++) {
      const reason =
        policies[i].kind === 'penalty-box' && !policies[i].shadow && results[3 * i + 2] > 0 ? blockReasonOf(states[i], now) : undefined
      if (reason !== undefined) return { allowed, now, results, reason }
    }
    return { allowed, now, results }
  }
}
