/**
 * Fetch-API runtimes (Hono, Next.js route handlers, Bun, Deno, Cloudflare Workers): a
 * `rateLimit(options)` that is Hono middleware or a plain `(request) => Response | undefined`
 * check, and `withRateLimit(handler, options)` for `(request) => Response` handlers.
 * @module ratekeeper/fetch
 */

import { reportActualCost } from '../src/http/actual-cost.js'
import {
  connectionAddress,
  defaultOnError,
  FAILED,
  FetchHeaderReader,
  honoRoute,
  outcomeResponse,
  PLAIN_MODE_END,
  PLAIN_MODE_MESSAGE,
  watchEnd,
  withHeaders,
} from '../src/http/fetch-api.js'
import { type AdapterOptionTable, functionOption, type HttpLimiterOptions } from '../src/http/http-options.js'
import { createHttpLimiter } from '../src/http/pipeline.js'
import type { HttpRequestInfo } from '../src/http/request.js'
import { pathOf, templateScope } from '../src/http/route.js'
import { OutwardStacking } from '../src/http/stacking.js'
import { checkFramework } from '../src/http/wrong-framework.js'
import type { Decision } from '../src/limiter/decision.js'
import { checkOptionsObject, invalid } from '../src/limiter/errors.js'
import type { Limiter } from '../src/limiter/types.js'
import { type RateLimitsHandlerOptions, rateLimitsHandler } from '../src/provider/introspection.js'

/** What key, cost, skip and plan functions see about a request (`raw` is the `Request`). */
export interface FetchRequestInfo extends HttpRequestInfo<Request> {
  /** The runtime's or framework's context: the Hono `Context`, or the second handler argument (Bun's server, Deno's info, Next.js's context). */
  readonly context: unknown
}

/** Options of {@link rateLimit} and {@link withRateLimit}: see docs/adapters.md. */
export interface FetchRateLimitOptions extends HttpLimiterOptions<Request, FetchRequestInfo> {
  /**
   * The client address, from the runtime's connection info (never from a header unless you
   * decide to trust one). `context` is the Hono `Context` or the handler's second argument.
   * @default what the caller passed as `info.ip`; else the runtime's connection (Hono on
   * `@hono/node-server`, Bun's `server.requestIP()`, Deno's `info.remoteAddr`)
   */
  ip?: (request: Request, context: unknown) => string | undefined
  /**
   * What to answer when a key, cost, skip or plan function throws (Hono mode rethrows to Hono's
   * error handling instead).
   * @default a 500 `application/problem+json` response, the error logged with `console.error`
   */
  onError?: (error: unknown, request: Request) => Response | Promise<Response>
}

/** Per-call details the caller knows about a request (plain mode). */
export interface FetchCallInfo {
  /** The client address from the runtime's connection info. */
  ip?: string
  /** The matched route template: requests are then counted in that route's own buckets. */
  route?: string
  /** A request id to show in 429 bodies. */
  requestId?: string
  /** Passed to `ip` and to your functions as `info.context`. */
  context?: unknown
}

/** The full result of {@link FetchRateLimit.check}. */
export interface FetchCheck {
  /** The response to send instead of running the handler (429, 503, or 500 on an error), or `undefined` to go on. */
  readonly response: Response | undefined
  /** Rate-limit headers for the handler's response (already on `response`). */
  readonly headers: Readonly<Record<string, string>>
  readonly decision: Decision | undefined
  /**
   * Call with the handler's response once it is ready, and send the response it returns: it adds
   * the headers, and watches the body so that the end of the request (count modes, concurrency
   * leases, `actualCost`) is when the body has been sent, or cancelled (the client hung up).
   */
  complete(response: Response, aborted?: boolean): Response
}

/** The least of a Hono `Context` this adapter uses. */
export interface HonoContextLike {
  readonly req: { readonly raw: Request; readonly routePath?: string }
  res: Response
  readonly env?: unknown
  get?(key: string): unknown
}

/** The function {@link rateLimit} returns. */
export interface FetchRateLimit {
  /** Plain mode: the response to send when the request is denied, `undefined` when it may go on. */
  (request: Request, info?: FetchCallInfo): Promise<Response | undefined>
  /** Hono middleware mode: `app.use(rateLimit(…))`. */
  (c: HonoContextLike, next: () => Promise<void>): Promise<Response | undefined>
  /** The full result: the denial response, the headers for an allowed response, and `complete`. */
  check(request: Request, info?: FetchCallInfo): Promise<FetchCheck>
  /** The limiter deciding: subscribe to its events, peek, reset keys. */
  readonly limiter: Limiter
  /** Closes the limiter if this function created it. */
  close(): Promise<void>
}

class FetchInfo implements FetchRequestInfo {
  readonly raw: Request
  readonly route: string | undefined
  readonly ip: string | undefined
  readonly requestId: string | undefined
  readonly context: unknown
  constructor(request: Request, ip: string | undefined, route: string | undefined, requestId: string | undefined, context: unknown) {
    this.raw = request
    this.ip = ip
    this.route = route
    this.requestId = requestId
    this.context = context
  }
  get method(): string {
    return this.raw.method
  }
  get path(): string {
    return pathOf(this.raw.url)
  }
  get headers(): FetchHeaderReader {
    return new FetchHeaderReader(this.raw.headers)
  }
}

/** The stacking of every `rateLimit()` function of this process. */
const stacking = new OutwardStacking()

/** The options of {@link rateLimit} besides the HTTP options. */
const FETCH_OPTIONS = {
  ip: functionOption('must be a function (request, context) => address'),
  onError: functionOption(),
} satisfies AdapterOptionTable

/** What to do about a request with neither a key nor an address on a Fetch runtime. */
const ADDRESS_HINT =
  "the runtime gave no connection address: pass the ip option, (request, context) => address, with what your platform gives (Cloudflare Workers: request.headers.get('cf-connecting-ip'); a plain check: its info.ip), or have the key function return a key for every request"

/** Checks whose request's end does something (a lease, settling, a count mode). */
const ending = new WeakSet<FetchCheck>()

/**
 * Rate limiting for Fetch-API runtimes. The returned function works two ways:
 * - Hono middleware: `app.use(rateLimit({ policies }))` (on a route, `app.get('/x', rateLimit(…), handler)`,
 *   it counts per route template); headers go on every response, errors to Hono's `onError`.
 * - Plain: `const denied = await limit(request, { ip })` returns the 429 response to send, or
 *   `undefined` when the request may go on (use `limit.check` or {@link withRateLimit} to also
 *   put the headers on allowed responses).
 *
 * @example
 * import { Hono } from 'hono'
 * import { tokenBucket } from 'ratekeeper'
 * import { rateLimit } from 'ratekeeper/fetch'
 *
 * const app = new Hono()
 * app.use(rateLimit({ policies: [tokenBucket({ limit: 100, window: '1m' })] }))
 */
export function rateLimit(options: FetchRateLimitOptions): FetchRateLimit {
  const where = 'rateLimit() (ratekeeper/fetch)'
  const http = createHttpLimiter<Request, FetchRequestInfo>(where, options, { adapterOptions: FETCH_OPTIONS, addressHint: ADDRESS_HINT })
  const ipOption = options.ip
  const onError = options.onError ?? defaultOnError
  stacking.add()

  const decide = async (info: FetchInfo, scope: string | undefined): Promise<FetchCheck> => {
    const outcome = await http.handle(info, scope)
    const finish = outcome.finish
    const request = info.raw
    const decided = outcome.decision !== undefined
    const stacked = stacking.stacked
    let response: Response | undefined
    if (outcome.action === 'respond') {
      response = outcomeResponse(outcome)
      if (stacked) stacking.describe(request)
    }
    const result: FetchCheck = {
      response,
      headers: outcome.headers,
      decision: outcome.decision,
      complete(res: Response, aborted = false): Response {
        let sent = res
        // A limiter closer to the handler decided this request and described it already.
        if (decided && (!stacked || stacking.claim(request))) sent = withHeaders(res, outcome.headers)
        if (finish === undefined) return sent
        return watchEnd(sent, request, aborted, finish)
      },
    }
    if (finish !== undefined) ending.add(result)
    return result
  }

  const infoOf = (request: Request, call: FetchCallInfo | undefined): FetchInfo => {
    const context = call?.context
    const ip = ipOption !== undefined ? ipOption(request, context) : (call?.ip ?? connectionAddress(context, request))
    return new FetchInfo(request, ip, call?.route, call?.requestId, context)
  }

  const check = async (request: Request, call?: FetchCallInfo): Promise<FetchCheck> => {
    try {
      const info = infoOf(request, call)
      return await decide(info, info.route === undefined ? undefined : templateScope(info.route))
    } catch (error) {
      const response = await onError(error, request)
      return { response, headers: {}, decision: undefined, complete: (r: Response) => r }
    }
  }

  const hono = async (c: HonoContextLike, next: () => Promise<void>): Promise<Response | undefined> => {
    const request = c.req.raw
    const ip = ipOption !== undefined ? ipOption(request, c) : connectionAddress(c.env, request)
    const route = honoRoute(c)
    const id = typeof c.get === 'function' ? c.get('requestId') : undefined
    const info = new FetchInfo(request, ip, route, typeof id === 'string' ? id : undefined, c)
    // Errors go to Hono's error handling.
    const result = await decide(info, route === undefined ? undefined : templateScope(route))
    if (result.response !== undefined) return result.response
    try {
      await next()
    } catch (error) {
      result.complete(FAILED(), false)
      throw error
    }
    const sent = result.complete(c.res, request.signal.aborted)
    // Hono's setter copies what it is given, which a network error (`Response.error()`) can't be.
    if (sent !== c.res) c.res = sent
    return undefined
  }

  // Plain mode never sees the handler's response: a request's end is now (no lease held, no settling).
  const plainResponse = (r: FetchCheck): Response | undefined => {
    if (r.response === undefined && r.decision !== undefined && r.decision.allowed) {
      if (ending.has(r)) http.warnOnce(PLAIN_MODE_END, PLAIN_MODE_MESSAGE)
      r.complete(FAILED(), true)
    }
    return r.response
  }

  const limit = function rateLimitFetch(first: Request | HonoContextLike, second?: FetchCallInfo | (() => Promise<void>)) {
    checkFramework(where, 'Hono', first, second)
    if (typeof second === 'function') return hono(first as HonoContextLike, second)
    return check(first as Request, second).then(plainResponse)
  } as FetchRateLimit
  Object.defineProperty(limit, 'limiter', { value: http.limiter, enumerable: true })
  limit.check = check
  limit.close = http.close
  return limit
}

/** Options of {@link withRateLimit}: {@link FetchRateLimitOptions} plus the handler's route. */
export interface WithRateLimitOptions extends FetchRateLimitOptions {
  /** The route template this handler serves (`/api/users/[id]`): counted in buckets of its own. */
  route?: string
}

/**
 * Wraps a `(request, context?) => Response` handler (Next.js route handlers, Bun, Deno,
 * Cloudflare Workers): denied requests get the 429 without running the handler, allowed ones the
 * rate-limit headers on the handler's response.
 *
 * @example
 * import { tokenBucket } from 'ratekeeper'
 * import { apiKey, withRateLimit } from 'ratekeeper/fetch'
 *
 * export const GET = withRateLimit(async () => Response.json({ ok: true }), {
 *   policies: [tokenBucket({ limit: 10, window: '1s' })],
 *   key: apiKey({ bearer: true }),
 * })
 */
export function withRateLimit<Args extends unknown[]>(
  handler: (request: Request, ...args: Args) => Response | Promise<Response>,
  options: WithRateLimitOptions,
): (request: Request, ...args: Args) => Promise<Response> {
  const where = 'withRateLimit() (ratekeeper/fetch)'
  if (typeof handler !== 'function') invalid(where, 'handler', 'must be a function (request) => Response', handler)
  checkOptionsObject(where, options)
  const { route, ...rest } = options
  if (route !== undefined && typeof route !== 'string') invalid(where, 'route', 'must be a route template string', route)
  const limit = rateLimit(rest)
  return async function rateLimitedHandler(request: Request, ...args: Args): Promise<Response> {
    const result = await limit.check(request, { context: args[0], route })
    if (result.response !== undefined) return result.response
    let response: Response
    try {
      response = await handler(request, ...args)
    } catch (error) {
      result.complete(FAILED(), false)
      throw error
    }
    return result.complete(response, request.signal.aborted)
  }
}

/** Options of {@link rateLimitsRoute} (fetch): the introspection options plus how to find the client address. */
export interface FetchRateLimitsRouteOptions extends RateLimitsHandlerOptions {
  /** The client address (for callers counted by IP). @default `info.ip`, else the runtime's connection */
  ip?: (request: Request, context: unknown) => string | undefined
}

/**
 * The `GET /v1/rate-limits` endpoint for Fetch runtimes: the caller's live buckets and team
 * ceiling, peeked (nothing charged) through the same limiter and `providerPlan()` as
 * `rateLimit()`, in the managed.dev shape. Call it with a `Request` (and `{ ip }`), or use it as
 * a Hono handler. See docs/provider-features.md.
 *
 * @example
 * app.get('/v1/rate-limits', rateLimitsRoute({ limiter, plan })) // Hono
 * export const GET = (request: Request) => rateLimitsRoute({ limiter, plan })(request) // Next.js
 */
export function rateLimitsRoute(
  options: FetchRateLimitsRouteOptions,
): (first: Request | HonoContextLike, info?: FetchCallInfo) => Promise<Response> {
  const where = 'rateLimitsRoute() (ratekeeper/fetch)'
  checkOptionsObject(where, options)
  const { ip: ipOption, ...rest } = options
  if (ipOption !== undefined) FETCH_OPTIONS.ip(where, 'ip', ipOption)
  const handle = rateLimitsHandler(rest)
  return async function rateLimitsEndpoint(first: Request | HonoContextLike, call?: FetchCallInfo): Promise<Response> {
    const hono = !(first instanceof Request)
    const request = hono ? first.req.raw : first
    const context = hono ? first : call?.context
    const ip = ipOption !== undefined ? ipOption(request, context) : (call?.ip ?? connectionAddress(hono ? first.env : context, request))
    const r = await handle(new FetchInfo(request, ip, call?.route, call?.requestId, context))
    const headers = new Headers(r.headers)
    headers.set('Content-Type', r.contentType)
    return new Response(r.body, { status: r.status, headers })
  }
}

/**
 * Reports the actual cost of a request (reserve-then-settle, the `actualCost` option): the
 * request is settled at it when its response body ends. Pass the `Request` your handler got, or
 * the Hono `Context`; call it before the body ends (for a stream, before closing it). Throws on a
 * cost that is not a whole number from 0 to 1000000000.
 *
 * @example
 * setActualCost(request, usage.totalTokens) // c in Hono
 */
export function setActualCost(request: Request | HonoContextLike, cost: number): void {
  reportActualCost('setActualCost() (ratekeeper/fetch)', request instanceof Request ? request : request.req.raw, cost)
}
