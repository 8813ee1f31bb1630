/**
 * `ratekeeper`: the framework-free core. A limiter, its three policies, the in-memory store, the
 * compare-and-set store wrapper, the errors, and the types a custom store implements.
 *
 * Everything else is a subpath of its own, for its own audience: `ratekeeper/http` (keys,
 * headers, 429 bodies, the request pipeline), `ratekeeper/provider` (request classes, tiers,
 * count modes, introspection), `ratekeeper/redis`, one per framework (`ratekeeper/express`,
 * `/koa`, `/fastify`, `/fetch`) and `ratekeeper/client`.
 * @packageDocumentation
 */

export { createLimiter } from './create-limiter.js'
export { type ConcurrencyOptions, concurrency } from './limiter/algorithms/concurrency.js'
export { type FixedWindowOptions, fixedWindow } from './limiter/algorithms/fixed-window.js'
export { type SlidingWindowOptions, slidingWindow } from './limiter/algorithms/sliding-window.js'
export { type TokenBucketOptions, tokenBucket } from './limiter/algorithms/token-bucket.js'
export type { Decision, DecisionReason, PolicyResult } from './limiter/decision.js'
export type { Duration } from './limiter/duration.js'
export { ConfigurationError, RateKeeperError, type RateKeeperErrorCode, StoreError } from './limiter/errors.js'
export type { Policy, PolicyState, StepOutcome } from './limiter/policy.js'
export type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from './limiter/store.js'
export type {
  ConsumeOptions,
  Layer,
  Limiter,
  LimiterEvents,
  LimiterOptions,
  Logger,
  RefundOptions,
  StoreErrorEvent,
  StoreErrorMode,
  WaitOptions,
} from './limiter/types.js'
export { type CasBackend, type CasStoreOptions, casStore } from './stores/cas.js'
export type { MemoryStoreOptions } from './stores/memory/options.js'
export { MemoryStore } from './stores/memory/store.js'
