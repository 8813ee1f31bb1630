import type { Duration } from './duration.js'

/** The algorithm behind a policy. @inline */
export type PolicyKind = 'token-bucket' | 'sliding-window' | 'fixed-window' | 'concurrency' | 'penalty-box'

/**
 * The stored state of one policy for one subject. Plain numbers so that every store can keep it
 * and the Lua twins can read it: a token bucket is one number (GCRA's theoretical arrival time,
 * in ticks), a fixed window `[windowIndex, count]`, a sliding window
 * `[newestSubWindow, countNewest, countOlder, …]`, a concurrency limit its live leases
 * `[lease, expiresAt, lease, expiresAt, …]`.
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
  /**
   * Roll the policy out in shadow: it is decided and counted in its own state on every request,
   * and reported (`Decision.shadowViolated`, the limiter's `shadow-limited` event), but it never
   * denies and never shows in headers or 429 bodies. Its state is charged exactly when an
   * enforced run would charge it (every policy of the request admits), so making it enforcing
   * later (same name and numbers, `shadow` left out) carries its state over. See docs/shadow-rollout.md.
   * @default false
   */
  shadow?: boolean
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
  /**
   * Stable identity used in store keys: the name plus the numbers, so a changed limit never reads
   * stale state. Not `shadow`: a policy rolled out from shadow to enforcing keeps its state.
   */
  readonly id: string
  /** Decided and counted, never denying, never shown to clients (see {@link PolicyOptionsBase.shadow}). */
  readonly shadow: boolean
  /** Token buckets and fixed windows: spent from local leases of the shared budget (the `lease` option of `tokenBucket` and `fixedWindow`). */
  readonly lease?: { readonly size: number; readonly ttlMs: number }
  /**
   * Decides `cost` against `state` at `now` (epoch ms) and writes the outcome into `out`.
   * Pure: never mutates `state`. A concurrency policy takes the lease `lease` (the request's
   * `StoreRequest.lease`) when it admits a cost above 0; rate policies ignore it. @internal
   */
  step(state: PolicyState | undefined, cost: number, now: number, out: StepOutcome, lease?: number): void
  /**
   * Gives back `cost` of the `charged` units (default: `cost`) charged at `chargedAt`; never above
   * capacity and never into a window other than the one charged. Writes the new state
   * (`undefined`: fresh) and its TTL. A concurrency policy gives back the lease `lease` instead
   * (and nothing when `lease` is absent, unknown or expired); rate policies ignore it. @internal
   */
  refund(
    state: PolicyState | undefined,
    cost: number,
    chargedAt: number,
    now: number,
    out: StepOutcome,
    lease?: number,
    charged?: number,
  ): void
  /**
   * Charges `cost` whatever the state: an actual cost settled above its estimate may take the
   * policy past its limit, into debt that later requests wait out (`remaining` stays 0 until the
   * debt is repaid; never negative). Always admits. A concurrency policy is unchanged (a cost
   * is not a request in flight). @internal
   */
  charge(state: PolicyState | undefined, cost: number, now: number, out: StepOutcome): void
  /**
   * The numbers behind `step` and `refund`, in the algorithm's own terms: what another
   * implementation of them needs (the Redis store's Lua twin is driven by these). @internal
   */
  readonly params: PolicyParams
  /**
   * Penalty boxes only (`kind: 'penalty-box'`): records one offence — the request was denied by
   * another policy of its list — into `out` (the new state; a denial until the block's end when
   * this offence starts one). Stores call it, in the same atomic call, for every box of a
   * request that another policy denied. @internal
   */
  offence?(state: PolicyState | undefined, now: number, out: StepOutcome): void
}

/**
 * A policy's arithmetic as numbers, one shape per algorithm (`kind` is the policy's). Integers;
 * times in ms unless the name says otherwise. Two policies with the same `id` have equal params.
 */
export type PolicyParams = TokenBucketParams | FixedWindowParams | SlidingWindowParams | ConcurrencyParams | PenaltyBoxParams

/** {@link PolicyParams} of a token bucket: GCRA with time counted in ticks of `1 / ticksPerMs` ms. */
export interface TokenBucketParams {
  readonly kind: 'token-bucket'
  /** Tokens refilled per window (0: denies everything). */
  readonly limit: number
  /** Bucket capacity, in tokens. */
  readonly burst: number
  /** Ticks per ms: the time resolution that makes one token a whole number of ticks. */
  readonly ticksPerMs: number
  /** Ticks one token takes to refill (the emission interval). */
  readonly tokenTicks: number
}

/** {@link PolicyParams} of a fixed window, aligned to the Unix epoch or to UTC calendar months. */
export interface FixedWindowParams {
  readonly kind: 'fixed-window'
  /** Cost units per window. */
  readonly limit: number
  /** Window length; for calendar months the nominal 30 days (the real edges are the 1sts). */
  readonly windowMs: number
  /** Windows are UTC calendar months rather than `windowMs`-long spans. */
  readonly calendarMonth: boolean
}

/** {@link PolicyParams} of a sliding window counted in sub-windows. */
export interface SlidingWindowParams {
  readonly kind: 'sliding-window'
  /** Cost units per window. */
  readonly limit: number
  /** Length of one sub-window. */
  readonly subWindowMs: number
  /** Sub-windows before the current one that still overlap the window (the state holds up to one more). */
  readonly olderSubWindows: number
}

/** {@link PolicyParams} of a concurrency limit: leases held until released or expired. */
export interface ConcurrencyParams {
  readonly kind: 'concurrency'
  /** Requests in flight at once. */
  readonly limit: number
  /** How long a lease lives when nobody releases it (its process died), ms. */
  readonly leaseMs: number
  /** The wait a denial suggests, at most: completion times are unknown, ms. */
  readonly retryMs: number
}

/** {@link PolicyParams} of a penalty box. */
export interface PenaltyBoxParams {
  readonly kind: 'penalty-box'
  /** Offences that put the subject in the box. */
  readonly after: number
  /** The span offences are counted in, ms. */
  readonly withinMs: number
  /** Block lengths, ms, by repeat offence (the last one repeats). */
  readonly blocksMs: readonly number[]
  /** Quiet period before the record is forgotten, ms. */
  readonly forgiveMs: number
  /**
   * A box written by `limiter.block`/`unblock` (through the store's `charge`): 0 for the box
   * itself; 1 for `unblock` (its `charge` forgets the whole record); otherwise its `charge` sets
   * the block to end at `setUntil` (a time not after the store's now ends the block: the level
   * and offences are kept).
   */
  readonly setUntil: number
  /** The reason `limiter.block` gives the block it writes (`setUntil` after now); `''` for none. */
  readonly setReason: string
}

/** A fresh scratch outcome. */
export function newOutcome(): StepOutcome {
  return { allowed: false, never: false, state: undefined, remaining: 0, resetAt: 0, retryAfterMs: 0, ttlMs: 0 }
}

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$/

/** Some policy of the list is in shadow (see {@link PolicyOptionsBase.shadow}). */
export function hasShadow(policies: readonly Pick<Policy, 'shadow'>[]): boolean {
  for (let i = 0; i < policies.length; i++) if (policies[i].shadow) return true
  return false
}

/** Some policy of the list is a concurrency limit (its requests take leases). */
export function hasConcurrency(policies: readonly Pick<Policy, 'kind'>[]): boolean {
  for (let i = 0; i < policies.length; i++) if (policies[i].kind === 'concurrency') return true
  return false
}
