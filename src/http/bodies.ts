import type { Decision, PolicyResult } from '../limiter/decision.js'
import { checkKnownOptions, checkOptionsObject, invalid, invalidAtRequest } from '../limiter/errors.js'
import { isSafeTier, retryAfterSeconds } from './headers.js'

/**
 * Built-in 429 body formats:
 * - `'problem'`: RFC 9457 `application/problem+json` with the IETF `quota-exceeded` problem type;
 * - `'managed-dev'`: `{"error":{"type","code","message","doc_url"},"request_id"}`;
 * - `'skakio'`: `{"code":429,"status":"error","error":{"code","message","tier"}}`;
 * - `'scalekit'`: `{"error_code":"RATE_LIMITED","message","request_id"}`.
 */
export type BodyPreset = 'problem' | 'managed-dev' | 'skakio' | 'scalekit'

/** What a custom body formatter receives besides the decision. */
export interface BodyContext {
  /** HTTP status the response will carry: 429, or the adapter's `statusCode` (store failures use the problem body). */
  readonly status: number
  /** The `Retry-After` value sent with the response; `undefined` when the request can never succeed. */
  readonly retryAfterSeconds: number | undefined
  /** A request id, when the caller knows one (validated: visible ASCII, at most 200 characters). */
  readonly requestId: string | undefined
  /** A URI reference identifying this occurrence, when the caller gave one. */
  readonly instance: string | undefined
  /** ratekeeper's human-readable explanation, e.g. `Rate limit exceeded (policy "per-minute"); retry after 12 seconds.` */
  readonly message: string
}

/**
 * A custom 429 body: the returned value is sent as JSON (`application/json`), or as
 * `text/plain; charset=utf-8` when it is a string.
 */
export type BodyFormatter = (decision: Decision, context: BodyContext) => unknown

/** How 429 bodies are written. */
export interface BodyOptions {
  /**
   * A preset, or a function returning the body.
   * @default 'problem'
   */
  format?: BodyPreset | BodyFormatter
  /** `doc_url` of the `'managed-dev'` envelope (an absolute http(s) URL); omitted when not set. */
  docUrl?: string
}

/** Per-request details a body may carry. Unsafe values (control characters, too long) are left out, never echoed. */
export interface BodyRequestInfo {
  /** The request's id, e.g. from `X-Request-Id` (visible ASCII, at most 200 characters). */
  requestId?: string | undefined
  /** A URI reference for this occurrence (RFC 9457 `instance`), e.g. the request path. */
  instance?: string | undefined
}

/** A response body ready to send. */
export interface LimitedBody {
  /** 429, or 503 for a store-error denial (fail-closed). */
  readonly status: 429 | 503
  /** The `Content-Type` header value. */
  readonly contentType: string
  readonly body: string
}

/** Renders the body of one denied decision. Made once by {@link createLimitedBody}. */
export type BodyRenderer = (decision: Decision, request?: BodyRequestInfo) => LimitedBody

/** The IETF problem type for quota-exceeded responses (draft-ietf-httpapi-ratelimit-headers). */
export const QUOTA_EXCEEDED_TYPE = 'https://iana.org/assignments/http-problem-types#quota-exceeded'
const QUOTA_EXCEEDED_TITLE = 'Request cannot be satisfied as assigned quota has been exceeded'

export const PROBLEM_JSON = 'application/problem+json'
export const JSON_TYPE = 'application/json'
export const TEXT_TYPE = 'text/plain; charset=utf-8'

const WHERE = 'limitedBody()'
const KNOWN: { readonly [K in keyof Required<BodyOptions>]: true } = { format: true, docUrl: true }
const KNOWN_CALL: { readonly [K in keyof Required<BodyOptions & BodyRequestInfo>]: true } = {
  format: true,
  docUrl: true,
  requestId: true,
  instance: true,
}
const PRESETS: readonly unknown[] = ['problem', 'managed-dev', 'skakio', 'scalekit']
const SAFE_TEXT = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/

/** A client-influenced string we may echo: visible ASCII, bounded length; anything else is dropped. */
export function safe(where: string, option: string, value: unknown, max: number): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') {
    invalidAtRequest(where, option, 'must be a string', value)
  }
  return value.length <= max && SAFE_TEXT.test(value) ? value : undefined
}

export const plural = (n: number): string => (n === 1 ? '1 second' : `${n} seconds`)
const quoteNames = (names: readonly string[]): string => names.map((n) => `"${n}"`).join(', ')

/** The first violated policy that can never admit the request, if any. */
function neverPolicy(decision: Decision): PolicyResult | undefined {
  for (const p of decision.policies) if (p.violated && !Number.isFinite(p.retryAfterMs)) return p
  return undefined
}

/** ratekeeper's own explanation of a denial. Never contains the key or a store's error text. */
export function denialMessage(decision: Decision): string {
  if (decision.reason === 'store-error') return 'Rate limiting is temporarily unavailable; retry after 1 second.'
  const names = decision.violated
  const which = names.length === 0 ? '' : names.length === 1 ? ` (policy ${quoteNames(names)})` : ` (policies ${quoteNames(names)})`
  const retry = retryAfterSeconds(decision)
  if (retry !== undefined) return `Rate limit exceeded${which}; retry after ${plural(retry)}.`
  const never = neverPolicy(decision)
  if (never !== undefined) {
    if (never.limit === 0) return `Rate limit exceeded: policy "${never.name}" admits no requests; do not retry.`
    return `Rate limit exceeded: this request costs ${decision.cost}, more than policy "${never.name}" can ever admit (${never.burst}); do not retry it unchanged.`
  }
  return `Rate limit exceeded${which}.`
}

/**
 * The statuses bodies are sent with (their `status` member, a formatter's `context.status`): an
 * adapter's `statusCode` (default 429) and `storeErrorStatus` (default 503).
 */
export interface BodyStatuses {
  readonly statusCode?: number
  readonly storeErrorStatus?: number
}

/** RFC 9110's (and RFC 6585's) phrase for the statuses a store failure may be answered with (400-599). */
const PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/**
 * The members of an RFC 9457 body before its detail: a denial (`kind` 429) or a store failure (503), sent with `status`.
 * A store failure's type is about:blank, whose title is the status's phrase (§4.2.1); a status
 * without one here is titled by its class.
 */
function problemStart(kind: 429 | 503, status: number): string {
  const phrase = PHRASES[status] ?? (status < 500 ? 'Client Error' : 'Server Error')
  return kind === 503
    ? `{"type":"about:blank","title":${JSON.stringify(phrase)},"status":${status}`
    : `{"type":${JSON.stringify(QUOTA_EXCEEDED_TYPE)},"title":${JSON.stringify(QUOTA_EXCEEDED_TITLE)},"status":${status}`
}

/**
 * An RFC 9457 body up to its per-request member (`request-id`), written out member by member in
 * the order JSON.stringify of the object would give: type, title, status, detail, instance,
 * violated-policies (429 only), retry-after, blocked-until and block-reason (a penalty box denied;
 * the reason of `limiter.block`, JSON-escaped, never in a header).
 */
function problemHead(
  decision: Decision,
  start: string,
  message: string,
  retry: number | undefined,
  instance: string | undefined,
  blocked?: number,
): string {
  let head = `${start},"detail":${JSON.stringify(message)}`
  if (instance !== undefined) head += `,"instance":${JSON.stringify(instance)}`
  if (decision.reason !== 'store-error') head += `,"violated-policies":${JSON.stringify(decision.violated)}`
  if (retry !== undefined) head += `,"retry-after":${retry}`
  if (blocked !== undefined) head += `,"blocked-until":"${new Date(blocked).toISOString()}"`
  if (blocked !== undefined && decision.blockReason !== undefined) head += `,"block-reason":${JSON.stringify(decision.blockReason)}`
  return head
}

/** Closes a body begun by {@link problemHead}. */
const problemEnd = (requestId: string | undefined): string =>
  requestId === undefined ? '}' : `,"request-id":${JSON.stringify(requestId)}}`

function problemBody(decision: Decision, start: string, message: string, retry: number | undefined, info: Info): string {
  return problemHead(decision, start, message, retry, info.instance) + problemEnd(info.requestId)
}

const sameNames = (a: readonly string[], b: readonly string[]): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The last retryable 429 problem body a renderer wrote, up to its request id. */
interface ProblemMemo {
  readonly retry: number
  readonly names: readonly string[]
  readonly instance: string | undefined
  /** The penalty box's end, when one denied. */
  readonly blocked: number | undefined
  readonly reason: string | undefined
  readonly head: string
}

interface Info {
  requestId: string | undefined
  instance: string | undefined
}

/**
 * Validates body options once and returns a renderer. Use it on hot paths (adapters);
 * {@link limitedBody} is the one-call form.
 *
 * @example
 * const render = createLimitedBody({ format: 'skakio' })
 * const { status, contentType, body } = render(decision, { requestId: 'req_123' })
 */
export function createLimitedBody(options?: BodyOptions): BodyRenderer {
  return createStatusBody(options, {})
}

/** {@link createLimitedBody} for bodies sent with other statuses (an adapter's `statusCode`): the body says the status sent. */
export function createStatusBody(options: BodyOptions | undefined, statuses: BodyStatuses): BodyRenderer {
  if (options !== undefined) {
    checkOptionsObject(WHERE, options)
    checkKnownOptions(WHERE, options, KNOWN)
  }
  return compile(options, statuses)
}

function compile(options: BodyOptions | undefined, statuses: BodyStatuses = {}): BodyRenderer {
  const format = options?.format === undefined ? 'problem' : options.format
  if (typeof format !== 'function' && !PRESETS.includes(format)) {
    invalid(WHERE, 'format', "must be 'problem', 'managed-dev', 'skakio', 'scalekit' or a function", format)
  }
  const docUrl = options?.docUrl
  if (docUrl !== undefined) {
    if (format !== 'managed-dev') invalid(WHERE, 'docUrl', "applies only to format 'managed-dev'", docUrl)
    if (typeof docUrl !== 'string' || !/^https?:\/\/[\x21-\x7e]+$/.test(docUrl) || !URL.canParse(docUrl)) {
      invalid(WHERE, 'docUrl', 'must be an absolute http(s) URL', docUrl)
    }
  }

  // A client that is limited is usually denied again and again for the same policies and wait:
  // its bodies differ only in their request id, so the rest is written once (problem format only).
  let memo: ProblemMemo | undefined
  const status = statuses.statusCode ?? 429
  const limitedStart = problemStart(429, status)
  const storeErrorStart = problemStart(503, statuses.storeErrorStatus ?? 503)

  return function renderLimitedBody(decision: Decision, request?: BodyRequestInfo): LimitedBody {
    const info: Info = {
      requestId: safe(WHERE, 'requestId', request?.requestId, 200),
      instance: safe(WHERE, 'instance', request?.instance, 2048),
    }
    if (format === 'problem' && decision.reason !== 'store-error') {
      const retry = retryAfterSeconds(decision)
      // Without a wait, the message depends on more than the names (costs, capacities): not remembered.
      if (retry !== undefined) {
        const names = decision.violated
        const blocked = decision.blockedUntil
        let head: string
        if (
          memo !== undefined &&
          memo.retry === retry &&
          memo.instance === info.instance &&
          memo.blocked === blocked &&
          memo.reason === decision.blockReason &&
          sameNames(memo.names, names)
        ) {
          head = memo.head
        } else {
          head = problemHead(decision, limitedStart, denialMessage(decision), retry, info.instance, blocked)
          memo = { retry, names: [...names], instance: info.instance, blocked, reason: decision.blockReason, head }
        }
        return { status: 429, contentType: PROBLEM_JSON, body: head + problemEnd(info.requestId) }
      }
    }
    const message = denialMessage(decision)
    // A store failure is ours, not the client's: always the generic problem body, so no format can leak the error.
    if (decision.reason === 'store-error') {
      return { status: 503, contentType: PROBLEM_JSON, body: problemBody(decision, storeErrorStart, message, 1, info) }
    }
    const retry = retryAfterSeconds(decision)
    if (typeof format === 'function') {
      const value = format(decision, { status, retryAfterSeconds: retry, requestId: info.requestId, instance: info.instance, message })
      if (typeof value === 'string') return { status: 429, contentType: TEXT_TYPE, body: value }
      const body = JSON.stringify(value)
      if (typeof body !== 'string')
        invalidAtRequest(WHERE, 'format', 'must return a string or a JSON-serialisable value', value, 'ERR_RK_INVALID_OPTION')
      return { status: 429, contentType: JSON_TYPE, body }
    }
    switch (format) {
      case 'managed-dev': {
        const text =
          retry !== undefined ? `rate limit exceeded; retry after ${retry}s` : 'rate limit exceeded; this request can never be admitted'
        const error: Record<string, string> = { type: 'rate_limit', code: 'rate_limit.exceeded', message: text }
        if (docUrl !== undefined) error.doc_url = docUrl
        const body: Record<string, unknown> = { error }
        if (info.requestId !== undefined) body.request_id = info.requestId
        return { status: 429, contentType: JSON_TYPE, body: JSON.stringify(body) }
      }
      case 'skakio': {
        const text =
          retry !== undefined
            ? `Rate limit exceeded. Retry after ${plural(retry)}.`
            : 'Rate limit exceeded. This request can never be admitted; do not retry it.'
        const error: Record<string, string> = { code: 'RATE_LIMIT_EXCEEDED', message: text }
        if (decision.tier !== undefined && isSafeTier(decision.tier)) error.tier = decision.tier
        return { status: 429, contentType: JSON_TYPE, body: JSON.stringify({ code: status, status: 'error', error }) }
      }
      case 'scalekit': {
        const text =
          retry !== undefined
            ? `Rate limit exceeded. Retry after ${plural(retry)}.`
            : 'Rate limit exceeded. This request can never be admitted; do not retry it.'
        const body: Record<string, unknown> = { error_code: 'RATE_LIMITED', message: text }
        if (info.requestId !== undefined) body.request_id = info.requestId
        return { status: 429, contentType: JSON_TYPE, body: JSON.stringify(body) }
      }
      default:
        return { status: 429, contentType: PROBLEM_JSON, body: problemBody(decision, limitedStart, message, retry, info) }
    }
  }
}

const defaultBody = compile(undefined)

/**
 * The response for a denied decision: status (429, or 503 for a fail-closed store error),
 * `Content-Type` and body. Pure. Never contains the subject key or a store's error text.
 *
 * @example
 * const d = await limiter.consume(apiKey)
 * if (!d.allowed) {
 *   const { status, contentType, body } = limitedBody(d, { requestId: 'req_01J9F2KQ' })
 * }
 */
export function limitedBody(decision: Decision, options?: BodyOptions & BodyRequestInfo): LimitedBody {
  if (options === undefined) return defaultBody(decision)
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN_CALL)
  return compile(options)(decision, options)
}
