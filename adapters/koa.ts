/**
 * Koa 2 and 3 middleware: `app.use(rateLimit({ policies }))`, or on a `@koa/router` route for a
 * per-route limit.
 * @module ratekeeper/koa
 */
import type { Context, Next } from 'koa'
import type { HttpLimiterOptions, HttpOutcome, HttpRequestInfo } from '../src/core/http.js'
import { createHttpLimiter, isThenable, NodeHeaderReader, onFinished, routeScopeOf } from '../src/core/http.js'
import type { Limiter } from '../src/core/limiter.js'
import { type RateLimitsHandlerOptions, rateLimitsHandler } from '../src/core/provider/introspection.js'

export type { HttpFinish, HttpOutcome, HttpRequestInfo, RequestPlan } from '../src/core/http.js'
export { allowList, apiKey, ipKey, normalizeIp, userKey } from '../src/core/keys.js'

/** What key, cost, skip and plan functions see about a Koa request (`raw` is `ctx`). */
export type KoaRequestInfo = HttpRequestInfo<Context>

/** Options of {@link rateLimit}: see docs/adapters.md. */
export type KoaRateLimitOptions = HttpLimiterOptions<Context, KoaRequestInfo>

/** The middleware {@link rateLimit} returns. */
export interface KoaRateLimitMiddleware {
  (ctx: Context, next: Next): Promise<unknown>
  /** The limiter deciding: subscribe to its events, peek, reset keys. */
  readonly limiter: Limiter
  /** Closes the limiter if the middleware created it. */
  close(): Promise<void>
}

/** `@koa/router` sets the matched route template here. */
interface RoutedContext {
  _matchedRoute?: string | RegExp
}

class KoaInfo implements KoaRequestInfo {
  readonly raw: Context
  constructor(ctx: Context) {
    this.raw = ctx
  }
  get method(): string {
    return this.raw.method
  }
  get route(): string | undefined {
    const route = (this.raw as RoutedContext)._matchedRoute
    return route === undefined ? undefined : String(route)
  }
  get path(): string {
    return this.raw.path
  }
  get ip(): string | undefined {
    return this.raw.request.ip
  }
  get headers(): NodeHeaderReader {
    return new NodeHeaderReader(this.raw.headers)
  }
  get requestId(): string | undefined {
    return undefined
  }
}

/** Copies an outcome onto the response; answers it or passes on. */
function apply(outcome: HttpOutcome, ctx: Context, next: Next): Promise<unknown> {
  const res = ctx.res
  const headers = outcome.headers
  for (const name in headers) res.setHeader(name, headers[name])
  const finish = outcome.finish
  if (finish !== undefined) onFinished(res, finish)
  if (outcome.action === 'next') return next()
  ctx.status = outcome.status
  // Set verbatim (Koa's `ctx.type` would append a charset); the body setter keeps it.
  if (outcome.contentType !== undefined) res.setHeader('Content-Type', outcome.contentType)
  ctx.body = outcome.body ?? ''
  return Promise.resolve()
}

/**
 * Koa middleware (Koa 2 and 3). Mounted with `app.use` it limits every request, including
 * unknown routes; mounted on a `@koa/router` route (`router.post('/login', rateLimit(…), handler)`)
 * each route template gets buckets of its own. A request passing two mounts of the same limits is
 * counted once. Errors of your key/cost functions are thrown to Koa's error handling.
 *
 * @example
 * import Koa from 'koa'
 * import { tokenBucket } from 'ratekeeper'
 * import { rateLimit } from 'ratekeeper/koa'
 *
 * const app = new Koa()
 * app.use(rateLimit({ policies: [tokenBucket({ limit: 100, window: '1m' })] }))
 */
export function rateLimit(options: KoaRateLimitOptions): KoaRateLimitMiddleware {
  // Lower-case header names: Node stores every name lower-cased, so it need not build a copy of each per request.
  const http = createHttpLimiter<Context, KoaRequestInfo>('rateLimit() (ratekeeper/koa)', options, [], 'property', 'lower')
  let trustChecked = false

  const middleware = function rateLimitMiddleware(ctx: Context, next: Next): Promise<unknown> {
    if (!trustChecked) {
      trustChecked = true
      // With `proxy` on and no `maxIpsCount`, Koa takes the left-most X-Forwarded-For entry.
      const app = ctx.app as { proxy?: boolean; maxIpsCount?: number } | undefined
      if (app?.proxy === true && !(typeof app.maxIpsCount === 'number' && app.maxIpsCount > 0)) {
        http.warnOnce(
          'RK_TRUST_PROXY_ANY',
          'ratekeeper: Koa app.proxy is true without app.maxIpsCount, so any client can choose its IP (X-Forwarded-For) and escape IP-keyed limits; set maxIpsCount to the number of proxies',
        )
      }
    }
    const route = (ctx as RoutedContext)._matchedRoute
    let outcome: HttpOutcome | Promise<HttpOutcome>
    try {
      outcome = http.handle(new KoaInfo(ctx), route === undefined ? undefined : routeScopeOf(ctx.method, String(route)))
    } catch (error) {
      return Promise.reject(error)
    }
    return isThenable(outcome) ? outcome.then((o) => apply(o, ctx, next)) : apply(outcome, ctx, next)
  } as KoaRateLimitMiddleware
  Object.defineProperty(middleware, 'limiter', { value: http.limiter, enumerable: true })
  middleware.close = http.close
  return middleware
}

/**
 * The `GET /v1/rate-limits` endpoint: the caller's live buckets and team ceiling, peeked (nothing
 * charged) through the same limiter and `providerPlan()` the middleware uses, in the managed.dev
 * shape. See docs/provider-features.md.
 *
 * @example
 * router.get('/v1/rate-limits', rateLimitsRoute({ limiter, plan, requestId: 'x-request-id' }))
 */
export function rateLimitsRoute(options: RateLimitsHandlerOptions): (ctx: Context) => Promise<void> {
  const handle = rateLimitsHandler(options)
  return async function rateLimitsEndpoint(ctx: Context): Promise<void> {
    const r = await handle(new KoaInfo(ctx))
    ctx.status = r.status
    for (const name in r.headers) ctx.res.setHeader(name, r.headers[name])
    // Set verbatim (Koa's `ctx.type` would append a charset); the body setter keeps it.
    ctx.res.setHeader('Content-Type', r.contentType)
    ctx.body = r.body
  }
}
