/**
 * Express 4 and 5 middleware: `app.use(rateLimit({ policies }))`, or on a router or a route for
 * a per-route limit.
 * @module ratekeeper/express
 */
import type { NextFunction, Request, Response } from 'express'
import type { HttpLimiterOptions, HttpOutcome, HttpRequestInfo } from '../src/core/http.js'
import { createHttpLimiter, isThenable, NodeHeaderReader, onFinished, routeScopeOf } from '../src/core/http.js'
import type { Limiter } from '../src/core/limiter.js'
import { type RateLimitsHandlerOptions, rateLimitsHandler } from '../src/core/provider/introspection.js'

export type { HttpFinish, HttpOutcome, HttpRequestInfo, RequestPlan } from '../src/core/http.js'
export { allowList, apiKey, ipKey, normalizeIp, userKey } from '../src/core/keys.js'

/** What key, cost, skip and plan functions see about an Express request (`raw` is `req`). */
export type ExpressRequestInfo = HttpRequestInfo<Request>

/** Options of {@link rateLimit}: see docs/adapters.md. */
export type ExpressRateLimitOptions = HttpLimiterOptions<Request, ExpressRequestInfo>

/** The middleware {@link rateLimit} returns. */
export interface ExpressRateLimitMiddleware {
  (req: Request, res: Response, next: NextFunction): void
  /** The limiter deciding: subscribe to its events, peek, reset keys. */
  readonly limiter: Limiter
  /** Closes the limiter if the middleware created it. */
  close(): Promise<void>
}

/** The request as the core sees it; fields are read only when a function asks for them. */
class ExpressInfo implements ExpressRequestInfo {
  readonly raw: Request
  constructor(req: Request) {
    this.raw = req
  }
  get method(): string {
    return this.raw.method
  }
  get route(): string | undefined {
    const route = this.raw.route as { path?: unknown } | undefined
    return route === undefined ? undefined : this.raw.baseUrl + String(route.path)
  }
  get path(): string {
    return this.raw.path
  }
  get ip(): string | undefined {
    const req = this.raw
    // With 'trust proxy' off (Express's default), Express compiles it to proxy-addr's `trustNone`
    // and `req.ip` is the socket's address, found only after parsing X-Forwarded-For for nothing.
    const trust: unknown = req.app?.settings?.['trust proxy fn']
    if (typeof trust === 'function' && trust.name === 'trustNone') return req.socket.remoteAddress
    return req.ip
  }
  get headers(): NodeHeaderReader {
    return new NodeHeaderReader(this.raw.headers)
  }
  get requestId(): string | undefined {
    return undefined
  }
}

/** Copies an outcome onto the response; answers it or passes on. */
function apply(outcome: HttpOutcome, res: Response, next: NextFunction): void {
  const headers = outcome.headers
  for (const name in headers) res.setHeader(name, headers[name])
  const finish = outcome.finish
  if (finish !== undefined) onFinished(res, finish)
  if (outcome.action === 'next') {
    next()
    return
  }
  const body = outcome.body ?? ''
  res.statusCode = outcome.status
  if (outcome.contentType !== undefined) res.setHeader('Content-Type', outcome.contentType)
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.end(body)
}

/**
 * Express middleware (Express 4 and 5). Mounted with `app.use` it limits every request,
 * including unknown routes; mounted on a route (`app.get('/login', rateLimit(…), handler)`) each
 * route template gets buckets of its own. A request passing two mounts of the same limits is
 * counted once.
 *
 * @example
 * import express from 'express'
 * import { tokenBucket } from 'ratekeeper'
 * import { rateLimit } from 'ratekeeper/express'
 *
 * const app = express()
 * app.use(rateLimit({ policies: [tokenBucket({ limit: 100, window: '1m' })] }))
 */
export function rateLimit(options: ExpressRateLimitOptions): ExpressRateLimitMiddleware {
  const http = createHttpLimiter<Request, ExpressRequestInfo>('rateLimit() (ratekeeper/express)', options)
  let trustChecked = false

  const middleware = function rateLimitMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (!trustChecked) {
      trustChecked = true
      // `trust proxy: true` takes the left-most X-Forwarded-For entry: any client can pick its IP.
      if (req.app?.get('trust proxy') === true) {
        http.warnOnce(
          'RK_TRUST_PROXY_ANY',
          "ratekeeper: Express 'trust proxy' is true, so any client can choose its IP (X-Forwarded-For) and escape IP-keyed limits; set it to the number of proxies or their addresses",
        )
      }
    }
    const route = req.route as { path?: unknown } | undefined
    let outcome: HttpOutcome | Promise<HttpOutcome>
    try {
      outcome = http.handle(
        new ExpressInfo(req),
        route === undefined ? undefined : routeScopeOf(req.method, req.baseUrl.toLowerCase() + String(route.path)),
      )
    } catch (error) {
      next(error)
      return
    }
    if (!isThenable(outcome)) {
      apply(outcome, res, next)
      return
    }
    outcome.then((o) => {
      try {
        apply(o, res, next)
      } catch (error) {
        next(error)
      }
    }, next)
  } as ExpressRateLimitMiddleware
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
 * app.get('/v1/rate-limits', rateLimitsRoute({ limiter, plan, requestId: 'x-request-id' }))
 */
export function rateLimitsRoute(options: RateLimitsHandlerOptions): (req: Request, res: Response, next: NextFunction) => void {
  const handle = rateLimitsHandler(options)
  return function rateLimitsEndpoint(req: Request, res: Response, next: NextFunction): void {
    handle(new ExpressInfo(req)).then((r) => {
      res.statusCode = r.status
      for (const name in r.headers) res.setHeader(name, r.headers[name])
      res.setHeader('Content-Type', r.contentType)
      res.end(r.body)
    }, next)
  }
}
