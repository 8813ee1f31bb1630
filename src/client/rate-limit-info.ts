/** A family of rate-limit headers. */
export type RateLimitDialect =
  /** IETF draft-ietf-httpapi-ratelimit-headers-10: `RateLimit` + `RateLimit-Policy` structured-field lists. */
  | 'draft-10'
  /** IETF draft 7: `RateLimit: limit=100, remaining=50, reset=5` (a Dictionary). */
  | 'draft-7'
  /** IETF draft 6: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`. */
  | 'draft-6'
  /** The conventional `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`. */
  | 'x-ratelimit'

/** One policy (quota) the server reported. Absent figures are `undefined`. */
export interface RateLimitPolicyInfo {
  /** The policy's name (draft-10 only). */
  readonly name: string | undefined
  /** The header family it was read from. */
  readonly dialect: RateLimitDialect
  /** Quota per window (`q`, `limit`). */
  readonly limit: number | undefined
  /** Quota left (`r`, `remaining`). */
  readonly remaining: number | undefined
  /** Epoch ms when more quota becomes available (`t`, `reset`). */
  readonly resetAt: number | undefined
  /** Window length in ms (`w`). */
  readonly windowMs: number | undefined
  /** Quota unit (draft-10 `qu`: `requests`, `content-bytes`, `concurrent-requests`). */
  readonly unit: string | undefined
  /** Partition key (draft-10 `pk`), base64. */
  readonly partitionKey: string | undefined
}

/**
 * Everything a response said about rate limits, normalised whatever the dialect. Absent figures
 * are `undefined`, never guessed.
 */
export interface RateLimitInfo {
  /** The headline policy's quota per window. */
  readonly limit: number | undefined
  /** The headline policy's quota left: the fewest left of all policies reported. */
  readonly remaining: number | undefined
  /**
   * Epoch ms when the headline policy makes more quota available: the window's reset
   * (`X-RateLimit-Reset`, draft 6/7 `reset`) or the draft-10 `t` (for a token bucket, the next unit).
   */
  readonly resetAt: number | undefined
  /** `Retry-After` in ms (delay-seconds or an HTTP-date, measured from `at`). */
  readonly retryAfterMs: number | undefined
  /** Every policy reported: each draft-10 list member, else the one policy of the headline's dialect. */
  readonly policies: readonly RateLimitPolicyInfo[]
  /** `X-RateLimit-Tier` (skakio's `public_key` / `secret_key`). */
  readonly tier: string | undefined
  /** The dialect the headline figures come from (draft-10 first, then 7, 6, `X-RateLimit-*`). */
  readonly dialect: RateLimitDialect | undefined
  /** Every dialect found in the headers. */
  readonly dialects: readonly RateLimitDialect[]
  /** The clock reading (epoch ms) that relative values were converted with. */
  readonly at: number
}

/** A policy while the headers are read; frozen into a {@link RateLimitPolicyInfo} at the end. */
export type MutablePolicy = { -readonly [K in keyof RateLimitPolicyInfo]: RateLimitPolicyInfo[K] }

/** A policy of `dialect` with no figures yet. */
export const blankPolicy = (dialect: RateLimitDialect, name?: string): MutablePolicy => ({
  name,
  dialect,
  limit: undefined,
  remaining: undefined,
  resetAt: undefined,
  windowMs: undefined,
  unit: undefined,
  partitionKey: undefined,
})

/** The figures of a dialect that reports one policy, as sent: `reset` is not yet converted to epoch ms. */
export interface Figures {
  limit?: number
  remaining?: number
  reset?: number
}

/**
 * Of two values of one figure (a field sent twice, a key repeated), the one that binds harder: the
 * latest reset, else the smaller (the fewest remaining, the smallest limit).
 */
export function strictest(figure: keyof Figures, a: number, b: number): number {
  return figure === 'reset' ? Math.max(a, b) : Math.min(a, b)
}

// The figure grammar is shared with upstreamRateLimit(), which reads reset fields by the same rule.
export { FIGURE_PATTERN, MAX_FIGURE } from '../limiter/reset-time.js'

/**
 * Whether a policy with `remaining` left and more at `resetAt` binds harder than `than`: fewer
 * remaining (an unknown remaining counts as more), or as many and a longer wait (an unknown reset
 * waits least). The choice among repeated draft-10 members and the headline both follow it.
 */
export function isStricter(remaining: number, resetAt: number | undefined, than: Pick<MutablePolicy, 'remaining' | 'resetAt'>): boolean {
  return (
    than.remaining === undefined || remaining < than.remaining || (remaining === than.remaining && (resetAt ?? -1) > (than.resetAt ?? -1))
  )
}
