import { ConfigurationError } from '../limiter/errors.js'
import type { CompiledOptions } from './options.js'
import {
  CALL_WHERE,
  type ClientRequestInit,
  checkRequestOptions,
  invalidArgument,
  type RequestRateLimitOptions,
} from './request-options.js'

/** One call of the client: what it sends, which budget it draws on, and what it has spent so far. */
export interface Call {
  /** What `fetch` is given: the Request as passed, or the resolved URL. */
  readonly target: string | Request
  /** The init passed on to `fetch`, without `rateLimit`. */
  readonly fetchInit: RequestInit | undefined
  readonly url: URL
  /** Upper case. */
  readonly method: string
  readonly signal: AbortSignal | undefined
  /** The budget key. */
  readonly key: string
  /** Units taken from the queue's rate and the shared limiter. */
  readonly cost: number
  /** Most time this call may spend waiting in total, ms. */
  readonly maxWaitMs: number
  /** Why this call may not be sent twice; `undefined` when it may be retried. */
  readonly notRetryable: string | undefined
  /** A Request with a body is consumed by sending: send copies, keeping the original to copy from. */
  readonly cloneEachTime: boolean
  /** Time spent waiting so far (pacing, queue, backoff), ms. */
  waitedMs: number
  /** Requests sent so far. */
  attempts: number
}

/** What is left of the call's `maxWaitMs`. */
export function leftMs(call: Call): number {
  return call.maxWaitMs - call.waitedMs
}

/** A request body that can be sent again: anything but a stream or an async iterable. */
function isReplayableBody(body: unknown): boolean {
  if (body === undefined || body === null) return true
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return false
  if (typeof body === 'object' && (Symbol.asyncIterator in body || typeof (body as { pipe?: unknown }).pipe === 'function')) return false
  return true
}

/** Why a request may not be sent more than once, or `undefined` when it may. */
function whyNotRetryable(
  options: CompiledOptions,
  call: { perCall: RequestRateLimitOptions; method: string; request: Request | undefined; fetchInit: RequestInit | undefined },
): string | undefined {
  const { perCall, method, request, fetchInit } = call
  const bodyReplayable = request !== undefined && fetchInit?.body === undefined ? true : isReplayableBody(fetchInit?.body)
  if (options.retries === 0 || perCall.retry === false) return 'retries are off'
  if (!bodyReplayable) return 'its body is a stream, which cannot be sent twice'
  if (perCall.retry === true || options.methods.has(method)) return undefined
  const headers = new Headers(fetchInit?.headers !== undefined ? fetchInit.headers : request?.headers)
  if (headers.has('idempotency-key')) return undefined
  return `${method} is not idempotent (opt in with rateLimit: { retry: true } or an Idempotency-Key header)`
}

/** Checks one call's arguments and works out what it sends and on which budget; throws on a bad argument. */
export function startCall(options: CompiledOptions, input: string | URL | Request, init: ClientRequestInit | undefined): Call {
  const isRequest = typeof Request !== 'undefined' && input instanceof Request
  if (!isRequest && typeof input !== 'string' && !(input instanceof URL)) {
    invalidArgument('input', 'must be a URL string, a URL or a Request', input)
  }
  let perCall: RequestRateLimitOptions = {}
  let fetchInit: RequestInit | undefined = init
  if (init !== undefined) {
    if (typeof init !== 'object' || init === null) invalidArgument('init', 'must be an object', init)
    if (init.rateLimit !== undefined) {
      const { rateLimit, ...rest } = init
      fetchInit = rest
      perCall = checkRequestOptions(rateLimit)
    }
  }
  const request = isRequest ? (input as Request) : undefined
  const { baseUrl } = options
  let url: URL
  try {
    url = request !== undefined ? new URL(request.url) : baseUrl !== undefined ? new URL(String(input), baseUrl) : new URL(String(input))
  } catch (cause) {
    const hint = baseUrl === undefined ? ' (relative URLs need the baseUrl option)' : ''
    throw new TypeError(`${CALL_WHERE}: invalid URL ${JSON.stringify(String(input))}${hint}`, { cause })
  }
  const method = (fetchInit?.method ?? request?.method ?? 'GET').toUpperCase()
  const signal = fetchInit?.signal ?? request?.signal ?? undefined
  const key = perCall.key ?? options.key(url, method)
  if (typeof key !== 'string' || key.length === 0) {
    throw new ConfigurationError('ERR_RK_INVALID_OPTION', 'createClient()', 'key', 'must return a non-empty string', key)
  }
  const cost = perCall.cost ?? 1
  const burst = options.localRate?.burst ?? Number.POSITIVE_INFINITY
  if (cost > burst) invalidArgument('rateLimit.cost', `must be at most queue.rate.burst (${burst})`, cost)
  const notRetryable = whyNotRetryable(options, { perCall, method, request, fetchInit })
  return {
    target: request ?? url.href,
    fetchInit,
    url,
    method,
    signal,
    key,
    cost,
    maxWaitMs: perCall.maxWaitMs ?? options.maxWaitMs,
    notRetryable,
    cloneEachTime: notRetryable === undefined && request !== undefined && request.body !== null && fetchInit?.body === undefined,
    waitedMs: 0,
    attempts: 0,
  }
}
