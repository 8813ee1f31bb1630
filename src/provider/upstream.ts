import { upstreamLimitedBody } from '../http/upstream-body.js'
import { nothingLeftWaitMs } from '../limiter/draft10-members.js'
import { type Duration, parseDuration } from '../limiter/duration.js'
import { checkKnownOptions, checkOptionsObject, invalidAtRequest } from '../limiter/errors.js'
import { readReset } from '../limiter/reset-time.js'
import { responseRetryAfter } from '../limiter/retry-after.js'
import { checkOptionalFunction } from './guards.js'
import type { HandlerResponse } from './introspection.js'

/**
 * The upstream response's headers in any common shape: Fetch `Headers`, Node's
 * `IncomingHttpHeaders`, a plain object. Named apart from the client's `HeadersLike`
 * (`ratekeeper/client`), which also takes name/value pairs: two types under one name in one
 * package would meet in the root export and in users' imports.
 */
export type UpstreamHeaders =
  | { get(name: string): string | null | undefined }
  | Readonly<Record<string, string | readonly string[] | number | undefined>>

/** The upstream provider's response (only its status and headers are read). */
export interface UpstreamResponse {
  readonly status: number
  readonly headers: UpstreamHeaders
}

/** Options of {@link upstreamRateLimit}. */
export interface UpstreamRateLimitOptions {
  /**
   * The envelope: `'scalekit'` (`{"error_code":"TOOL_ERROR",…}`, the counterpart of our own
   * `RATE_LIMITED`) or `'problem'` (RFC 9457 with `"source": "upstream"`).
   * @default 'problem'
   */
  format?: 'problem' | 'scalekit'
  /** The upstream provider's name, shown in the body (1-128 visible ASCII characters). */
  provider?: string
  /** The tool or operation that was limited, shown in the body. */
  tool?: string
  /** The request id to put in the body. */
  requestId?: string
  /** RFC 9457 `instance` (problem format). */
  instance?: string
  /**
   * The wait used when the upstream says nothing usable about when to retry.
   * @default '60s'
   */
  defaultRetryAfter?: Duration
  /**
   * The longest wait passed on: a larger upstream value is capped to it.
   * @default '1h'
   */
  maxRetryAfter?: Duration
  /** The clock an HTTP-date or epoch reset is measured against, epoch ms. @default Date.now */
  now?: () => number
}

/** Where the wait came from. */
export type UpstreamRetrySource = 'retry-after' | 'x-ratelimit-reset' | 'ratelimit-reset' | 'ratelimit' | 'default'

/** The app's own 429 for an upstream one. */
export interface UpstreamRateLimit extends HandlerResponse {
  /** Always `'upstream'`: the limit is the provider's, not ours. */
  readonly source: 'upstream'
  /** The wait sent as `Retry-After`, ms: whole seconds, at least 1 s, at most `maxRetryAfter`. */
  readonly retryAfterMs: number
  /** Which upstream header the wait was read from. */
  readonly retryFrom: UpstreamRetrySource
}

const WHERE = 'upstreamRateLimit()'
const KNOWN: { readonly [K in keyof Required<UpstreamRateLimitOptions>]: true } = {
  format: true,
  provider: true,
  tool: true,
  requestId: true,
  instance: true,
  defaultRetryAfter: true,
  maxRetryAfter: true,
  now: true,
}

function headerOf(headers: UpstreamHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const v = (headers as { get(name: string): string | null | undefined }).get(name)
    return v === null || v === undefined ? undefined : String(v)
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | number | undefined>>
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() !== name) continue
    const v = record[key]
    if (v === undefined) return undefined
    // A field sent twice: joined, as Fetch Headers and Node join it.
    return typeof v === 'object' ? v.join(', ') : String(v)
  }
  return undefined
}

/** A reset header, by the client's rule (see ResetFormat 'auto'): the wait until it, ms. */
function parseReset(value: string, now: number): number | undefined {
  const at = readReset(value, now)
  return at === undefined ? undefined : at - now
}

/** Headers consulted, in order, when `Retry-After` is missing or unreadable. */
const FALLBACKS: ReadonlyArray<readonly [UpstreamRetrySource, (value: string, now: number) => number | undefined]> = [
  ['x-ratelimit-reset', parseReset],
  // draft-6: seconds from now, or (as some servers send it) an epoch time, read as the client reads it.
  ['ratelimit-reset', parseReset],
  // draft-10: the longest `t` of a policy with nothing remaining, as the client reads it.
  ['ratelimit', (v) => nothingLeftWaitMs(v)],
]

/**
 * For gateways that call other providers on their clients' behalf: turns the upstream's 429
 * into the app's own response, with an error code that tells it apart from the app's own limit
 * (Scalekit's `TOOL_ERROR` vs `RATE_LIMITED`) and a sane `Retry-After`. The wait is read from the
 * upstream's `Retry-After` (seconds or HTTP-date), else its `X-RateLimit-Reset`,
 * `RateLimit-Reset` or draft-10 `RateLimit` field, else `defaultRetryAfter`; it is rounded up to
 * whole seconds, at least 1 and at most `maxRetryAfter`. The upstream's own rate-limit headers
 * are not passed on: they describe someone else's budget. Returns `undefined` when the response
 * is not a 429.
 *
 * @example
 * const upstream = await fetch('https://api.crm.example/contacts')
 * const limited = upstreamRateLimit(upstream, { format: 'scalekit', provider: 'crm', tool: 'list_contacts' })
 * if (limited) return new Response(limited.body, { status: limited.status, headers: { ...limited.headers, 'content-type': limited.contentType } })
 */
export function upstreamRateLimit(response: UpstreamResponse, options: UpstreamRateLimitOptions = {}): UpstreamRateLimit | undefined {
  if (typeof response !== 'object' || response === null || typeof response.status !== 'number') {
    invalidAtRequest(WHERE, 'response', 'must be { status, headers }', response, 'ERR_RK_INVALID_OPTION')
  }
  if (typeof response.headers !== 'object' || response.headers === null)
    invalidAtRequest(WHERE, 'response.headers', 'must be headers', response.headers, 'ERR_RK_INVALID_OPTION')
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const fallbackMs = options.defaultRetryAfter === undefined ? 60_000 : parseDuration(WHERE, 'defaultRetryAfter', options.defaultRetryAfter)
  const maxMs = options.maxRetryAfter === undefined ? 3_600_000 : parseDuration(WHERE, 'maxRetryAfter', options.maxRetryAfter)
  const clock = checkOptionalFunction(WHERE, 'now', 'must be a function returning epoch ms', options.now) ?? Date.now
  if (response.status !== 429) return undefined
  const now = clock()

  let waitMs: number | undefined
  let from: UpstreamRetrySource = 'default'
  const h = response.headers
  const retryAfter = headerOf(h, 'retry-after')
  if (retryAfter !== undefined) waitMs = responseRetryAfter(retryAfter, headerOf(h, 'date'), now)
  if (waitMs !== undefined) from = 'retry-after'
  else {
    for (const [source, parse] of FALLBACKS) {
      const v = headerOf(h, source)
      const ms = v === undefined ? undefined : parse(v, now)
      if (ms !== undefined) {
        waitMs = ms
        from = source
        break
      }
    }
  }
  // Never 0 (a client would hammer), rounded up to whole seconds, never beyond the cap.
  const seconds = Math.min(Math.ceil(maxMs / 1000), Math.max(1, Math.ceil((waitMs ?? fallbackMs) / 1000)))
  const retryAfterMs = seconds * 1000
  const body = upstreamLimitedBody({
    format: options.format,
    retryAfterMs,
    provider: options.provider,
    tool: options.tool,
    requestId: options.requestId,
    instance: options.instance,
  })
  return {
    status: 429,
    headers: { 'Retry-After': String(seconds), 'Cache-Control': 'no-store' },
    contentType: body.contentType,
    body: body.body,
    source: 'upstream',
    retryAfterMs,
    retryFrom: from,
  }
}
