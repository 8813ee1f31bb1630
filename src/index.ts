/**
 * ratekeeper: rate limiting for Node.js APIs and their clients.
 *
 * The root export holds the framework-free core and the in-memory store. Adapters, the Redis
 * store and the client are subpath exports (`ratekeeper/express`, `ratekeeper/redis`, …).
 * @packageDocumentation
 */

export { createLimiter } from './create-limiter.js'
export * from './http/index.js'
export {
  API_KEY_PREFIX,
  type ApiKeyOptions,
  allowList,
  apiKey,
  DEFAULT_IPV6_SUBNET,
  IP_PREFIX,
  ipKey,
  type KeyFunction,
  type KeyRequestInfo,
  normalizeIp,
  USER_PREFIX,
  userKey,
} from './http/keys.js'
export {
  createHttpLimiter,
  type HeaderReader,
  type HttpFinish,
  type HttpLimiter,
  type HttpLimiterOptions,
  type HttpOutcome,
  type HttpRequestInfo,
  type RequestFunction,
  type RequestPlan,
} from './http/pipeline.js'
export { type FixedWindowOptions, fixedWindow, NOMINAL_MONTH_MS } from './limiter/algorithms/fixed-window.js'
export { type SlidingWindowOptions, slidingWindow } from './limiter/algorithms/sliding-window.js'
export { MAX_TICKS_PER_MS, type TokenBucketOptions, tokenBucket } from './limiter/algorithms/token-bucket.js'
export type { Decision, DecisionReason, PolicyResult } from './limiter/decision.js'
export { type Duration, type DurationUnit, parseDuration } from './limiter/duration.js'
export { ConfigurationError, RateKeeperError, type RateKeeperErrorCode, StoreError } from './limiter/errors.js'
export type { Policy, PolicyKind, PolicyOptionsBase, PolicyState, StepOutcome } from './limiter/policy.js'
export { type Sleep, timerSleep } from './limiter/sleep.js'
export type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from './limiter/store.js'
export { encodeSubject, MAX_SUBJECT_LENGTH } from './limiter/subject.js'
export type {
  ConsumeOptions,
  Layer,
  Limiter,
  LimiterEventName,
  LimiterEvents,
  LimiterOptions,
  Logger,
  RefundOptions,
  StoreErrorEvent,
  StoreErrorMode,
  WaitOptions,
} from './limiter/types.js'
export * from './provider/index.js'
export { type CasBackend, type CasStoreOptions, type CasWrite, casStore, type Versioned } from './stores/cas.js'
export type { MemoryStoreOptions } from './stores/memory/options.js'
export { MemoryStore } from './stores/memory/store.js'
