/**
 * The outgoing side: a `fetch` that follows the rate-limit rules servers send (any header
 * dialect), retries 429/503 with capped full-jitter backoff, paces itself, queues at a rate and
 * concurrency (optionally on a shared store), and raises `RateLimitError` when it gives up.
 * @module ratekeeper/client
 */

export { type ResetFormat, resetToEpochMs } from '../limiter/reset-time.js'
export { parseRetryAfter } from '../limiter/retry-after.js'
export { createClient, type RateLimitedFetch } from './client.js'
export { type LimitedBodyInfo, readLimitedBody } from './error-body.js'
export type { ClientEventName, ClientEvents, ClientResponseEvent, ClientRetryEvent, ClientWaitEvent } from './events.js'
export type { HeadersLike } from './headers-like.js'
export type { ClientOptions, FetchFunction, PaceOptions, QueueOptions, RetryOptions } from './options.js'
export type { BudgetState } from './pacer.js'
export { type ParseRateLimitOptions, parseRateLimitHeaders } from './parse-headers.js'
export { type GiveUpReason, RateLimitError, type RateLimitErrorDetails, type RateLimitSource } from './rate-limit-error.js'
export type { RateLimitDialect, RateLimitInfo, RateLimitPolicyInfo } from './rate-limit-info.js'
export type { ClientRequestInit, RequestRateLimitOptions } from './request-options.js'
export { fullJitterDelay, type Sleep } from './timing.js'
