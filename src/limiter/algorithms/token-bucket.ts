import type { Duration } from '../duration.js'
import { checkInteger, invalid } from '../errors.js'
import { parseLease } from '../lease-pool.js'
import { gcd, MAX_TIME_MS } from '../math.js'
import type { Policy, PolicyOptionsBase, PolicyState, StepOutcome } from '../policy.js'
import { baseOptions, parseWindow, windowLabel } from './common.js'

/** Options of {@link tokenBucket}. */
export interface TokenBucketOptions extends PolicyOptionsBase {
  /** Refill period: `limit` tokens are added per `window`. */
  window: Duration
  /**
   * Bucket capacity: the most requests admitted at once after a quiet period.
   * Must be omitted when `limit` is 0.
   * @default limit
   */
  burst?: number
  /** Spend the shared budget from local leases of up to `size` units (see docs/algorithms.md, "Leases"). */
  lease?: {
    /** Most units one lease takes from the store (its size adapts to the local rate, up to this). From 1 to the burst. */
    size: number
    /** How long a lease may be spent; unspent units are then given back with a refund. */
    ttlMs: Duration
  }
}

/**
 * Finest time resolution (ticks per ms) kept exact. Policies whose rate needs a finer one round
 * the emission interval up to this resolution: strict by under 1/1024 ms per token.
 */
export const MAX_TICKS_PER_MS = 1024

const KNOWN = { name: true, shadow: true, limit: true, window: true, lease: true, burst: true } as const

/**
 * A token bucket: refills `limit` tokens per `window` and holds at most `burst`; each request
 * takes `cost` tokens. "100/min, burst 150" admits 150 at once, then 100 per minute.
 *
 * Kept as one number per key (GCRA's theoretical arrival time, TAT), in integer ticks so the
 * arithmetic is exact and identical in JavaScript and Lua.
 *
 * Pros: smooth, allows bursts, exact, the cheapest state. Cons: "remaining" refills continuously
 * rather than at a window edge, which some clients find surprising.
 *
 * @example
 * tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 })
 */
export function tokenBucket(options: TokenBucketOptions): Policy {
  const where = 'tokenBucket()'
  const { limit, name, shadow, raw } = baseOptions(where, options, KNOWN)
  const windowMs = parseWindow(where, raw.window)
  let burst: number
  if (raw.burst === undefined) {
    burst = limit
  } else {
    if (limit === 0) invalid(where, 'burst', 'must be omitted when "limit" is 0 (a zero limit denies everything)', raw.burst)
    burst = checkInteger(where, 'burst', raw.burst, 1, 1_000_000_000)
  }
  const lease = parseLease(where, raw.lease, burst, shadow)

  // Time is kept in ticks of 1/ticksPerMs ms so one token is a whole number of ticks.
  let ticksPerMs = 1
  let tokenTicks = 1
  if (limit > 0) {
    const g = gcd(windowMs, limit)
    ticksPerMs = limit / g
    tokenTicks = windowMs / g
    if (ticksPerMs > MAX_TICKS_PER_MS) {
      ticksPerMs = MAX_TICKS_PER_MS
      tokenTicks = Math.ceil((windowMs * MAX_TICKS_PER_MS) / limit)
    }
  }
  const capacityTicks = burst * tokenTicks
  if (MAX_TIME_MS * ticksPerMs + 2 * capacityTicks > Number.MAX_SAFE_INTEGER) {
    invalid(
      where,
      'window',
      `is too long for exact arithmetic with burst ${burst} (burst x window must stay below about 4e15 ms)`,
      raw.window,
    )
  }

  const label = windowLabel(windowMs)
  const policyName = name ?? (burst === limit ? `${limit}-per-${label}` : `${limit}-per-${label}-burst-${burst}`)
  const id = `${policyName}|tb:${limit}:${windowMs}:${burst}`

  /** `step` for a peek (cost 0), a cost that can never fit, or a denial. */
  const notAdmitted = (
    state: PolicyState | undefined,
    cost: number,
    now: number,
    nowTicks: number,
    tat: number,
    next: number,
    out: StepOutcome,
  ): void => {
    const resetAt = Math.ceil(tat / ticksPerMs)
    // Tokens available now, as whole requests; a clock that ran backwards shows fewer, never more.
    const available = Math.max(0, Math.floor((capacityTicks - (tat - nowTicks)) / tokenTicks))
    out.resetAt = resetAt
    out.ttlMs = resetAt - now
    if (cost === 0) {
      out.allowed = true
      out.never = false
      out.state = state === undefined || (state as number) <= nowTicks ? undefined : state
      out.remaining = limit === 0 ? 0 : available
      out.retryAfterMs = 0
      return
    }
    out.allowed = false
    out.state = state
    if (limit === 0 || cost > burst) {
      out.never = true
      out.remaining = limit === 0 ? 0 : available
      out.retryAfterMs = -1
      return
    }
    out.never = false
    out.remaining = available
    out.retryAfterMs = Math.ceil((next - nowTicks - capacityTicks) / ticksPerMs)
  }

  const step = (state: PolicyState | undefined, cost: number, now: number, out: StepOutcome): void => {
    const nowTicks = now * ticksPerMs
    let tat = state === undefined ? nowTicks : (state as number)
    if (tat < nowTicks) tat = nowTicks
    const next = tat + cost * tokenTicks
    // Admitted: the hot path, kept small so that stores inline it (limit 0 has burst 0, so never here).
    if (cost > 0 && cost <= burst && next - nowTicks - capacityTicks <= 0) {
      const resetAt = Math.ceil(next / ticksPerMs)
      out.allowed = true
      out.never = false
      out.state = next
      out.remaining = Math.floor((capacityTicks - (next - nowTicks)) / tokenTicks)
      out.resetAt = resetAt
      out.retryAfterMs = 0
      out.ttlMs = resetAt - now
      return
    }
    notAdmitted(state, cost, now, nowTicks, tat, next, out)
  }

  const refund = (
    state: PolicyState | undefined,
    cost: number,
    chargedAt: number,
    now: number,
    out: StepOutcome,
    _lease?: number,
    charged: number = cost,
  ): void => {
    const nowTicks = now * ticksPerMs
    out.allowed = true
    out.never = false
    out.retryAfterMs = 0
    // Only what the bucket has not refilled since the charge: it took charged·T ticks starting no
    // earlier than chargedAt, and refill has run since. (A refund of a charge made before the
    // bucket was full again would otherwise admit beyond the burst; the Lua twin does the same.)
    // A part given back (a settle below its estimate) comes out of what is left of the whole charge.
    const back = Math.min(cost * tokenTicks, Math.max(0, chargedAt * ticksPerMs + Math.max(cost, charged) * tokenTicks - nowTicks))
    if (state === undefined || (state as number) - back <= nowTicks) {
      // Back to full: never above capacity.
      out.state = undefined
      out.remaining = limit === 0 ? 0 : burst
      out.resetAt = now
      out.ttlMs = 0
      return
    }
    const tat = (state as number) - back
    out.state = tat
    out.remaining = Math.max(0, Math.floor((capacityTicks - (tat - nowTicks)) / tokenTicks))
    out.resetAt = Math.ceil(tat / ticksPerMs)
    out.ttlMs = out.resetAt - now
  }

  const charge = (state: PolicyState | undefined, cost: number, now: number, out: StepOutcome): void => {
    const nowTicks = now * ticksPerMs
    let tat = state === undefined ? nowTicks : (state as number)
    if (tat < nowTicks) tat = nowTicks
    // No capacity check: a debt pushes the arrival time past now + capacity, and later requests wait it out.
    const next = tat + cost * tokenTicks
    out.allowed = true
    out.never = false
    out.retryAfterMs = 0
    if (next <= nowTicks) {
      out.state = undefined
      out.remaining = limit === 0 ? 0 : burst
      out.resetAt = now
      out.ttlMs = 0
      return
    }
    out.state = next
    out.remaining = limit === 0 ? 0 : Math.max(0, Math.floor((capacityTicks - (next - nowTicks)) / tokenTicks))
    out.resetAt = Math.ceil(next / ticksPerMs)
    out.ttlMs = out.resetAt - now
  }

  return Object.freeze({
    kind: 'token-bucket' as const,
    name: policyName,
    limit,
    windowMs,
    window: raw.window as Duration,
    burst,
    id,
    shadow,
    lease,
    step,
    refund,
    charge,
    params: Object.freeze({ kind: 'token-bucket' as const, limit, burst, ticksPerMs, tokenTicks }),
  })
}
