import { blockReasonOf, hasPenaltyBox } from '../../limiter/algorithms/penalty-box.js'
import type { Policy, PolicyState } from '../../limiter/policy.js'
import { policySlot } from '../policy-slot.js'
import type { Entries } from './entries.js'

/**
 * The reason of the first penalty box of a denied request that denied with a block given one by
 * `limiter.block`. Read after the decision: a denial writes no block by hand, so the state read
 * is the one decided on. Only denied requests with a box pay for it.
 */
export function blockReasonIn(
  entries: Entries,
  keys: readonly string[],
  policies: readonly Policy[],
  now: number,
  results: readonly number[],
): string | undefined {
  if (!hasPenaltyBox(policies)) return undefined
  for (let i = 0; i < policies.length; i++) {
    if (policies[i].kind !== 'penalty-box' || policies[i].shadow || results[3 * i + 2] <= 0) continue
    const memKey = entries.keys.of(policySlot(policies[i]), keys[i])
    const value = entries.get(memKey)
    let state: PolicyState | undefined
    if (value !== undefined) state = typeof value === 'number' ? entries.pool[value] : value
    else if (entries.heap.size !== 0) {
      const at = entries.heap.positionOf(memKey)
      if (at >= 0) state = entries.heap.states[at]
    }
    const reason = blockReasonOf(state, now)
    if (reason !== undefined) return reason
  }
  return undefined
}
