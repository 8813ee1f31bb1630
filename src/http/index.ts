/**
 * `ratekeeper/http`: what every HTTP integration shares, framework-free. The request pipeline
 * the adapters are built on (`createHttpLimiter`), the key helpers (`apiKey`, `ipKey`,
 * `userKey`, `allowList`, `normalizeIp`), and the pure functions from a decision to rate-limit
 * headers and 429 bodies.
 * @packageDocumentation
 */

export {
  type AccessList,
  type AccessListOptions,
  accessList,
  type DeniedContext,
  type DeniedOptions,
  denyList,
  type ListKind,
  type ListMatch,
} from './access-list.js'
export type { ActualCostSource, FinishedResponse } from './actual-cost.js'
export { type AllowList, allowList } from './allow-list.js'
export {
  type BodyContext,
  type BodyFormatter,
  type BodyOptions,
  type BodyPreset,
  type BodyRenderer,
  type BodyRequestInfo,
  createLimitedBody,
  type LimitedBody,
  limitedBody,
  QUOTA_EXCEEDED_TYPE,
} from './bodies.js'
export { type CountedRequest, type CountMode, countingFinish, type HttpFinish, responseCounts } from './count-mode.js'
export {
  createRateLimitHeaders,
  type HeaderNameCase,
  type HeaderOptions,
  type HeaderRenderer,
  type LegacyHeaders,
  rateLimitHeaders,
  retryAfterSeconds,
  type StandardHeaders,
} from './headers.js'
export type { HttpLimiterOptions } from './http-options.js'
export { normalizeIp } from './ip.js'
export { type ApiKeyOptions, apiKey, ipKey, type KeyFunction, type KeyWarn, userKey } from './keys.js'
export { createHttpLimiter, type HttpAdapterSettings, type HttpLimiter } from './pipeline.js'
export type { HeaderReader, HttpOutcome, HttpRequestInfo, RequestFunction, RequestPlan } from './request.js'
export {
  isShedding,
  type LoadShedding,
  type LoadSheddingOptions,
  loadShedding,
  sheddingBody,
} from './shedding.js'
export type { DecidedMark } from './stacking.js'
export { type UpstreamLimitedOptions, upstreamLimitedBody } from './upstream-body.js'
