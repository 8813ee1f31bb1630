import type { Duration } from '../duration.js'
import { invalid } from '../errors.js'
import { parseLease } from '../lease-pool.js'
import type { Policy, PolicyOptionsBase, PolicyState, StepOutcome } from '../policy.js'
import { baseOptions, parseWindow, windowLabel } from './common.js'

/** Options of {@link fixedWindow}. */
export interface FixedWindowOptions extends PolicyOptionsBase {
  /**
   * Window length. Windows are aligned to the Unix epoch, so `'1d'` is a UTC calendar day and
   * `'1h'` starts on the hour. `'month'` is a UTC calendar month (a monthly quota with a hard stop).
   */
  window: Duration | 'month'
  /** Spend the shared budget from local leases of up to `size` units, each ending with its window (see docs/algorithms.md, "Leases"). */
  lease?: {
    /** Most units one lease takes from the store (its size adapts to the local rate, up to this). From 1 to the burst. */
    size: number
    /** How long a lease may be spent; unspent units are then given back with a refund. */
    ttlMs: Duration
  }
}

const KNOWN = { name: true, shadow: true, limit: true, window: true, lease: true } as const

/** Nominal length reported for calendar months (30 days); the real boundary is the 1st, 00:00 UTC. */
export const NOMINAL_MONTH_MS = 30 * 86_400_000

/** Index of the UTC calendar month containing `now` (months since January 1970). */
export function monthIndex(now: number): number {
  const d = new Date(now)
  return (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth()
}

/** Epoch ms of the first instant after month `index`. */
export function monthEnd(index: number): number {
  return Date.UTC(1970 + Math.floor((index + 1) / 12), (index + 1) % 12, 1)
}

/**
 * A fixed window: at most `limit` per window, the count starting over at each window edge.
 * The cheapest to explain; a client can spend up to 2 x limit in one window-long span that
 * straddles an edge. Use it for daily and monthly quotas (`window: 'month'` is calendar-aligned,
 * with a hard stop until the 1st), and a token bucket or sliding window for short-term rates.
 *
 * @example
 * fixedWindow({ name: 'tool-calls', limit: 5000, window: 'month' })
 */
export function fixedWindow(options: FixedWindowOptions): Policy {
  const where = 'fixedWindow()'
  const { limit, name, shadow, raw } = baseOptions(where, options, KNOWN)
  const calendar = raw.window === 'month'
  // A month spelt otherwise ('1 month', '1M', '1mo') before the duration check, whose examples would point to '1m', a minute.
  if (!calendar && typeof raw.window === 'string' && (/month/i.test(raw.window) || /^\s*\d*\s*(?:M|[mM][oO])\s*$/.test(raw.window))) {
    invalid(where, 'window', "must be a duration (a minute is '1m') or exactly 'month' for a UTC calendar month", raw.window)
  }
  const windowMs = calendar ? NOMINAL_MONTH_MS : parseWindow(where, raw.window)
  const lease = parseLease(where, raw.lease, limit, shadow)
  const label = calendar ? 'month' : windowLabel(windowMs)
  const policyName = name ?? `${limit}-per-${label}`
  const id = `${policyName}|fw:${limit}:${calendar ? 'M' : windowMs}`

  const indexOf = calendar ? monthIndex : (now: number) => Math.floor(now / windowMs)
  const endOf = calendar ? monthEnd : (index: number) => (index + 1) * windowMs

  /** The window counting at `now`: the state's own when it is newer (a clock that ran backwards never reopens an old one). */
  const windowAt = (state: PolicyState | undefined, now: number): number => {
    const index = indexOf(now)
    return state !== undefined && (state as number[])[0] > index ? (state as number[])[0] : index
  }
  /** The count of window `index` in `state`. */
  const countIn = (state: PolicyState | undefined, index: number): number =>
    state !== undefined && (state as number[])[0] === index ? (state as number[])[1] : 0

  const step = (state: PolicyState | undefined, cost: number, now: number, out: StepOutcome): void => {
    const index = windowAt(state, now)
    const count = countIn(state, index)
    const end = endOf(index)
    out.resetAt = end
    out.ttlMs = end - now
    if (cost === 0) {
      out.allowed = true
      out.never = false
      out.state = count === 0 ? undefined : [index, count]
      // Never negative: a settled cost (see `charge`) may have overdrawn the window.
      out.remaining = Math.max(0, limit - count)
      out.retryAfterMs = 0
      return
    }
    if (limit === 0 || cost > limit) {
      out.allowed = false
      out.never = true
      out.state = state
      out.remaining = Math.max(0, limit - count)
      out.retryAfterMs = -1
      return
    }
    out.never = false
    if (count + cost <= limit) {
      out.allowed = true
      out.state = [index, count + cost]
      out.remaining = limit - count - cost
      out.retryAfterMs = 0
    } else {
      out.allowed = false
      out.state = state
      out.remaining = Math.max(0, limit - count)
      out.retryAfterMs = end - now
    }
  }

  const refund = (state: PolicyState | undefined, cost: number, chargedAt: number, now: number, out: StepOutcome): void => {
    out.allowed = true
    out.never = false
    out.retryAfterMs = 0
    const s = state as number[] | undefined
    const current = indexOf(now)
    // Only the window that was charged gets the cost back, and only while it lasts: a window that
    // is over counts as absent (a store with TTLs has dropped it already).
    if (s === undefined || s[0] < current || s[0] !== indexOf(chargedAt)) {
      const gone = s === undefined || s[0] < current
      out.state = state
      out.remaining = gone ? limit : Math.max(0, limit - s[1])
      out.resetAt = gone ? endOf(current) : endOf(s[0])
      out.ttlMs = out.resetAt - now
      return
    }
    const count = Math.max(0, s[1] - cost)
    out.state = count === 0 ? undefined : [s[0], count]
    out.remaining = Math.max(0, limit - count)
    out.resetAt = endOf(s[0])
    out.ttlMs = count === 0 ? 0 : out.resetAt - now
  }

  const charge = (state: PolicyState | undefined, cost: number, now: number, out: StepOutcome): void => {
    const index = windowAt(state, now)
    // No limit check: the window may be overdrawn; it ends at its edge as always.
    const count = countIn(state, index) + cost
    const end = endOf(index)
    out.allowed = true
    out.never = false
    out.retryAfterMs = 0
    out.state = count === 0 ? undefined : [index, count]
    out.remaining = Math.max(0, limit - count)
    out.resetAt = end
    out.ttlMs = count === 0 ? 0 : end - now
  }

  return Object.freeze({
    kind: 'fixed-window' as const,
    name: policyName,
    limit,
    windowMs,
    window: raw.window as Duration | 'month',
    burst: limit,
    id,
    shadow,
    lease,
    step,
    refund,
    charge,
    params: Object.freeze({ kind: 'fixed-window' as const, limit, windowMs, calendarMonth: calendar }),
  })
}
