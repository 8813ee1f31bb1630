// Header options: their type, the names of the headers they send, and their validation (applied once).
import { checkKnownOptions, checkOptionsObject, invalid } from '../limiter/errors.js'

/**
 * The conventional header set: `X-RateLimit-Limit`, `X-RateLimit-Remaining`,
 * `X-RateLimit-Reset` (Unix epoch seconds) and, when the decision has a tier, `X-RateLimit-Tier`.
 * `false` sends none of them.
 */
export type LegacyHeaders = 'x-ratelimit' | false

/**
 * The IETF header set (draft-ietf-httpapi-ratelimit-headers):
 * - `'draft-10'`: `RateLimit` + `RateLimit-Policy`, structured fields listing every policy;
 * - `'draft-7'`: `RateLimit: limit=100, remaining=50, reset=5` + `RateLimit-Policy: 100;w=60`;
 * - `'draft-6'`: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (delta seconds) + `RateLimit-Policy`;
 * - `false`: none.
 */
export type StandardHeaders = 'draft-10' | 'draft-7' | 'draft-6' | false

/** Which rate-limit headers to send. `Retry-After` is always sent on a denial that can be retried. */
export interface HeaderOptions {
  /**
   * The conventional `X-RateLimit-*` set.
   * @default 'x-ratelimit'
   */
  legacy?: LegacyHeaders
  /**
   * The IETF set and its draft.
   * @default 'draft-10'
   */
  standard?: StandardHeaders
  /**
   * Send `X-RateLimit-Tier` (with the `legacy` set) when the decision carries a tier. A tier that
   * is not 1-128 visible ASCII characters is never sent.
   * @default true
   */
  tier?: boolean
  /**
   * Name the binding policy in a header of its own: `true` sends `RateLimit-Reason`, a string
   * sends a header of that name (e.g. `'X-RateLimit-Resource'`, GitHub's spelling). The value is
   * the headline policy's name as a structured-field string (`"per-minute"`): on a 429 the
   * violated policy with the longest wait (the one `Retry-After` is for), otherwise the one with
   * the fewest remaining (the one `X-RateLimit-*` describe). Sent with the rate-limit figures,
   * never for a shadow policy. Not part of any draft (see docs/headers-and-bodies.md).
   * @default false
   */
  reason?: boolean | string
  /**
   * The random source of the jitter added to `Retry-After` on a concurrency denial (a number in
   * [0, 1), like `Math.random`): the hint of `s` seconds becomes `s` to `2s` seconds, so that
   * denied clients don't all come back together. Inject it to make tests deterministic.
   * @default Math.random
   */
  retryJitter?: () => number
}

/** The names of the headers a renderer sets. @internal */
export interface HeaderNames {
  readonly limit: string
  readonly remaining: string
  readonly reset: string
  readonly tier: string
  readonly state: string
  readonly policy: string
  readonly draftLimit: string
  readonly draftRemaining: string
  readonly draftReset: string
  readonly retryAfter: string
}

/** @internal */
export const CANONICAL_NAMES: HeaderNames = {
  limit: 'X-RateLimit-Limit',
  remaining: 'X-RateLimit-Remaining',
  reset: 'X-RateLimit-Reset',
  tier: 'X-RateLimit-Tier',
  state: 'RateLimit',
  policy: 'RateLimit-Policy',
  draftLimit: 'RateLimit-Limit',
  draftRemaining: 'RateLimit-Remaining',
  draftReset: 'RateLimit-Reset',
  retryAfter: 'Retry-After',
}

/** @internal */
export const LOWER_CASE_NAMES: HeaderNames = {
  limit: 'x-ratelimit-limit',
  remaining: 'x-ratelimit-remaining',
  reset: 'x-ratelimit-reset',
  tier: 'x-ratelimit-tier',
  state: 'ratelimit',
  policy: 'ratelimit-policy',
  draftLimit: 'ratelimit-limit',
  draftRemaining: 'ratelimit-remaining',
  draftReset: 'ratelimit-reset',
  retryAfter: 'retry-after',
}

/**
 * How a renderer spells header names: `'canonical'` (`X-RateLimit-Limit`), or `'lower'` for
 * frameworks that lower-case every name they are given (Fastify), so they get constants instead
 * of building a new string per header and request.
 * @internal
 */
export type HeaderNameCase = 'canonical' | 'lower'

const WHERE = 'rateLimitHeaders()'
const KNOWN: { readonly [K in keyof Required<HeaderOptions>]: true } = {
  legacy: true,
  standard: true,
  tier: true,
  reason: true,
  retryJitter: true,
}
/** An HTTP field name (RFC 9110 token), at most 64 characters. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/
/** Names the other options set: a reason header may not take one of them. */
const TAKEN_NAMES = new Set(Object.values(CANONICAL_NAMES).map((n) => n.toLowerCase()))
const STANDARDS: readonly unknown[] = ['draft-10', 'draft-7', 'draft-6', false]

/** Header options, validated, with their defaults applied. @internal */
export interface HeaderSettings {
  readonly legacy: boolean
  readonly standard: StandardHeaders
  readonly tier: boolean
  /** The reason header's name as given (`undefined`: none). */
  readonly reason: string | undefined
  readonly jitter: () => number
}

/** Validates header options and applies their defaults. @internal */
export function headerSettings(options: HeaderOptions | undefined): HeaderSettings {
  if (options !== undefined) {
    checkOptionsObject(WHERE, options)
    checkKnownOptions(WHERE, options, KNOWN)
    if (options.legacy !== undefined && options.legacy !== 'x-ratelimit' && options.legacy !== false) {
      invalid(WHERE, 'legacy', "must be 'x-ratelimit' or false", options.legacy)
    }
    if (options.standard !== undefined && !STANDARDS.includes(options.standard)) {
      invalid(WHERE, 'standard', "must be 'draft-10', 'draft-7', 'draft-6' or false", options.standard)
    }
    if (options.tier !== undefined && typeof options.tier !== 'boolean') invalid(WHERE, 'tier', 'must be a boolean', options.tier)
    const reason = options.reason
    if (reason !== undefined && typeof reason !== 'boolean') {
      if (typeof reason !== 'string' || !FIELD_NAME.test(reason)) {
        invalid(WHERE, 'reason', 'must be a boolean or a header name (1-64 token characters)', reason)
      }
      if (TAKEN_NAMES.has(reason.toLowerCase())) invalid(WHERE, 'reason', 'must not be a header the other options send', reason)
    }
    if (options.retryJitter !== undefined && typeof options.retryJitter !== 'function') {
      invalid(WHERE, 'retryJitter', 'must be a function returning a number in [0, 1)', options.retryJitter)
    }
  }
  return {
    legacy: (options?.legacy ?? 'x-ratelimit') !== false,
    standard: options?.standard ?? 'draft-10',
    tier: options?.tier ?? true,
    reason: options?.reason === true ? 'RateLimit-Reason' : typeof options?.reason === 'string' ? options.reason : undefined,
    jitter: options?.retryJitter ?? Math.random,
  }
}

/** The reason header's name as `names` spell them (lower case for frameworks that lower-case names). @internal */
export function reasonHeaderName(settings: HeaderSettings, names: HeaderNames): string | undefined {
  const name = settings.reason
  return name === undefined || names === CANONICAL_NAMES ? name : name.toLowerCase()
}
