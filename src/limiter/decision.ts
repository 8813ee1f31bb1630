import type { PolicyKind } from './policy.js'

/** Why a decision came out the way it did. */
export type DecisionReason =
  /** Every policy admitted the cost. */
  | 'ok'
  /** At least one policy is out of allowance; it will admit again after `retryAfterMs`. */
  | 'limited'
  /** The cost can never be admitted: above a policy's capacity, or a policy with `limit: 0`. */
  | 'exceeds-capacity'
  /** The store failed or timed out and `onStoreError` decided (`allowed` tells which way). */
  | 'store-error'

/** One policy's view of a request. */
export interface PolicyResult {
  /** The policy's name (unique within the request). */
  readonly name: string
  readonly kind: PolicyKind
  /** Layer this policy belongs to: `undefined` for the request's own key, else the layer's name (e.g. `'team'`). */
  readonly layer: string | undefined
  /** Cost units per window (token bucket: refill per window). */
  readonly limit: number
  /** Capacity: most cost units admitted at once (token bucket burst; `limit` for windows). */
  readonly burst: number
  /** Window length in ms (calendar months: 30 days nominal). */
  readonly windowMs: number
  /** Cost-1 requests that would succeed right now, after this request. Never negative. */
  readonly remaining: number
  /** Epoch ms when this policy is back to its full allowance. */
  readonly resetAt: number
  /** 0 when this policy admitted; ms until it would admit this cost; `Infinity` when never. */
  readonly retryAfterMs: number
  /** This policy denied the request. Always `false` for a shadow policy, which never denies: its `retryAfterMs` above 0 says it would have. */
  readonly violated: boolean
  /**
   * The policy is in shadow: decided and counted, never denying, never shown to clients. It
   * would have denied when `retryAfterMs` is not 0 (its name is then in `Decision.shadowViolated`).
   * Always set on the limiter's decisions.
   */
  readonly shadow?: boolean
}

/**
 * The answer for one request. The headline figures (`limit`, `remaining`, `resetAt`) are those of
 * the policy with the fewest remaining; when denied, of the violated policy with the longest wait.
 * Shadow policies never make the headline: a request decided on shadow policies alone has none
 * (`limit`, `remaining` and `retryAfterMs` 0, `resetAt` the decision's `at`).
 */
export interface Decision {
  readonly allowed: boolean
  readonly reason: DecisionReason
  /** The subject key the request was charged to (as passed, before encoding). */
  readonly key: string
  /** Cost units the request asked for. */
  readonly cost: number
  readonly limit: number
  readonly remaining: number
  /** Epoch ms when the headline policy is back to its full allowance. */
  readonly resetAt: number
  /** 0 when allowed; ms after which this request would be admitted; `Infinity` when never. */
  readonly retryAfterMs: number
  /** Every policy of the request, in order: the key's own policies first, then each layer's. */
  readonly policies: readonly PolicyResult[]
  /** Names of the policies that denied. Empty when allowed. Never a shadow policy. */
  readonly violated: readonly string[]
  /**
   * Names of the shadow policies that would have denied this request had they been enforcing
   * (whether or not an enforcing policy denied it). Empty when none would have; never shown to
   * clients. A consume with names here emits the limiter's `shadow-limited` event. Always set on
   * the limiter's decisions; optional so that decisions made by hand (tests) need not spell it.
   */
  readonly shadowViolated?: readonly string[]
  /** Epoch ms the decision was made at (the store's clock): pass it to `refund` as `at`. */
  readonly at: number
  /** A tier name set by the caller (shown as `X-RateLimit-Tier`). */
  readonly tier?: string | undefined
  /** A request class set by the caller (`read`, `write`, … from `ratekeeper/provider`): for metrics and logs. */
  readonly class?: string | undefined
  /** Decided by the fallback store while the store failed (`onStoreError: 'fallback'`). */
  readonly fallback?: boolean
  /** The request was not blocked because the limiter runs in dry-run mode (it would have been). */
  readonly dryRun?: boolean
  /** The error behind a `'store-error'` decision. Never shown to clients. */
  readonly error?: unknown
  /** Epoch ms when the penalty box that denied this request lets the subject through again; absent unless a box denied. */
  readonly blockedUntil?: number
  /** Why the subject is blocked, when the block was written by `limiter.block(key, { until, reason })`; absent otherwise. */
  readonly blockReason?: string
}
