import { ConfigurationError } from '../errors.js'
import type { Policy, SlidingWindowParams } from '../policy.js'
import { concurrency } from './concurrency.js'
import { fixedWindow } from './fixed-window.js'
import { slidingWindow } from './sliding-window.js'
import { tokenBucket } from './token-bucket.js'

/**
 * A view of `base` that admits a request only while the usage after it stays within `share` of
 * the base's capacity: the same policy with its capacity cut to `floor(share × capacity)` — the
 * bucket's `burst` (GCRA: admitted when `tat + cost·T − now ≤ share·burst·T`), a window's `limit`
 * (admitted when `count + cost ≤ floor(share·limit)`), a concurrency `limit` (admitted when
 * `leases < floor(share·limit)`) — and the base's `name` and `id`, so every store keeps both in
 * one state. Only the capacity changes: the refill rate, window edges, sub-windows and lease
 * lifetimes that give the state its meaning are the base's, so base and views read and write
 * the same numbers. `share` 1 is the base itself.
 *
 * Throws `ERR_RK_INVALID_OPTION` when the cut capacity is below 1 (the view would admit nothing:
 * a budget too small to divide), naming `option`.
 */
export function shareOf(base: Policy, share: number, where: string, option: string): Policy {
  if (typeof share !== 'number' || !(share > 0 && share <= 1)) {
    throw new ConfigurationError('ERR_RK_INVALID_OPTION', where, option, 'must be a share of the budget above 0 and at most 1', share)
  }
  if (base.kind === 'penalty-box') {
    throw new ConfigurationError(
      'ERR_RK_INVALID_OPTION',
      where,
      option,
      'must share a rate or concurrency budget, not a penalty box',
      base.name,
    )
  }
  // A budget that admits nothing is shed by nobody: every view of it is the base.
  if (share === 1 || base.limit === 0) return base
  const capacity = Math.floor(share * base.burst)
  if (capacity < 1) {
    throw new ConfigurationError(
      'ERR_RK_INVALID_OPTION',
      where,
      option,
      `must leave at least 1 of the budget's capacity (${share} × ${base.burst} rounds down to 0): raise the share or the budget`,
      share,
    )
  }
  const params = base.params
  let view: Policy
  switch (params.kind) {
    case 'token-bucket':
      view = tokenBucket({ name: base.name, limit: base.limit, window: base.window as never, burst: capacity })
      break
    case 'fixed-window':
      view = fixedWindow({ name: base.name, limit: capacity, window: base.window })
      break
    case 'sliding-window':
      view = slidingWindow({
        name: base.name,
        limit: capacity,
        window: base.window as never,
        precision: precisionOf(base.windowMs, params),
      })
      break
    case 'concurrency':
      view = concurrency({ name: base.name, limit: capacity, leaseMs: params.leaseMs, retryAfter: params.retryMs })
      break
    case 'penalty-box':
      // Unreachable: refused above.
      return base
  }
  // The base's identity: stores key state by `id` (memory, compare-and-set) or by name and id
  // (Redis), so the view reads and writes the base's state.
  return Object.freeze({ ...view, id: base.id, shadow: base.shadow })
}

/** A `precision` that gives the base's sub-windows (the option itself is not kept on a policy). */
function precisionOf(windowMs: number, params: SlidingWindowParams): number {
  for (let p = 1; p <= 60; p++) if (Math.ceil(windowMs / p) === params.subWindowMs) return p
  // Unreachable for a policy made by slidingWindow(): its own precision gives its sub-windows.
  throw new ConfigurationError(
    'ERR_RK_INVALID_OPTION',
    'shareOf()',
    'budget',
    'must be a policy made by slidingWindow()',
    params.subWindowMs,
  )
}
