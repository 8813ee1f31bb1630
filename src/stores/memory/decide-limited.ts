import type { Policy, StepOutcome } from '../../limiter/policy.js'
import type { Entries } from './entries.js'

/**
 * The memory store's `consume` or `peek` (`charge`) of one policy whose entry is limited (held in
 * the heap at `at`): the single-policy path's rarer half, stepped into `out`.
 */
export function decideLimited(
  entries: Entries,
  memKey: string,
  at: number,
  policy: Policy,
  cost: number,
  now: number,
  charge: boolean,
  out: StepOutcome,
  results: number[],
): boolean {
  const state = entries.heap.states[at]
  policy.step(state, cost, now, out)
  const allowed = out.allowed
  if (!charge || !allowed || cost === 0) {
    results[2] = allowed ? 0 : out.retryAfterMs
    if (!allowed && charge && !out.never) entries.protect(memKey, undefined, now + out.retryAfterMs)
    // A peek reports the uncharged state.
    if (!charge && cost > 0) policy.step(state, 0, now, out)
    results[0] = out.remaining
    results[1] = out.resetAt
    return allowed
  }
  const remaining = out.remaining
  const resetAt = out.resetAt
  entries.write(memKey, policy, out.state, remaining, now, undefined, at)
  results[0] = remaining
  results[1] = resetAt
  results[2] = 0
  return true
}
