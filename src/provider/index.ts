/**
 * `ratekeeper/provider`: what an API provider needs, framework-free: request classes, tiers and
 * plans, team ceilings, count modes, the `GET /v1/rate-limits` handler, upstream 429s and the
 * penalty box (`limiter.block` / `limiter.unblock` take its options). Every
 * adapter takes a plan through its `plan` option.
 * @packageDocumentation
 */
export { type PenaltyBoxOptions, penaltyBox } from '../limiter/algorithms/penalty-box.js'
export type { BlockOptions, UnblockOptions } from '../limiter/types.js'
export { type CachedList, type CachedListOptions, cachedList } from './cached-list.js'
export { type RequestClass, type RequestClassesOptions, type RequestClassifier, requestClasses } from './classes.js'
export {
  type BucketState,
  type HandlerResponse,
  type RateLimitState,
  type RateLimitsHandlerOptions,
  rateLimitsHandler,
} from './introspection.js'
export {
  type LoginAttempt,
  type LoginAttemptInfo,
  type LoginGuard,
  type LoginGuardOptions,
  type LoginLimit,
  type LoginPenalty,
  loginGuard,
  normalizeUsername,
} from './login-guard.js'
export { type CachedLookup, type CachedLookupOptions, cachedLookup, type KeyResolver } from './lookup.js'
export { type PlanSubject, type ProviderPlan, providerPlan } from './plan.js'
export type { TierLimits } from './plan-limits.js'
export type { ProviderPlanOptions } from './plan-options.js'
export type { PlanSheddingOptions } from './shedding.js'
export { type TierByPrefixOptions, tierByPrefix } from './tiers.js'
export type { ProviderRequestInfo, ProviderRequestPlan } from './types.js'
export {
  type UpstreamHeaders,
  type UpstreamRateLimit,
  type UpstreamRateLimitOptions,
  type UpstreamResponse,
  type UpstreamRetrySource,
  upstreamRateLimit,
} from './upstream.js'
