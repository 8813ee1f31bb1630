/**
 * ratekeeper: rate limiting for Node.js APIs and their clients.
 *
 * The root export holds the framework-free core and the in-memory store. Adapters, the Redis
 * store and the client are subpath exports (`ratekeeper/express`, `ratekeeper/redis`, …).
 * @packageDocumentation
 */

export { allowList } from './http/allow-list.js'
export { type CountedRequest, type CountMode, countingFinish, type HttpFinish, responseCounts } from './http/count-mode.js'
export type { HttpLimiterOptions } from './http/http-options.js'
export * from './http/index.js'
export { DEFAULT_IPV6_SUBNET, normalizeIp } from './http/ip.js'
export {
  API_KEY_PREFIX,
  type ApiKeyOptions,
  apiKey,
  IP_PREFIX,
  ipKey,
  type KeyFunction,
  USER_PREFIX,
  userKey,
} from './http/keys.js'
export { createHttpLimiter, type HttpLimiter } from './http/pipeline.js'
export type { HeaderReader, HttpOutcome, HttpRequestInfo, RequestFunction, RequestPlan } from './http/request.js'
export { type FixedWindowOptions, fixedWindow, NOMINAL_MONTH_MS } from './limiter/algorithms/fixed-window.js'
export { type SlidingWindowOptions, slidingWindow } from './limiter/algorithms/sliding-window.js'
export { MAX_TICKS_PER_MS, type TokenBucketOptions, tokenBucket } from './limiter/algorithms/token-bucket.js'
export type { Decision, DecisionReason, PolicyResult } from './limiter/decision.js'
export { type Duration, type DurationUnit, parseDuration } from './limiter/duration.js'
export { ConfigurationError, RateKeeperError, type RateKeeperErrorCode, StoreError } from './limiter/errors.js'
export {
  type ConsumeOptions,
  createLimiter,
  type Layer,
  type Limiter,
  type LimiterEventName,
  type LimiterEvents,
  type LimiterOptions,
  type Logger,
  type RefundOptions,
  type StoreErrorEvent,
  type StoreErrorMode,
  type WaitOptions,
} from './limiter/limiter.js'
export type { Policy, PolicyKind, PolicyOptionsBase, PolicyState, StepOutcome } from './limiter/policy.js'
export { type Sleep, timerSleep } from './limiter/sleep.js'
export type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from './limiter/store.js'
export { encodeSubject, MAX_SUBJECT_LENGTH } from './limiter/subject.js'
export * from './provider/index.js'
export { type CasBackend, type CasStoreOptions, type CasWrite, casStore, type Versioned } from './stores/cas.js'
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js'
