/**
 * Fastify 4 and 5 plugin: `fastify.register(fastifyRateLimit, { policies })`, with per-route
 * `config: { rateLimit: { … } | false }`.
 * @module ratekeeper/fastify
 */
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import type { HttpLimiterOptions } from '../src/http/http-options.js'
import { NodeHeaderReader, onFinished } from '../src/http/node.js'
import { createHttpLimiter, type HttpLimiter, isThenable } from '../src/http/pipeline.js'
import type { HttpOutcome, HttpRequestInfo } from '../src/http/request.js'
import { pathOf, routeScope } from '../src/http/route.js'
import {
  MAX_TRUSTED_PROXIES,
  rangesTrustEveryone,
  TRUST_PROXY_ANY,
  TRUST_PROXY_IGNORED,
  trustProxyAnyMessage,
  trustsEveryone,
} from '../src/http/trust-proxy.js'
import { checkOptionsObject, invalid, RateKeeperError } from '../src/limiter/errors.js'
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
/** Options that make a limiter: a route setting any of them gets a limiter of its own. */
const LIMITER_LEVEL = ['limiter', 'store', 'now', 'onStoreError', 'fallback', 'dryRun', 'nearLimit', 'timeoutMs', 'logger'] as const

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
    return this.#route ?? this.raw.routeOptions.url
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
  if (finish !== undefined) onFinished(reply.raw, finish)
  if (outcome.action === 'next') {
    done()
    return
  }
  reply.code(outcome.status)
  if (outcome.contentType !== undefined) reply.header('content-type', outcome.contentType)
  // A Buffer goes out as it is (a string would get a charset appended to the content type).
  reply.send(Buffer.from(outcome.body ?? ''))
}

/** Decides one request; `template` and `scope` are the route's (per-route limits only). */
type Decide = (
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
  template: string | undefined,
  scope: string | undefined,
) => void

function makeHook(http: HttpLimiter<FastifyRequest, FastifyRequestInfo>): Decide {
  return function rateLimitDecide(
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
    template: string | undefined,
    scope: string | undefined,
  ): void {
    let outcome: HttpOutcome | Promise<HttpOutcome>
    try {
      outcome = http.handle(new FastifyInfo(request, template), scope)
    } catch (error) {
      done(error as Error)
      return
    }
    if (!isThenable(outcome)) {
      apply(outcome, reply, done)
      return
    }
    outcome.then(
      (o) => {
        try {
          apply(o, reply, done)
        } catch (error) {
          done(error as Error)
        }
      },
      (error: Error) => done(error),
    )
  }
}

function plainOptions(value: FastifyRateLimitOptions): Record<string, unknown> {
  return { ...(value as Record<string, unknown>) }
}

/**
 * The options of a route's own limiter: the route's `config.rateLimit` over the plugin's. A route
 * that sets none of the limiter options (`limiter`, `store`, `now`, `onStoreError`, `fallback`,
 * `dryRun`, `nearLimit`, `timeoutMs`, `logger`) shares the plugin's limiter and store, with its own policies if given.
 */
function mergeRouteOptions(
  plugin: FastifyRateLimitOptions,
  http: HttpLimiter<FastifyRequest, FastifyRequestInfo>,
  route: FastifyRateLimitRouteOptions,
): FastifyRateLimitRouteOptions {
  const base = plainOptions(plugin)
  delete base.global
  const ownLimiter = LIMITER_LEVEL.some((name) => route[name] !== undefined)
  if (!ownLimiter) {
    for (const name of LIMITER_LEVEL) delete base[name]
    return { ...base, ...route, limiter: http.limiter, policies: route.policies ?? plugin.policies } as FastifyRateLimitRouteOptions
  }
  if (route.limiter !== undefined) {
    for (const name of LIMITER_LEVEL) delete base[name]
    delete base.policies
  } else if (base.limiter !== undefined) {
    // The route changes a limiter setting: a limiter of its own, on the plugin limiter's store and policies.
    delete base.limiter
    base.store = http.limiter.store
    base.policies = plugin.policies ?? http.limiter.policies
  }
  return { ...base, ...route } as FastifyRateLimitRouteOptions
}

/**
 * Fastify's `trustProxy` option: not part of `initialConfig`, so read from the options Fastify
 * keeps (under a private symbol). `undefined` when not found.
 */
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

/**
 * Reports a `trustProxy` setting that lets any client choose its IP (`true`, a function that
 * trusts everyone, more than MAX_TRUSTED_PROXIES hops, ranges covering every address), and a hop
 * count on Fastify 5, which ignores it: `request.ip` then stays the proxy's address for everyone.
 */
function checkTrustProxy(fastify: FastifyInstance, http: HttpLimiter<FastifyRequest, FastifyRequestInfo>): void {
  const setting = trustProxyOption(fastify)
  if (setting === undefined || setting === false) return
  const app = fastify.server ?? fastify
  const major = Number.parseInt(String(fastify.version), 10)
  if (typeof setting === 'number' && major >= 5) {
    http.warnOnce(
      TRUST_PROXY_IGNORED,
      `ratekeeper: Fastify ${major} ignores a numeric trustProxy (${setting}): request.ip is the address of the proxy in front of the app, so every client shares one IP bucket; set trustProxy to the proxies' addresses instead`,
      app,
    )
    return
  }
  let permissive = false
  let described = JSON.stringify(setting)
  if (setting === true) permissive = true
  else if (typeof setting === 'number') {
    permissive = setting > MAX_TRUSTED_PROXIES
    described = `${setting} (more than ${MAX_TRUSTED_PROXIES} proxies)`
  } else if (typeof setting === 'function') {
    permissive = trustsEveryone(setting as (address: string, hop: number) => unknown)
    described = 'a function that trusts every address'
  } else if (typeof setting === 'string' || Array.isArray(setting)) permissive = rangesTrustEveryone(setting)
  if (permissive) http.warnOnce(TRUST_PROXY_ANY, trustProxyAnyMessage(`Fastify trustProxy ${described}`), app)
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

/** `GET /login`, `GET,POST /items`: how errors name a route. */
function routeName(method: unknown, url: unknown): string {
  const methods = Array.isArray(method) ? method.join(',') : String(method ?? '?')
  return `${methods} ${String(url ?? '?')}`
}

/**
 * Per application (root instance): the routes declared with `config.rateLimit` options, and those
 * a ratekeeper plugin reaches. A route outside every plugin's encapsulation context never passes
 * its hooks; its limits would be silently ignored, so start-up fails instead.
 */
interface RouteWatch {
  readonly declared: Map<object, string>
  readonly reached: WeakSet<object>
}
const watches = new WeakMap<object, RouteWatch>()

/** The root instance of an encapsulation context (contexts inherit from their parent). */
function rootOf(fastify: FastifyInstance): FastifyInstance {
  let root = fastify
  for (
    let p: unknown = Object.getPrototypeOf(root);
    typeof (p as { addHook?: unknown } | null)?.addHook === 'function';
    p = Object.getPrototypeOf(p)
  ) {
    root = p as FastifyInstance
  }
  return root
}

/** Watches, from the root, every route declared from now on; `ready()` fails for those no plugin reached. */
function watchRoutes(fastify: FastifyInstance): RouteWatch {
  const root = rootOf(fastify)
  const watch = watches.get(root)
  if (watch !== undefined) return watch
  const w: RouteWatch = { declared: new Map(), reached: new WeakSet() }
  watches.set(root, w)
  root.addHook('onRoute', (routeOptions) => {
    const config = routeOptions.config?.rateLimit
    if (config === undefined || config === false) return
    w.declared.set(routeOptions, routeName(routeOptions.method, routeOptions.url))
  })
  root.addHook('onReady', (done: (error?: Error) => void) => {
    const missed: string[] = []
    for (const [route, name] of w.declared) if (!w.reached.has(route)) missed.push(name)
    w.declared.clear()
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
  let isGlobal: boolean
  try {
    checkOptionsObject(WHERE, options)
    if (options.global !== undefined && typeof options.global !== 'boolean') invalid(WHERE, 'global', 'must be a boolean', options.global)
    const { global = true, ...limiterOptions } = options
    isGlobal = global
    http = createHttpLimiter<FastifyRequest, FastifyRequestInfo>(WHERE, limiterOptions, {
      adapterOptions: ['global'],
      mark: 'registrations',
      headerNames: 'lower',
    })
  } catch (error) {
    done(error as Error)
    return
  }

  checkTrustProxy(fastify, http)

  // One compiled limiter per route config object (a GET route and its automatic HEAD route share it).
  const perRoute = new WeakMap<object, Decide>()
  const compile = (config: unknown, route: string): Decide => {
    if (typeof config !== 'object' || config === null) {
      invalid(`config.rateLimit of ${route} (ratekeeper/fastify)`, 'rateLimit', 'must be an options object or false', config)
    }
    let decide = perRoute.get(config)
    if (decide === undefined) {
      decide = makeHook(
        createHttpLimiter<FastifyRequest, FastifyRequestInfo>(
          `config.rateLimit of ${route} (ratekeeper/fastify)`,
          mergeRouteOptions(options, http, config as FastifyRateLimitRouteOptions),
          { mark: 'registrations', headerNames: 'lower' },
        ),
      )
      perRoute.set(config, decide)
    }
    return decide
  }
  // The route scope per route context config (`{ …config, url, method }`, one object per route):
  // the route's own methods, so that every method of an `all` or a method-list route shares it.
  const scopes = new WeakMap<object, string>()

  // Routes declared after the plugin are validated when they are declared; a route the plugin did
  // not see (declared before it, or before a register that was not awaited) on its first request.
  const watch = watchRoutes(fastify)
  fastify.addHook('onRoute', (routeOptions) => {
    const config = routeOptions.config?.rateLimit
    if (config === undefined || config === false) return
    watch.reached.add(routeOptions)
    compile(config, routeName(routeOptions.method, routeOptions.url))
  })

  const globalHook = makeHook(http)
  // One hook for every route of the context and for unknown routes (404), which are not routes.
  fastify.addHook('onRequest', function rateLimitHook(request, reply, next) {
    const config = routeConfigOf(request)
    const own = config.rateLimit
    if (own === undefined) {
      if (isGlobal) globalHook(request, reply, next, undefined, undefined)
      else next()
      return
    }
    if (own === false) {
      next()
      return
    }
    let decide = typeof own === 'object' && own !== null ? perRoute.get(own) : undefined
    if (decide === undefined) {
      try {
        decide = compile(own, routeName(config.method, config.url))
      } catch (error) {
        next(error as Error)
        return
      }
    }
    let scope = scopes.get(config)
    if (scope === undefined) {
      scope = routeScope(config.method ?? request.method, config.url ?? '')
      scopes.set(config, scope)
    }
    decide(request, reply, next, config.url, scope)
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
