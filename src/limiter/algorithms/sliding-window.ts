import type { Duration } from '../duration.js'
import { checkInteger } from '../errors.js'
import type { Policy, PolicyOptionsBase, PolicyState, StepOutcome } from '../policy.js'
import { baseOptions, parseWindow, windowLabel } from './common.js'

/** Options of {@link slidingWindow}. */
export interface SlidingWindowOptions extends PolicyOptionsBase {
  /** Length of the span that may hold at most `limit`. */
  window: Duration
  /**
   * Sub-windows per window. More sub-windows admit closer to the limit (the strictness margin is
   * one sub-window, `window / precision`) at the cost of `precision + 2` numbers per key.
   * @default 10
   */
  precision?: number
}

const KNOWN = { name: true, shadow: true, limit: true, window: true, precision: true } as const

/**
 * A sliding window with a hard guarantee: never more than `limit` in any `window`-long span.
 *
 * The window is cut into `precision` sub-windows of `g = ceil(window / precision)` ms; a request
 * is admitted when the sub-windows covering the last `window` — the current one and the `m =
 * ceil(window / g)` before it — hold at most `limit - cost`. Those sub-windows span less than
 * `m * g + g` (`window + g` when `g` divides the window), so the rule errs on the strict side
 * only: it may deny a request that an exact log would admit, but only when `limit` requests were
 * admitted in that span.
 *
 * Pros: no edge bursts (unlike a fixed window), bounded memory whatever the limit.
 * Cons: may under-admit by what falls into the oldest sub-window; state grows with `precision`.
 *
 * @example
 * slidingWindow({ name: 'per-minute', limit: 60, window: '1m' })
 */
export function slidingWindow(options: SlidingWindowOptions): Policy {
  const where = 'slidingWindow()'
  const { limit, name, shadow, raw } = baseOptions(where, options, KNOWN)
  const windowMs = parseWindow(where, raw.window)
  const precision = raw.precision === undefined ? 10 : checkInteger(where, 'precision', raw.precision, 1, 60)
  const subMs = Math.ceil(windowMs / precision)
  // Sub-windows before the current one that can still overlap the last `windowMs`.
  const older = Math.ceil(windowMs / subMs)
  const slots = older + 1

  const label = windowLabel(windowMs)
  const policyName = name ?? `${limit}-per-${label}`
  const id = `${policyName}|sw:${limit}:${windowMs}:${precision}`

  // Scratch ring, reused across calls: counts[0] is the current sub-window, counts[i] i back.
  const counts = new Array<number>(slots).fill(0)

  /** Loads `state` aligned to sub-window `index` (or the state's own, if newer); returns it. */
  const load = (state: PolicyState | undefined, now: number): number => {
    let index = Math.floor(now / subMs)
    counts.fill(0)
    if (state !== undefined) {
      const s = state as number[]
      // A clock that ran backwards stays at the newest sub-window seen.
      if (s[0] > index) index = s[0]
      const shift = index - s[0]
      for (let i = 0; i + shift < slots && i + 1 < s.length; i++) counts[i + shift] = s[i + 1]
    }
    return index
  }

  /** Serialises the ring, trimming trailing zero sub-windows; undefined when empty. */
  const save = (index: number): number[] | undefined => {
    let last = slots - 1
    while (last >= 0 && counts[last] === 0) last--
    if (last < 0) return undefined
    const out = new Array<number>(last + 2)
    out[0] = index
    for (let i = 0; i <= last; i++) out[i + 1] = counts[i]
    return out
  }

  /** Epoch ms when every counted request has left the window; `now` if none. */
  const emptyAt = (index: number, now: number): number => {
    let newest = -1
    for (let i = 0; i < slots; i++) {
      if (counts[i] !== 0) {
        newest = i
        break
      }
    }
    return newest < 0 ? now : (index - newest + older + 1) * subMs
  }

  const step = (state: PolicyState | undefined, cost: number, now: number, out: StepOutcome): void => {
    const index = load(state, now)
    let used = 0
    for (let i = 0; i < slots; i++) used += counts[i]
    out.never = false
    if (cost === 0) {
      out.allowed = true
      out.state = save(index)
      out.remaining = Math.max(0, limit - used)
      out.resetAt = emptyAt(index, now)
      out.retryAfterMs = 0
      out.ttlMs = out.resetAt - now
      return
    }
    if (limit === 0 || cost > limit) {
      out.allowed = false
      out.never = true
      out.state = state
      out.remaining = Math.max(0, limit - used)
      out.resetAt = emptyAt(index, now)
      out.retryAfterMs = -1
      out.ttlMs = out.resetAt - now
      return
    }
    if (used + cost <= limit) {
      counts[0] += cost
      out.allowed = true
      out.state = save(index)
      out.remaining = limit - used - cost
      out.resetAt = emptyAt(index, now)
      out.retryAfterMs = 0
      out.ttlMs = out.resetAt - now
      return
    }
    // Denied: find the first sub-window edge at which enough old counts have aged out.
    let freed = used
    let wait = 1
    for (let i = slots - 1; i >= 0; i--, wait++) {
      freed -= counts[i]
      if (freed + cost <= limit) break
    }
    out.allowed = false
    out.state = state
    out.remaining = Math.max(0, limit - used)
    out.resetAt = emptyAt(index, now)
    out.retryAfterMs = (index + wait) * subMs - now
    out.ttlMs = out.resetAt - now
  }

  const refund = (state: PolicyState | undefined, cost: number, chargedAt: number, now: number, out: StepOutcome): void => {
    out.allowed = true
    out.never = false
    out.retryAfterMs = 0
    const index = load(state, now)
    // Only the sub-window that was charged gets the cost back, if it is still counted.
    const back = index - Math.floor(chargedAt / subMs)
    if (state !== undefined && back >= 0 && back < slots) counts[back] = Math.max(0, counts[back] - cost)
    let used = 0
    for (let i = 0; i < slots; i++) used += counts[i]
    out.state = save(index)
    out.remaining = Math.max(0, limit - used)
    out.resetAt = emptyAt(index, now)
    out.ttlMs = out.state === undefined ? 0 : out.resetAt - now
  }

  const charge = (state: PolicyState | undefined, cost: number, now: number, out: StepOutcome): void => {
    const index = load(state, now)
    // No limit check: the newest sub-window may be overdrawn; it ages out of the window as always.
    counts[0] += cost
    let used = 0
    for (let i = 0; i < slots; i++) used += counts[i]
    out.allowed = true
    out.never = false
    out.retryAfterMs = 0
    out.state = save(index)
    out.remaining = Math.max(0, limit - used)
    out.resetAt = emptyAt(index, now)
    out.ttlMs = out.state === undefined ? 0 : out.resetAt - now
  }

  return Object.freeze({
    kind: 'sliding-window' as const,
    name: policyName,
    limit,
    windowMs,
    window: raw.window as Duration,
    burst: limit,
    id,
    shadow,
    step,
    refund,
    charge,
    params: Object.freeze({ kind: 'sliding-window' as const, limit, subWindowMs: subMs, olderSubWindows: older }),
  })
}
