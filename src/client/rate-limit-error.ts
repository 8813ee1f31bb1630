import { RateKeeperError } from '../limiter/errors.js'
import type { RateLimitInfo } from './rate-limit-info.js'

/**
 * Whose limit stopped the request:
 * - `'server'`: the API's own limit (Scalekit `RATE_LIMITED`, any plain 429 or 503);
 * - `'upstream'`: a provider the API called on your behalf (Scalekit `TOOL_ERROR`, or a problem
 *   body with `"source": "upstream"`): apply that provider's backoff, not a global slow-down;
 * - `'client'`: this process's own pacing or outgoing queue would have had to wait longer than
 *   `maxWaitMs`, so the request was never sent.
 */
export type RateLimitSource = 'server' | 'upstream' | 'client'

/**
 * Why the client gave up:
 * - `'retries-exhausted'`: every allowed retry was answered 429/503;
 * - `'max-wait'`: the next wait (the server's `Retry-After`, the backoff, pacing or the queue)
 *   would have gone past `maxWaitMs`;
 * - `'not-retryable'`: the request may not be retried (a non-idempotent method without opt-in, a
 *   streamed body, or retries turned off);
 * - `'store-error'`: the shared `limiter`'s store failed and its `onStoreError: 'deny'` refused
 *   the request (`source: 'client'`, nothing sent).
 */
export type GiveUpReason = 'retries-exhausted' | 'max-wait' | 'not-retryable' | 'store-error'

/** The fields of a {@link RateLimitError}. */
export interface RateLimitErrorDetails {
  readonly reason: GiveUpReason
  readonly source: RateLimitSource
  readonly method: string
  readonly url: string
  readonly status: number | undefined
  readonly errorCode: string | undefined
  readonly serverMessage: string | undefined
  readonly limit: number | undefined
  readonly remaining: number | undefined
  readonly resetAt: number | undefined
  readonly retryAfterMs: number | undefined
  readonly tier: string | undefined
  readonly rateLimit: RateLimitInfo | undefined
  readonly response: Response | undefined
  readonly body: unknown
  readonly attempts: number
  readonly waitedMs: number
  readonly cause?: unknown
}

/**
 * Thrown by a `createClient()` fetch when it gives up on a rate-limited request.
 *
 * Two codes, on purpose: `code` is ratekeeper's own, always `'ERR_RK_RATE_LIMITED'` (match on it
 * the way you match any ratekeeper error); `errorCode` is the code **the API** put in its body
 * (`'RATE_LIMITED'`, `'TOOL_ERROR'`, `'rate_limit.exceeded'`, `'RATE_LIMIT_EXCEEDED'`, a problem
 * `type`…), `undefined` when it sent none.
 *
 * @example
 * try {
 *   await api('/v1/tools/execute', { method: 'POST', body })
 * } catch (error) {
 *   if (error instanceof RateLimitError && error.source === 'upstream') {
 *     // the provider behind the API is limited: back off on that provider only
 *   }
 * }
 */
export class RateLimitError extends RateKeeperError {
  declare readonly code: 'ERR_RK_RATE_LIMITED'
  /** Why the client gave up. */
  readonly reason: GiveUpReason
  /** Whose limit it was. */
  readonly source: RateLimitSource
  /** The request's method, upper case. */
  readonly method: string
  /** The request's URL. */
  readonly url: string
  /** The last response's status (429, 503…); `undefined` when the request was never sent (`source: 'client'`). */
  readonly status: number | undefined
  /** The error code found in the response body, e.g. `'TOOL_ERROR'`. */
  readonly errorCode: string | undefined
  /** The message found in the response body. */
  readonly serverMessage: string | undefined
  /** The headline quota (from the rate-limit headers). */
  readonly limit: number | undefined
  /** Quota left (from the rate-limit headers). */
  readonly remaining: number | undefined
  /** Epoch ms when more quota becomes available (from the rate-limit headers). */
  readonly resetAt: number | undefined
  /**
   * How long to wait before trying again, ms: `Retry-After`, or the time to `resetAt` when nothing
   * remains (the later of the two when within rounding); for a call never sent, the wait the client refused.
   */
  readonly retryAfterMs: number | undefined
  /** `X-RateLimit-Tier`, or the tier named in the body. */
  readonly tier: string | undefined
  /** Everything the last response's headers said. */
  readonly rateLimit: RateLimitInfo | undefined
  /** The last response, its body unread (the client read a copy). `undefined` when nothing was sent. */
  readonly response: Response | undefined
  /** The last response's body: parsed JSON, else its text (first 64 KiB), else `undefined`. */
  readonly body: unknown
  /** Requests sent for this call. */
  readonly attempts: number
  /** Time spent waiting (pacing, queue, backoff), ms. */
  readonly waitedMs: number

  constructor(message: string, details: RateLimitErrorDetails) {
    super('ERR_RK_RATE_LIMITED', message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'RateLimitError'
    this.reason = details.reason
    this.source = details.source
    this.method = details.method
    this.url = details.url
    this.status = details.status
    this.errorCode = details.errorCode
    this.serverMessage = details.serverMessage
    this.limit = details.limit
    this.remaining = details.remaining
    this.resetAt = details.resetAt
    this.retryAfterMs = details.retryAfterMs
    this.tier = details.tier
    this.rateLimit = details.rateLimit
    this.response = details.response
    this.body = details.body
    this.attempts = details.attempts
    this.waitedMs = details.waitedMs
  }
}
