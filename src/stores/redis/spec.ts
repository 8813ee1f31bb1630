import type { PolicyParams } from '../../limiter/policy.js'

/** The script's operation codes: the first number of each request in a batch. */
export const OP = { consume: 1, peek: 2, refund: 3, reset: 4, charge: 5 } as const
export type Op = (typeof OP)[keyof typeof OP]

/**
 * The script's kind codes: the first number of a policy's spec, which tells the Lua which twin to
 * run (the Lua side reads them in `DECIDE_SCRIPT`'s spec parser and `step`; the script's header
 * lists them). The only place in TypeScript that knows them.
 */
export const SCRIPT_KIND = {
  tokenBucket: 1,
  fixedWindow: 2,
  calendarMonth: 3,
  slidingWindow: 4,
  concurrency: 5,
  penaltyBox: 6,
} as const

/**
 * A policy's spec for the script: `"kind:limit:…"`, the numbers its Lua twin reads, in order.
 * - token bucket `1:limit:burst:ticksPerMs:tokenTicks`
 * - fixed window `2:limit:windowMs`, calendar month `3:limit:0`
 * - sliding window `4:limit:subWindowMs:olderSubWindows`
 * - concurrency `5:limit:leaseMs:retryMs`
 * - penalty box `6:after:withinMs:forgiveMs:setUntil:block.block…[:reason]` (`setUntil` 0 for the
 *   box, 1 for `unblock`, else the end of `limiter.block`'s block; block lengths in ms,
 *   `.`-separated; the reason of `limiter.block`, when given, as the hex of its UTF-8)
 */
export function specOf(params: PolicyParams): string {
  switch (params.kind) {
    case 'token-bucket':
      return `${SCRIPT_KIND.tokenBucket}:${params.limit}:${params.burst}:${params.ticksPerMs}:${params.tokenTicks}`
    case 'fixed-window':
      return params.calendarMonth
        ? `${SCRIPT_KIND.calendarMonth}:${params.limit}:0`
        : `${SCRIPT_KIND.fixedWindow}:${params.limit}:${params.windowMs}`
    case 'sliding-window':
      return `${SCRIPT_KIND.slidingWindow}:${params.limit}:${params.subWindowMs}:${params.olderSubWindows}`
    case 'concurrency':
      return `${SCRIPT_KIND.concurrency}:${params.limit}:${params.leaseMs}:${params.retryMs}`
    case 'penalty-box':
      return `${SCRIPT_KIND.penaltyBox}:${params.after}:${params.withinMs}:${params.forgiveMs}:${params.setUntil}:${params.blocksMs.join('.')}${params.setReason === '' ? '' : `:${Buffer.from(params.setReason).toString('hex')}`}`
  }
}

/**
 * What the script needs to decide one consume alone of a policy inline (the compact layout): its
 * head, a letter, the step's numbers as 14 hex digits each, then the spec (the script reads hex
 * with `strtoul`, a tenth of what `strtod` costs for decimal, and matches no pattern); and the
 * largest cost it can admit, since only a cost it can admit goes compact.
 * - token bucket `t`, capacity in ticks (burst × tokenTicks), ticksPerMs, tokenTicks
 * - fixed window `f`, limit, windowMs
 */
export interface Alone {
  readonly head: string
  readonly capacity: number
}

/** A number as 14 hex digits (up to 2^56: every safe integer). */
function hex14(n: number): string {
  return n.toString(16).padStart(14, '0')
}

/** The compact head of a policy, or `undefined` when the script can't decide it inline (a limit of 0, a calendar month, another kind). */
export function aloneOf(params: PolicyParams): Alone | undefined {
  if (params.kind === 'token-bucket') {
    const capacity = params.burst * params.tokenTicks
    if (params.limit <= 0 || !Number.isSafeInteger(capacity) || !Number.isSafeInteger(params.ticksPerMs)) return undefined
    return { head: `t${hex14(capacity)}${hex14(params.ticksPerMs)}${hex14(params.tokenTicks)}${specOf(params)}`, capacity: params.burst }
  }
  if (params.kind === 'fixed-window' && !params.calendarMonth && params.limit > 0) {
    return { head: `f${hex14(params.limit)}${hex14(params.windowMs)}${specOf(params)}`, capacity: params.limit }
  }
  return undefined
}
