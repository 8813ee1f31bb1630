import { checkKnownOptions, checkOptionsObject, invalid } from '../limiter/errors.js'
import { JSON_TYPE, type LimitedBody, PROBLEM_JSON, plural, safe } from './bodies.js'
import { isSafeTier } from './headers.js'

/** Options of {@link upstreamLimitedBody}. */
export interface UpstreamLimitedOptions {
  /**
   * `'scalekit'`: `{"error_code":"TOOL_ERROR","message",…}`; `'problem'`: RFC 9457 with `"source": "upstream"`.
   * @default 'problem'
   */
  format?: 'problem' | 'scalekit'
  /** How long the upstream asked to wait, ms (from its `Retry-After`); shown rounded up to seconds. */
  retryAfterMs?: number
  /** The upstream provider's name (1-128 visible ASCII characters), e.g. `'hubspot'`. */
  provider?: string
  /** The tool or operation that was limited (1-128 visible ASCII characters). */
  tool?: string
  /** A request id to include (dropped when not visible ASCII of at most 200 characters). */
  requestId?: string
  /** RFC 9457 `instance` (problem format only). */
  instance?: string
}

const UPSTREAM_WHERE = 'upstreamLimitedBody()'
const UPSTREAM_KNOWN: { readonly [K in keyof Required<UpstreamLimitedOptions>]: true } = {
  format: true,
  retryAfterMs: true,
  provider: true,
  tool: true,
  requestId: true,
  instance: true,
}

/**
 * The 429 body for a limit that is not ours: an upstream provider rate-limited a call made on the
 * client's behalf (Scalekit's `TOOL_ERROR`), so clients can tell it from our own `RATE_LIMITED`.
 *
 * @example
 * upstreamLimitedBody({ format: 'scalekit', provider: 'hubspot', retryAfterMs: 30_000 })
 * // { status: 429, contentType: 'application/json', body: '{"error_code":"TOOL_ERROR",…}' }
 */
export function upstreamLimitedBody(options: UpstreamLimitedOptions = {}): LimitedBody {
  checkOptionsObject(UPSTREAM_WHERE, options)
  checkKnownOptions(UPSTREAM_WHERE, options, UPSTREAM_KNOWN)
  const format = options.format === undefined ? 'problem' : options.format
  if (format !== 'problem' && format !== 'scalekit') invalid(UPSTREAM_WHERE, 'format', "must be 'problem' or 'scalekit'", format)
  const ms = options.retryAfterMs
  if (ms !== undefined && (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)) {
    invalid(UPSTREAM_WHERE, 'retryAfterMs', 'must be a finite number of milliseconds >= 0', ms)
  }
  for (const name of ['provider', 'tool'] as const) {
    const v = options[name]
    if (v !== undefined && !isSafeTier(v)) invalid(UPSTREAM_WHERE, name, 'must be 1-128 visible ASCII characters', v)
  }
  const requestId = safe(UPSTREAM_WHERE, 'requestId', options.requestId, 200)
  const instance = safe(UPSTREAM_WHERE, 'instance', options.instance, 2048)
  const retry = ms === undefined ? undefined : Math.max(1, Math.ceil(ms / 1000))
  const who = options.provider === undefined ? 'The upstream provider' : `The upstream provider "${options.provider}"`
  const what = options.tool === undefined ? 'the call' : `the call to "${options.tool}"`
  const message = `${who} rate-limited ${what}${retry === undefined ? '' : `; retry after ${plural(retry)}`}.`
  if (format === 'scalekit') {
    const body: Record<string, unknown> = { error_code: 'TOOL_ERROR', message }
    if (options.provider !== undefined) body.provider = options.provider
    if (options.tool !== undefined) body.tool = options.tool
    if (requestId !== undefined) body.request_id = requestId
    return { status: 429, contentType: JSON_TYPE, body: JSON.stringify(body) }
  }
  const body: Record<string, unknown> = { type: 'about:blank', title: 'Too Many Requests', status: 429, detail: message }
  if (instance !== undefined) body.instance = instance
  body.source = 'upstream'
  if (options.provider !== undefined) body.provider = options.provider
  if (options.tool !== undefined) body.tool = options.tool
  if (retry !== undefined) body['retry-after'] = retry
  if (requestId !== undefined) body['request-id'] = requestId
  return { status: 429, contentType: PROBLEM_JSON, body: JSON.stringify(body) }
}
