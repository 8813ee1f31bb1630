import type { Duration } from './duration.js'

/** The algorithm behind a policy. @inline */
export type PolicyKind = 'token-bucket' | 'sliding-window' | 'fixed-window'

/**
 * The stored state of one policy for one subject. Plain numbers so that every store can keep it
 * and the Lua twins can read it: a token bucket is one number (GCRA's theoretical arrival time,
 * in ticks), a fixed window `[windowIndex, count]`, a sliding window
 * `[newestSubWindow, countNewest, countOlder, …]`.
 */
export type PolicyState = number | number[]

/**
 * What one policy says about one request. Filled in place by {@link Policy.step} so the hot path
 * allocates nothing per policy.
 */
export interface StepOutcome {
  /** This policy alone would admit the cost. */
  allowed: boolean
  /** The cost can never be admitted (limit 0, or cost above capacity). */
  never: boolean
  /** The state to store if the whole request is admitted; `undefined` means "fresh: delete". */
  state: PolicyState | undefined
  /** Cost-1 requests that would succeed right after this one (or now, when denied). */
  remaining: number
  /** Epoch ms when the policy is back to its full allowance. */
  resetAt: number
  /** 0 when allowed; ms until this cost would be admitted; -1 when never. */
  retryAfterMs: number
  /** How long the new state matters, ms; 0 means it equals a fresh state. */
  ttlMs: number
}

/** Options shared by every policy factory. */
export interface PolicyOptionsBase {
  /**
   * Name used in headers (`RateLimit-Policy`), 429 bodies (`violated-policies`) and store keys.
   * Letters, digits and `_ . : / -`, at most 64 characters.
   * @default derived from the numbers, e.g. `"100-per-1m"`
   */
  name?: string
  /**
   * Requests (or cost units) allowed per window. `0` denies everything.
   */
  limit: number
}

/** A compiled, immutable policy made by {@link tokenBucket}, {@link slidingWindow} or {@link fixedWindow}. */
export interface Policy {
  readonly kind: PolicyKind
  readonly name: string
  /** Cost units allowed per window (token bucket: refilled per window). */
  readonly limit: number
  /** Window length in ms; for calendar months, the length of a 30-day month (nominal). */
  readonly windowMs: number
  /** The window as given, for display (`'1m'`, `60000`, `'month'`). */
  readonly window: Duration | 'month'
  /** Most cost units admitted at once: the bucket capacity, or `limit` for windows. */
  readonly burst: number
  /** Stable identity used in store keys: the name plus the numbers, so a changed limit never reads stale state. */
  readonly id: string
  /** Process-local small integer for `id`, used by in-process stores for short keys. @internal */
  readonly slot: number
  /**
   * Decides `cost` against `state` at `now` (epoch ms) and writes the outcome into `out`.
   * Pure: never mutates `state`. @internal
   */
  step(state: PolicyState | undefined, cost: number, now: number, out: StepOutcome): void
  /**
   * Gives back `cost` charged at `chargedAt`; never above capacity and never into a window other
   * than the one charged. Returns the new state (`undefined`: fresh) and its TTL. @internal
   */
  refund(state: PolicyState | undefined, cost: number, chargedAt: number, now: number, out: StepOutcome): void
  /** Parameters the Lua twin needs, in order. @internal */
  readonly scriptArgs: readonly number[]
}

/** A fresh scratch outcome. */
export function newOutcome(): StepOutcome {
  return { allowed: false, never: false, state: undefined, remaining: 0, resetAt: 0, retryAfterMs: 0, ttlMs: 0 }
}

const slots = new Map<string, number>()
/** Interns a policy id as a small integer. The table grows only with distinct policy definitions. */
export function slotFor(id: string): number {
  let slot = slots.get(id)
  if (slot === undefined) {
    slot = slots.size
    slots.set(id, slot)
  }
  return slot
}

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$/
