/**
 * Fastify 4 and 5 plugin: `fastify.register(fastifyRateLimit, { policies })`, with per-route
 * `config: { rateLimit: { … } | false }`.
 * @module ratekeeper/fastify
 */
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { reportActualCost } from '../src/http/actual-cost.js'
import { type AdapterOptionTable, booleanOption, type HttpLimiterOptions } from '../src/http/http-options.js'
import { NodeHeaderReader, onFinished, whenSentOrEnded } from '../src/http/node.js'
import { applyWhenReady, createHttpLimiter, type HttpAdapterSettings, type HttpLimiter } from '../src/http/pipeline.js'
import type { HttpOutcome, HttpRequestInfo } from '../src/http/request.js'
import { pathOf, routeTemplate } from '../src/http/route.js'
import { RouteLimitsWatch, routeLimiters } from '../src/http/route-options.js'
import { checkTrustSetting, type ForwardedRequestWatch } from '../src/http/trust-proxy.js'
import { RateKeeperError } from '../src/limiter/errors.js'
import { type RateLimitsHandlerOptions, rateLimitsHandler } from '../src/provider/introspection.js'

/** What key, cost, skip and plan functions see about a Fastify request (`raw` is `request`). */
export type FastifyRequestInfo = HttpRequestInfo<FastifyRequest>

/**
 * Names TypeScript must refuse in `config.rateLimit`. Fastify infers a route's config type from the
 * value written (`FastifyContextConfig & typeof config`), which lets any unknown option through the
 * compiler: these make the common mistakes errors, other libraries' option names (`windowMs`,
 * `max`, `timeWindow`: ratekeeper takes `policies`) and a number or string instead of options.
 * Unknown names are also rejected when the app starts (or, for a route the plugin could not see
 * being declared, on its first request).
 */
export interface RejectedRouteOptions {
  /** Not a ratekeeper option (express-rate-limit's): use `policies`, e.g. `[fixedWindow({ limit: 5, window: '15m' })]`. */
  windowMs?: never
  /** Not a ratekeeper option (express-rate-limit's, @fastify/rate-limit's): use `policies`. */
  max?: never
  /** Not a ratekeeper option (@fastify/rate-limit's): use `policies`. */
  timeWindow?: never
  /** Not a ratekeeper option (express-rate-limit's): use `policies`. */
  limit?: never
  /** Route options are an object (or `false`), not a number. */
  toFixed?: never
  /** Route options are an object (or `false`), not a string. */
  charAt?: never
}

/** Per-route options (`config: { rateLimit: { … } }`): merged over the plugin's options. */
export type FastifyRateLimitRouteOptions = HttpLimiterOptions<FastifyRequest, FastifyRequestInfo> & RejectedRouteOptions

/** Options of the plugin: see docs/adapters.md. */
export interface FastifyRateLimitOptions extends FastifyRateLimitRouteOptions {
  /**
   * Limit every route of the encapsulation context (and unknown routes, 404). With `false`, only
   * routes with `config.rateLimit` options are limited.
   * @default true
   */
  global?: boolean
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** ratekeeper limits of this route (merged over the plugin's options), or `false` for none. */
    rateLimit?: FastifyRateLimitRouteOptions | false
  }
}

const WHERE = 'fastifyRateLimit (ratekeeper/fastify)'
/** The plugin's own options besides the HTTP options. */
const PLUGIN_OPTIONS: AdapterOptionTable = { global: booleanOption }
/** How the plugin's requests differ from the HTTP layer's defaults. */
const SETTINGS: HttpAdapterSettings = { adapterOptions: PLUGIN_OPTIONS, mark: 'registrations', headerNames: 'lower' }

class FastifyInfo implements FastifyRequestInfo {
  readonly raw: FastifyRequest
  readonly #route: string | undefined
  constructor(request: FastifyRequest, route: string | undefined) {
    this.raw = request
    this.#route = route
  }
  get method(): string {
    return this.raw.method
  }
  get route(): string | undefined {
    // Read only when asked: `request.routeOptions` builds an object per access.
    if (this.#route !== undefined) return this.#route
    const url = this.raw.routeOptions.url
    return url === undefined ? undefined : routeTemplate(url)
  }
  get path(): string {
    return pathOf(this.raw.url)
  }
  get ip(): string | undefined {
    return this.raw.ip
  }
  get headers(): NodeHeaderReader {
    return new NodeHeaderReader(this.raw.headers)
  }
  get requestId(): string | undefined {
    const id: unknown = this.raw.id
    return typeof id === 'string' ? id : typeof id === 'number' ? String(id) : undefined
  }
}

/** Copies an outcome onto the reply; answers it or lets the request go on. */
function apply(outcome: HttpOutcome, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const remove = outcome.remove
  if (remove !== undefined) for (let i = 0; i < remove.length; i++) reply.removeHeader(remove[i])
  const headers = outcome.headers
  // Names are lower case already (`headerNames: 'lower'`): Fastify would build each one's lower-case copy otherwise.
  for (const name in headers) reply.header(name, headers[name])
  const finish = outcome.finish
  // Fastify keeps a reply's headers itself: read them from the reply.
  // A hang-up holds the request's slot until the handler answers (see onFinished).
  if (finish !== undefined) onFinished(reply.raw, finish, reply, whenSentOrEnded)
  if (outcome.action === 'next') {
    done()
    return
  }
  reply.code(outcome.status)
  if (outcome.contentType !== undefined) reply.header('content-type', outcome.contentType)
  // A Buffer goes out as it is (a string would get a charset appended to the content type).
  reply.send(Buffer.from(outcome.body ?? ''))
}

/** Who decides a request: the plugin's limiter, or a route's own with its template and scope. */
interface Decider {
  readonly http: HttpLimiter<FastifyRequest, FastifyRequestInfo>
  readonly template: string | undefined
  readonly scope: string | undefined
}

/** Decides one request and applies the outcome; failures go to `done`. */
function decide(by: Decider, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  let outcome: HttpOutcome | Promise<HttpOutcome>
  try {
    outcome = by.http.handle(new FastifyInfo(request, by.template), by.scope)
  } catch (error) {
    done(error as Error)
    return
  }
  applyWhenReady(outcome, apply, reply, done)
}

/** Fastify's `trustProxy` option, from the options Fastify keeps under a private symbol (`initialConfig` lacks it). */
function trustProxyOption(fastify: FastifyInstance): unknown {
  for (let o: object | null = fastify; o !== null; o = Object.getPrototypeOf(o)) {
    for (const symbol of Object.getOwnPropertySymbols(o)) {
      if (symbol.description === 'fastify.options') {
        const options: unknown = (o as Record<symbol, unknown>)[symbol]
        return typeof options === 'object' && options !== null ? (options as { trustProxy?: unknown }).trustProxy : undefined
      }
    }
  }
  return undefined
}

/** Checks `trustProxy` once per app (see checkTrustSetting): Fastify 5 ignores a hop count. */
function checkTrustProxy(
  fastify: FastifyInstance,
  http: HttpLimiter<FastifyRequest, FastifyRequestInfo>,
): ForwardedRequestWatch | undefined {
  const major = Number.parseInt(String(fastify.version), 10)
  const ignoredBy = major >= 5 ? `Fastify ${major}` : undefined
  return checkTrustSetting('Fastify trustProxy', trustProxyOption(fastify), ignoredBy, http.warnOnce, fastify.server ?? fastify)
}

/** What a route's context config holds: its `config` options plus the route's method(s) and URL. */
interface RouteContextConfig {
  rateLimit?: unknown
  method?: string | readonly string[]
  url?: string
}

/**
 * Fastify keeps the route's context (and its config) on the request under a private symbol;
 * `request.routeOptions` builds a frozen object per access. The symbol is looked up once; if a
 * Fastify release drops it, `routeOptions` is used.
 */
let contextSymbol: symbol | null | undefined
function routeConfigOf(request: FastifyRequest): RouteContextConfig {
  if (contextSymbol === undefined) {
    contextSymbol = Object.getOwnPropertySymbols(request).find((symbol) => symbol.description === 'fastify.context') ?? null
  }
  if (contextSymbol !== null) {
    const config = (request as unknown as Record<symbol, { config?: RouteContextConfig } | undefined>)[contextSymbol]?.config
    if (config !== undefined) return config
  }
  return request.routeOptions.config as RouteContextConfig
}

/**
 * Per application (root instance): the routes declared with `config.rateLimit` options, and those
 * a ratekeeper plugin reaches (a route outside every plugin's encapsulation context never passes
 * its hooks).
 */
const watches = new WeakMap<object, RouteLimitsWatch>()

/** The root instance of an encapsulation context (contexts inherit from their parent). */
function rootOf(fastify: FastifyInstance): FastifyInstance {
  let root = fastify
  let p: unknown = Object.getPrototypeOf(root)
  for (; typeof (p as { addHook?: unknown } | null)?.addHook === 'function'; p = Object.getPrototypeOf(p)) root = p as FastifyInstance
  return root
}

/** Watches, from the root, every route declared from now on; `ready()` fails for those no plugin reached. */
function watchRoutes(fastify: FastifyInstance): RouteLimitsWatch {
  const root = rootOf(fastify)
  const watch = watches.get(root)
  if (watch !== undefined) return watch
  const w = new RouteLimitsWatch()
  watches.set(root, w)
  root.addHook('onRoute', (routeOptions) => {
    const config = routeOptions.config?.rateLimit
    if (config !== undefined && config !== false) w.declare(routeOptions)
  })
  root.addHook('onReady', (done: (error?: Error) => void) => {
    const missed = w.unreached()
    if (missed.length === 0) {
      done()
      return
    }
    done(
      new RateKeeperError(
        'ERR_RK_INVALID_OPTION',
        `${WHERE}: config.rateLimit of ${missed.join(', ')} would never apply: the route is outside the encapsulation context ` +
          'the plugin is registered in (a register() callback not wrapped with fastify-plugin). Register the plugin on the root, ' +
          "in the route's context, or wrap the plugin that registers it with fastify-plugin.",
      ),
    )
  })
  return w
}

const plugin: FastifyPluginCallback<FastifyRateLimitOptions> = function ratekeeper(
  fastify: FastifyInstance,
  options: FastifyRateLimitOptions,
  done: (error?: Error) => void,
) {
  // A callback plugin reports failures through `done`.
  let http: HttpLimiter<FastifyRequest, FastifyRequestInfo>
  try {
    http = createHttpLimiter<FastifyRequest, FastifyRequestInfo>(WHERE, options, SETTINGS)
  } catch (error) {
    done(error as Error)
    return
  }
  const isGlobal = options.global ?? true

  const forwarded = checkTrustProxy(fastify, http)

  const routes = routeLimiters<FastifyRequest, FastifyRequestInfo>({
    app: options,
    appHttp: http,
    settings: SETTINGS,
    where: (route) => `config.rateLimit of ${route} (ratekeeper/fastify)`,
    option: 'rateLimit',
  })
  const global: Decider = { http, template: undefined, scope: undefined }

  // Routes declared after the plugin are validated when they are declared; a route the plugin did
  // not see (declared before it, or before a register that was not awaited) on its first request.
  const watch = watchRoutes(fastify)
  fastify.addHook('onRoute', (routeOptions) => {
    const config = routeOptions.config?.rateLimit
    if (config === undefined || config === false) return
    watch.reach(routeOptions)
    routes.compile(config, routeOptions)
  })

  // One hook for every route of the context and for unknown routes (404), which are not routes.
  fastify.addHook('onRequest', function rateLimitHook(request, reply, next) {
    forwarded?.(request.raw.socket?.remoteAddress, request.headers)
    const config = routeConfigOf(request)
    const own = config.rateLimit
    if (own === undefined) {
      if (isGlobal) decide(global, request, reply, next)
      else next()
      return
    }
    if (own === false) {
      next()
      return
    }
    // The route context config (`{ …config, url, method }`) is one object per route.
    let route: Decider
    try {
      route = routes.of(config, own, request.method)
    } catch (error) {
      next(error as Error)
      return
    }
    decide(route, request, reply, next)
  })

  fastify.addHook('onClose', (_instance, closed) => {
    http.close().then(() => closed(), closed)
  })
  done()
}

/**
 * The Fastify plugin (Fastify 4 and 5). It limits every route of its encapsulation context and
 * unknown routes (404), or only routes with `config.rateLimit` when `global: false`. Register it
 * before your routes so that their `config.rateLimit` is validated when they are declared; a
 * route declared before it is still limited by its own config (validated on its first request). A route's `config.rateLimit` options replace the plugin's for that route
 * (buckets of its own, keyed by the route template); `false` exempts the route.
 *
 * @example
 * import Fastify from 'fastify'
 * import { tokenBucket } from 'ratekeeper'
 * import fastifyRateLimit from 'ratekeeper/fastify'
 *
 * const app = Fastify()
 * await app.register(fastifyRateLimit, { policies: [tokenBucket({ limit: 100, window: '1m' })] })
 * app.get('/login', { config: { rateLimit: { policies: [tokenBucket({ limit: 5, window: '1m' })] } } }, async () => 'ok')
 */
const fastifyRateLimit = fp(plugin, { fastify: '4.x || 5.x', name: 'ratekeeper' })

export { fastifyRateLimit }
export default fastifyRateLimit

/**
 * The `GET /v1/rate-limits` route handler: the caller's live buckets and team ceiling, peeked
 * (nothing charged) through the same limiter and `providerPlan()` the plugin uses, in the
 * managed.dev shape (`request_id` is Fastify's `request.id` unless `requestId` says otherwise).
 * See docs/provider-features.md.
 *
 * @example
 * app.get('/v1/rate-limits', rateLimitsRoute({ limiter, plan }))
 */
export function rateLimitsRoute(options: RateLimitsHandlerOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const handle = rateLimitsHandler(options)
  return async function rateLimitsEndpoint(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const r = await handle(new FastifyInfo(request, request.routeOptions?.url))
    reply.code(r.status)
    for (const name in r.headers) reply.header(name, r.headers[name])
    // The body is already serialised: send it and its content type verbatim (Fastify 4 would append a charset).
    reply.header('content-type', r.contentType)
    await reply.serializer((payload: unknown) => String(payload)).send(r.body)
  }
}

/**
 * Reports the actual cost of the request `reply` answers (reserve-then-settle, the `actualCost`
 * option): the request is settled at it when the response ends. Call it before the response
 * ends; throws on a cost that is not a whole number from 0 to 1000000000.
 * @example setActualCost(reply, answer.usage.totalTokens)
 */
export function setActualCost(reply: FastifyReply, cost: number): void {
  reportActualCost('setActualCost() (ratekeeper/fastify)', reply.raw, cost)
}
