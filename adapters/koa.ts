/**
 * Koa 2 and 3 middleware: `app.use(rateLimit({ policies }))`, or on a `@koa/router` route for a
 * per-route limit.
 * @module ratekeeper/koa
 */
import type { Context, Next } from 'koa'
import { reportActualCost } from '../src/http/actual-cost.js'
import type { HttpLimiterOptions } from '../src/http/http-options.js'
import { MOUNTED_AFTER_ROUTES, mountedAfterRoutesMessage, routeText } from '../src/http/mount-order.js'
import { NodeHeaderReader, onFinished, setOutcomeHeaders } from '../src/http/node.js'
import { createHttpLimiter } from '../src/http/pipeline.js'
import type { HttpOutcome, HttpRequestInfo } from '../src/http/request.js'
import { pathOf, routeScope } from '../src/http/route.js'
import {
  type ForwardedRequestWatch,
  forwardedRequestWatch,
  MAX_TRUSTED_PROXIES,
  TRUST_PROXY_ANY,
  trustProxyAnyMessage,
} from '../src/http/trust-proxy.js'
import { checkFramework } from '../src/http/wrong-framework.js'
import { isThenable } from '../src/limiter/thenable.js'
import type { Limiter } from '../src/limiter/types.js'
import { type RateLimitsHandlerOptions, rateLimitsHandler } from '../src/provider/introspection.js'

const WHERE = 'rateLimit() (ratekeeper/koa)'

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

/** A `@koa/router` layer: a route (with methods) or a `router.use` middleware (without). */
interface KoaLayer {
  readonly path: string | RegExp
  readonly methods: readonly string[]
  readonly stack: readonly unknown[]
}

/** What `@koa/router` sets on the context: the template of the layer running, the layers matched, the router. */
interface RoutedContext {
  _matchedRoute?: string | RegExp
  matched?: readonly KoaLayer[]
  router?: { readonly stack?: readonly KoaLayer[] }
}

/** A route's identity: its template and its scope (methods and template). */
interface RouteIdentity {
  readonly template: string
  readonly scope: string
}

/** Route identities, computed once per layer. */
const identities = new WeakMap<KoaLayer, RouteIdentity>()

function sameRoute(a: KoaLayer, b: KoaLayer): boolean {
  if (a.methods.length !== b.methods.length || a.stack.length !== b.stack.length) return false
  for (let i = 0; i < a.methods.length; i++) if (a.methods[i] !== b.methods[i]) return false
  for (let i = 0; i < a.stack.length; i++) if (a.stack[i] !== b.stack[i]) return false
  return true
}

/**
 * The identity of the route whose layer runs `middleware` for this request; `undefined` when it
 * runs outside a route (`app.use`, `router.use`, or a function that wraps it). `@koa/router` makes one layer per path of a
 * route registered with a list of paths, and copies a nested router's layers at each prefix it is
 * mounted at: the layers of the router with the same methods and the same middleware (the same
 * functions in the same order) are one route, one bucket. Computed once per layer.
 */
function routeIdentity(ctx: RoutedContext & { method: string }, middleware: unknown): RouteIdentity | undefined {
  const current = ctx._matchedRoute
  if (current === undefined) return undefined
  const matched = ctx.matched
  let layer: KoaLayer | undefined
  if (matched !== undefined) {
    for (let i = matched.length - 1; i >= 0; i--) {
      const l = matched[i]
      // `matched` lists the layers matching the path whatever their methods.
      if (l.path === current && (l.methods.length === 0 || l.methods.includes(ctx.method)) && l.stack.includes(middleware)) {
        layer = l
        break
      }
    }
  }
  // Not in a layer of the route: `app.use` after the router, or wrapped in a function of yours.
  // Counted as outside any route (one bucket for all the requests it sees), never per spelling.
  if (layer === undefined) return undefined
  if (layer.methods.length === 0) return undefined
  let identity = identities.get(layer)
  if (identity !== undefined) return identity
  const group = (ctx.router?.stack ?? []).filter((l) => l.methods.length > 0 && sameRoute(l, layer))
  if (!group.includes(layer)) group.push(layer)
  const paths = [...new Set(group.map((l) => String(l.path)))].sort()
  const template = paths.length === 1 ? paths[0] : `[${paths.join('|')}]`
  identity = { template, scope: routeScope(layer.methods, template) }
  for (const l of group) identities.set(l, identity)
  return identity
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
    // Absolute: a mount (koa-mount) rewrites `ctx.path` to the part below its prefix.
    return pathOf(this.raw.originalUrl)
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

/** Marks a context whose error answer keeps the rate-limit headers (see keepHeaders). */
const KEEPS_HEADERS = Symbol('ratekeeper.keepsHeaders')

/**
 * Koa answers an error (`ctx.onerror`) after removing every response header, then sets the
 * error's `headers`. On the error path only, the context's `onerror` lends the error the
 * rate-limit headers on the response now (the deciding limiter's) while it answers, under the
 * error's own, and takes them back: an error object thrown again elsewhere carries none.
 */
function keepHeaders(error: unknown, ctx: Context, names: Readonly<Record<string, string>>): never {
  const marked = ctx as Context & { [KEEPS_HEADERS]?: true }
  if (marked[KEEPS_HEADERS] === true) throw error
  marked[KEEPS_HEADERS] = true
  const kept: Record<string, unknown> = {}
  for (const name in names) if (ctx.res.hasHeader(name)) kept[name] = ctx.res.getHeader(name)
  const onerror = ctx.onerror
  ctx.onerror = function onerrorKeepingHeaders(this: Context, err: Error) {
    if (typeof err !== 'object' || err === null || !Object.isExtensible(err)) return onerror.call(this, err)
    const lent = err as { headers?: unknown }
    const had = Object.hasOwn(lent, 'headers')
    const own = lent.headers
    lent.headers = typeof own === 'object' && own !== null ? { ...kept, ...own } : kept
    try {
      return onerror.call(this, err)
    } finally {
      if (had) lent.headers = own
      else delete lent.headers
    }
  }
  throw error
}

/** Copies an outcome onto the response; answers it or passes on. `warn` reports headers sent before it. */
function apply(outcome: HttpOutcome, ctx: Context, next: Next, warn: (code: string, message: string) => void): Promise<unknown> {
  const res = ctx.res
  const headers = outcome.headers
  const finish = outcome.finish
  // A hang-up holds the request's slot until the middleware after this one is done.
  const watch = finish === undefined ? undefined : onFinished(res, finish, res)
  if (!setOutcomeHeaders(outcome, res, warn)) {
    watch?.ended()
    return Promise.resolve()
  }
  if (outcome.action === 'next') {
    const passed = next().catch((error: unknown) => keepHeaders(error, ctx, headers))
    return watch === undefined ? passed : passed.finally(() => watch.ended())
  }
  watch?.ended()
  ctx.status = outcome.status
  // Set verbatim (Koa's `ctx.type` would append a charset); the body setter keeps it.
  if (outcome.contentType !== undefined) res.setHeader('Content-Type', outcome.contentType)
  ctx.body = outcome.body ?? ''
  return Promise.resolve()
}

/** A `@koa/router` as its `routes()` middleware carries it: its routes, prefix included. */
interface RouterLike {
  readonly stack?: readonly { readonly methods?: readonly string[]; readonly path?: unknown }[]
}

/**
 * The routes of routers mounted on the app before `middleware` (`app.use(router.routes())`): they
 * answer without reaching it. Seen from the first request that does reach it, once per app.
 */
function checkMountOrder(ctx: Context, middleware: unknown, warnOnce: (code: string, message: string, app?: object) => void): void {
  const stack = (ctx.app as { middleware?: unknown } | undefined)?.middleware
  if (!Array.isArray(stack)) return
  const at = stack.indexOf(middleware)
  const routes: string[] = []
  for (const fn of stack.slice(0, Math.max(at, 0)) as { router?: RouterLike }[]) {
    for (const layer of fn.router?.stack ?? []) {
      if ((layer.methods ?? []).length > 0) routes.push(routeText(layer.methods ?? [], String(layer.path)))
    }
  }
  if (routes.length > 0) {
    warnOnce(MOUNTED_AFTER_ROUTES, mountedAfterRoutesMessage(routes, 'app.use(rateLimit(…)) before app.use(router.routes())'), ctx.app)
  }
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
  const http = createHttpLimiter<Context, KoaRequestInfo>(WHERE, options, {
    mark: 'property',
    headerNames: 'lower',
  })
  let trustChecked = false
  let forwarded: ForwardedRequestWatch | undefined
  const warn = (code: string, message: string): void => http.warnOnce(code, message)

  const middleware = function rateLimitMiddleware(ctx: Context, next: Next): Promise<unknown> {
    if (!trustChecked) {
      checkFramework(WHERE, 'Koa', ctx, next)
      trustChecked = true
      // With `proxy` on (Koa takes any truthy value: 'true', even 'false' from an environment
      // variable, 1), Koa takes the `maxIpsCount`-th X-Forwarded-For entry from the right, or the
      // left-most one without it (a fraction below 1 counts as none): only a whole number of hops
      // up to MAX_TRUSTED_PROXIES keeps the client from choosing.
      const app = ctx.app as { proxy?: unknown; maxIpsCount?: unknown } | undefined
      const count = app?.maxIpsCount
      const bounded = Number.isInteger(count) && (count as number) >= 1 && (count as number) <= MAX_TRUSTED_PROXIES
      if (app?.proxy && !bounded) {
        const setting =
          typeof count === 'number' && count > MAX_TRUSTED_PROXIES
            ? `app.maxIpsCount ${count} (more than ${MAX_TRUSTED_PROXIES} proxies)`
            : typeof count === 'number' && count > 0
              ? `app.maxIpsCount ${count} (not a whole number of proxies)`
              : 'app.proxy without app.maxIpsCount'
        http.warnOnce(TRUST_PROXY_ANY, trustProxyAnyMessage(`Koa ${setting}`), app)
      }
      if (app !== undefined && !app.proxy) forwarded = forwardedRequestWatch('Koa app.proxy', http.warnOnce, app)
      if ((ctx as Context & RoutedContext)._matchedRoute === undefined) checkMountOrder(ctx, middleware, http.warnOnce)
    }
    forwarded?.(ctx.req.socket.remoteAddress, ctx.req.headers)
    let outcome: HttpOutcome | Promise<HttpOutcome>
    try {
      const routed = ctx as Context & RoutedContext
      outcome = http.handle(new KoaInfo(ctx), routed._matchedRoute === undefined ? undefined : routeIdentity(routed, middleware)?.scope)
    } catch (error) {
      return Promise.reject(error)
    }
    return isThenable(outcome) ? outcome.then((o) => apply(o, ctx, next, warn)) : apply(outcome, ctx, next, warn)
  } as KoaRateLimitMiddleware
  Object.defineProperty(middleware, 'limiter', { value: http.limiter, enumerable: true })
  middleware.close = http.close
  return middleware
}

/**
 * Reports the actual cost of the request of `ctx` (reserve-then-settle, the `actualCost`
 * option): when the response ends, the request is settled at this cost instead of its estimate.
 * Call it before the response ends (for a stream body, before it ends). Throws on a cost that is
 * not a whole number from 0 to 1000000000.
 *
 * @example
 * router.post('/v1/complete', async (ctx) => {
 *   const answer = await model.complete(ctx.request.body)
 *   setActualCost(ctx, answer.usage.totalTokens)
 *   ctx.body = answer
 * })
 */
export function setActualCost(ctx: Context, cost: number): void {
  reportActualCost('setActualCost() (ratekeeper/koa)', ctx.res, cost)
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
