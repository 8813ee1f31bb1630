import type { Policy, PolicyState, StepOutcome } from '../../limiter/policy.js'
import type { Entries } from './entries.js'

/**
 * The memory store's decisions on one concurrency policy alone (a request in flight taken, or
 * given back): what the store's general path decides for a list of one, without its arrays, its
 * pinning (one entry has nothing of its own request to evict) or a closure per release. They
 * write the same states into the same segments, and report the same numbers.
 */

/**
 * `consume` of one concurrency policy with the request's lease, into `results`: the slot is taken
 * whatever the cost (a request in flight is not a cost). Returns whether it was admitted.
 */
export function acquireOne(
  entries: Entries,
  memKey: string,
  policy: Policy,
  cost: number,
  now: number,
  out: StepOutcome,
  results: number[],
  lease: number,
): boolean {
  entries.seen(now)
  const value = entries.lookup(memKey)
  let at = -1
  let state: PolicyState | undefined = value
  if (value === undefined && entries.heap.size !== 0) {
    at = entries.heap.positionOf(memKey)
    if (at >= 0) state = entries.heap.states[at]
  }
  policy.step(state, cost, now, out, lease)
  const allowed = out.allowed
  // Read before the write: an `evicted` listener it calls may decide on this store, with its scratch.
  const remaining = out.remaining
  const resetAt = out.resetAt
  const retry = out.retryAfterMs
  if (allowed) {
    // A written entry is the most recently used, unless it is limited now.
    entries.write(memKey, policy, out.state, remaining, now, value, at)
  } else if (!out.never) {
    // A full concurrency limit stays protected while its leases live (until the last expires).
    entries.forget()
    entries.protect(memKey, value, resetAt)
  } else if (value !== undefined) entries.remember(memKey, value)
  // Written last: an `evicted` listener above may have decided on this store (and its scratch).
  results[0] = remaining
  results[1] = resetAt
  results[2] = allowed ? 0 : retry
  return allowed
}

/**
 * `refund` of `cost` (of `charged`) charged at `chargedAt`, one concurrency policy with `lease`
 * (a release), for an entry the LRU holds, into `results` when given (`releaseLease` reads none):
 * false, with nothing done, when the LRU does not hold it (it is limited, or gone), which the
 * general path then decides. Positional, so that a release allocates nothing here.
 */
export function releaseOne(
  entries: Entries,
  memKey: string,
  policy: Policy,
  cost: number,
  chargedAt: number,
  now: number,
  lease: number,
  charged: number | undefined,
  out: StepOutcome,
  results: number[] | undefined,
): boolean {
  const value = entries.lookup(memKey)
  if (value === undefined) return false
  entries.seen(now)
  policy.refund(value, cost, chargedAt, now, out, lease, charged)
  const remaining = out.remaining
  const resetAt = out.resetAt
  entries.write(memKey, policy, out.state, remaining, now, value, -1)
  if (results !== undefined) {
    results[0] = remaining
    results[1] = resetAt
    results[2] = 0
  }
  return true
}
