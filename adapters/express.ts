/**
 * Express 4 and 5 middleware: `app.use(rateLimit({ policies }))`, or on a router or a route for
 * a per-route limit.
 * @module ratekeeper/express
 */
import type { NextFunction, Request, Response } from 'express'
import { reportActualCost } from '../src/http/actual-cost.js'
import type { HttpLimiterOptions } from '../src/http/http-options.js'
import { MOUNTED_AFTER_ROUTES, mountedAfterRoutesMessage, routeText } from '../src/http/mount-order.js'
import { NodeHeaderReader, onFinished, setOutcomeHeaders, whenResponseEnds } from '../src/http/node.js'
import { applyWhenReady, createHttpLimiter } from '../src/http/pipeline.js'
import type { HttpOutcome, HttpRequestInfo } from '../src/http/request.js'
import { pathOf, routeScope } from '../src/http/route.js'
import {
  type ForwardedRequestWatch,
  forwardedRequestWatch,
  MAX_TRUSTED_PROXIES,
  TRUST_PROXY_ANY,
  trustProxyAnyMessage,
  trustsEveryone,
} from '../src/http/trust-proxy.js'
import { checkFramework } from '../src/http/wrong-framework.js'
import type { Limiter } from '../src/limiter/types.js'
import { type RateLimitsHandlerOptions, rateLimitsHandler } from '../src/provider/introspection.js'

const WHERE = 'rateLimit() (ratekeeper/express)'

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

/** What Express keeps of a route (`req.route`). */
interface ExpressRoute {
  readonly path: unknown
  readonly methods: Record<string, boolean | undefined>
}

/** A layer of an Express 4 (`regexp`) or Express 5 (`rawPath`) router stack. */
interface ExpressLayer {
  readonly route?: ExpressRoute
  readonly handle?: { readonly stack?: unknown }
  readonly rawPath?: unknown
  readonly regexp?: RegExp & { fast_slash?: boolean }
  readonly keys?: readonly { readonly name: string | number }[]
}

/** What Express keeps of an application: its router (`_router` in Express 4) and where it is mounted. */
interface ExpressAppLike {
  readonly _router?: { readonly stack?: unknown }
  readonly router?: { readonly stack?: unknown }
  readonly parent?: ExpressAppLike
  readonly mountpath?: unknown
}

/** A registered route's identity: its template (mount paths as registered + its path) and its scope. */
interface RouteIdentity {
  readonly template: string
  readonly scope: string
}

/** Route identities, computed once per route object (one route = one bucket, however it was reached). */
const identities = new WeakMap<ExpressRoute, RouteIdentity>()
/** Routes not found in their app's routers, numbered as met (see {@link routeIdentity}). */
let unmountedRoutes = 0

/** A path as registered: a string (`/` is the root, so empty), a regular expression, or a list of them. */
function pathText(path: unknown): string {
  if (Array.isArray(path)) return `[${path.map(pathText).join('|')}]`
  if (typeof path === 'string') return path === '/' ? '' : path.endsWith('/') ? path.slice(0, -1) : path
  return String(path)
}

const EXPRESS4_TAIL = '\\/?(?=\\/|$)'
/** Express 4 keeps only the compiled expression of a mount path: its string back where it can tell, the expression otherwise. */
function express4MountText(layer: ExpressLayer): string {
  const re = layer.regexp
  if (re === undefined) return ''
  if (re.fast_slash === true) return ''
  const source = re.source
  if (!source.startsWith('^') || !source.endsWith(EXPRESS4_TAIL)) return String(re)
  const keys = layer.keys ?? []
  let k = 0
  const parts = source
    .slice(1, -EXPRESS4_TAIL.length)
    .split(`${EXPRESS4_TAIL}|^`)
    .map((part) => part.replace(/\(\?:\\\/\(\[\^\/\]\+\?\)\)/g, () => `/:${String(keys[k++]?.name)}`))
    .map((part) => part.replace(/\\([/.])/g, '$1'))
  if (parts.some((part) => /[\\()[\]{}*+?^$|]/.test(part))) return String(re)
  return parts.length === 1 ? parts[0] : `[${parts.join('|')}]`
}

function mountText(layer: ExpressLayer): string {
  return 'rawPath' in layer ? pathText(layer.rawPath) : express4MountText(layer)
}

/** The mount texts from `stack` down to the layer of `route` (depth first, in registration order), or `undefined`. */
function findRoute(stack: unknown, route: ExpressRoute, depth: number): string[] | undefined {
  if (!Array.isArray(stack) || depth > 64) return undefined
  const layers = stack as ExpressLayer[]
  for (const layer of layers) if (layer.route === route) return []
  for (const layer of layers) {
    const inner = layer.route === undefined ? layer.handle?.stack : undefined
    if (!Array.isArray(inner)) continue
    const below = findRoute(inner, route, depth + 1)
    if (below !== undefined) return [mountText(layer), ...below]
  }
  return undefined
}

/** Where a (sub-)application is mounted, from the top: its parents' mount paths as registered. */
function appMountText(app: ExpressAppLike | undefined): string {
  let text = ''
  for (let a = app; a?.parent !== undefined; a = a.parent) text = pathText(a.mountpath) + text
  return text
}

/**
 * The identity of the route `req` matched: its mount paths and path as registered (a regular
 * expression stays one, a list of paths stays one list), and its methods. Found once per route by
 * walking the application's routers; `undefined` outside a route.
 */
function routeIdentity(req: Request): RouteIdentity | undefined {
  const route = req.route as ExpressRoute | undefined
  if (route === undefined) return undefined
  let identity = identities.get(route)
  if (identity !== undefined) return identity
  const app = req.app as unknown as ExpressAppLike | undefined
  // Express 4 has `_router` (its `router` getter throws); Express 5 has `router`.
  const router = app?._router ?? app?.router
  const mounts = findRoute(router?.stack, route, 0)
  const methods = Object.keys(route.methods).filter((m) => route.methods[m] === true)
  if (mounts === undefined) {
    // Not reachable from the app's routers (a router called from a function of yours): the mount
    // path is unknown, and the text the request matched can be spelled many ways (percent-encoded,
    // any parameter value, any match of a regular expression), so it is never used. The route is
    // told apart by its own object instead: one bucket per route, whatever reached it.
    const template = pathText(route.path) || '/'
    identity = { template, scope: routeScope(methods, `${template} (unmounted route #${++unmountedRoutes})`) }
    identities.set(route, identity)
    return identity
  }
  const template = appMountText(app) + mounts.join('') + pathText(route.path) || '/'
  identity = { template, scope: routeScope(methods, template) }
  identities.set(route, identity)
  return identity
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
    return routeIdentity(this.raw)?.template
  }
  get path(): string {
    // Absolute, wherever the middleware is mounted (`req.path` is relative to the router's mount path).
    return pathOf(this.raw.originalUrl ?? this.raw.url)
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

/** Copies an outcome onto the response; answers it or passes on. `warn` reports headers sent before it. */
function apply(outcome: HttpOutcome, res: Response, next: NextFunction, warn: (code: string, message: string) => void): void {
  const finish = outcome.finish
  // A hang-up holds the request's slot until the handler ends the response (see onFinished).
  if (finish !== undefined) onFinished(res, finish, res, whenResponseEnds)
  if (!setOutcomeHeaders(outcome, res, warn)) return
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
 * Reports a 'trust proxy' setting that lets any client choose its IP: Express's compiled setting
 * is probed with public addresses (`true`, a function that trusts everyone, more than
 * MAX_TRUSTED_PROXIES hops, ranges covering every address). Once per app. Returns whether the app
 * trusts no proxy (then requests a proxy forwarded are watched for: see forwardedByUntrustedProxy).
 */
function checkTrustProxy(req: Request, warnOnce: (code: string, message: string, app?: object) => void): boolean {
  const app = req.app
  const trust: unknown = app?.get('trust proxy fn')
  if (typeof trust !== 'function' || trust.name === 'trustNone') return typeof trust === 'function'
  if (trustsEveryone(trust as (address: string, hop: number) => unknown)) {
    const setting: unknown = app.get('trust proxy')
    const described =
      typeof setting === 'number'
        ? `${setting} (more than ${MAX_TRUSTED_PROXIES} proxies)`
        : typeof setting === 'function'
          ? 'a function that trusts every address'
          : JSON.stringify(setting)
    warnOnce(TRUST_PROXY_ANY, trustProxyAnyMessage(`Express 'trust proxy' ${described}`), app)
  }
  return false
}

/**
 * Routes registered on the app's own router before `middleware`: they answer without reaching it.
 * Seen from the first request that does reach it (an unknown route, say), once per app.
 */
function checkMountOrder(req: Request, middleware: unknown, warnOnce: (code: string, message: string, app?: object) => void): void {
  const app = req.app as unknown as ExpressAppLike | undefined
  const stack = (app?._router ?? app?.router)?.stack
  if (!Array.isArray(stack)) return
  const layers = stack as (ExpressLayer & { readonly handle?: unknown })[]
  const at = layers.findIndex((layer) => layer.handle === middleware)
  const routes: string[] = []
  for (const layer of layers.slice(0, Math.max(at, 0))) {
    const route = layer.route
    if (route === undefined) continue
    routes.push(
      routeText(
        Object.keys(route.methods).filter((m) => route.methods[m] === true),
        pathText(route.path) || '/',
      ),
    )
  }
  if (routes.length > 0) {
    warnOnce(MOUNTED_AFTER_ROUTES, mountedAfterRoutesMessage(routes, 'app.use(rateLimit(…)) before the routes it limits'), req.app)
  }
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
  const http = createHttpLimiter<Request, ExpressRequestInfo>(WHERE, options)
  let trustChecked = false
  let forwarded: ForwardedRequestWatch | undefined
  const warn = (code: string, message: string): void => http.warnOnce(code, message)
  const applyOutcome = (outcome: HttpOutcome, res: Response, next: NextFunction): void => apply(outcome, res, next, warn)

  const middleware = function rateLimitMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (!trustChecked) {
      checkFramework(WHERE, 'Express', req, res)
      trustChecked = true
      if (checkTrustProxy(req, http.warnOnce)) forwarded = forwardedRequestWatch("Express 'trust proxy'", http.warnOnce, req.app)
      if (req.route === undefined) checkMountOrder(req, middleware, http.warnOnce)
    }
    forwarded?.(req.socket.remoteAddress, req.headers)
    let outcome: HttpOutcome | Promise<HttpOutcome>
    try {
      outcome = http.handle(new ExpressInfo(req), req.route === undefined ? undefined : routeIdentity(req)?.scope)
    } catch (error) {
      next(error)
      return
    }
    applyWhenReady(outcome, applyOutcome, res, next)
  } as ExpressRateLimitMiddleware
  Object.defineProperty(middleware, 'limiter', { value: http.limiter, enumerable: true })
  middleware.close = http.close
  return middleware
}

/**
 * Reports the actual cost of the request `res` answers (reserve-then-settle, the `actualCost`
 * option): when the response ends, the request is settled at this cost instead of its estimate.
 * Call it before the response ends (for a stream, before the last write). Throws on a cost that
 * is not a whole number from 0 to 1000000000.
 *
 * @example
 * app.post('/v1/complete', async (req, res) => {
 *   const answer = await model.complete(req.body)
 *   setActualCost(res, answer.usage.totalTokens)
 *   res.json(answer)
 * })
 */
export function setActualCost(res: Response, cost: number): void {
  reportActualCost('setActualCost() (ratekeeper/express)', res, cost)
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
