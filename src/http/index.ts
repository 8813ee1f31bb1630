/**
 * `ratekeeper/http`: what every HTTP integration shares, framework-free. The request pipeline
 * the adapters are built on (`createHttpLimiter`), the key helpers (`apiKey`, `ipKey`,
 * `userKey`, `allowList`, `normalizeIp`), and the pure functions from a decision to rate-limit
 * headers and 429 bodies.
 * @packageDocumentation
 */

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
  type UpstreamLimitedOptions,
  upstreamLimitedBody,
} from './bodies.js'
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
export {
  type ApiKeyOptions,
  allowList,
  apiKey,
  ipKey,
  type KeyFunction,
  type KeyRequestInfo,
  type KeyWarn,
  normalizeIp,
  userKey,
} from './keys.js'
export {
  createHttpLimiter,
  type DecidedMark,
  type HeaderReader,
  type HttpFinish,
  type HttpLimiter,
  type HttpLimiterOptions,
  type HttpOutcome,
  type HttpRequestInfo,
  type RequestFunction,
  type RequestPlan,
} from './pipeline.js'
