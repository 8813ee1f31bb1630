// Per-route options over an application's (Fastify `config.rateLimit`): how they merge, and one
// HTTP limiter per route options object.
import { invalid } from '../limiter/errors.js'
import { type AdapterOptionTable, type HttpLimiterOptions, LIMITER_OPTION_NAMES } from './http-options.js'
import { createHttpLimiter, type HttpAdapterSettings, type HttpLimiter } from './pipeline.js'
import type { HttpRequestInfo } from './request.js'
import { routeScope, routeTemplate } from './route.js'

/** Options that make a limiter: a route setting any of them gets a limiter of its own. */
const LIMITER_LEVEL = ['limiter', ...LIMITER_OPTION_NAMES] as const

/**
 * The options of a route's own limiter: the route's options over the application's (without the
 * adapter's own options, which are the application's only). A route that sets none of the
 * limiter options (`limiter` and those of {@link LIMITER_OPTION_NAMES}) shares the application's
 * limiter and store, with its own policies if given; a route that changes a limiter setting gets a
 * limiter of its own, on the application limiter's store and policies.
 */
export function mergeRouteOptions<Raw, Info extends HttpRequestInfo<Raw>>(
  app: HttpLimiterOptions<Raw, Info>,
  appHttp: HttpLimiter<Raw, Info>,
  route: HttpLimiterOptions<Raw, Info>,
  adapterOptions: AdapterOptionTable,
): HttpLimiterOptions<Raw, Info> {
  const base: Record<string, unknown> = { ...app }
  for (const name of Object.keys(adapterOptions)) delete base[name]
  const ownLimiter = LIMITER_LEVEL.some((name) => route[name] !== undefined)
  if (!ownLimiter) {
    for (const name of LIMITER_LEVEL) delete base[name]
    return { ...base, ...route, limiter: appHttp.limiter, policies: route.policies ?? app.policies }
  }
  if (route.limiter !== undefined) {
    for (const name of LIMITER_LEVEL) delete base[name]
    delete base.policies
  } else if (base.limiter !== undefined) {
    delete base.limiter
    base.store = appHttp.limiter.store
    base.policies = app.policies ?? appHttp.limiter.policies
  }
  return { ...base, ...route }
}

/** A registered route as the framework describes it: its method(s) and its URL template. */
export interface RegisteredRoute {
  readonly method?: string | readonly string[] | undefined
  readonly url?: string | undefined
}

/** `GET /login`, `GET,POST /items`: how errors name a route. */
export function routeName(route: RegisteredRoute): string {
  const method = route.method
  const methods = Array.isArray(method) ? method.join(',') : String(method ?? '?')
  return `${methods} ${String(route.url ?? '?')}`
}

/** What decides the requests of one route with limits of its own. */
export interface RouteLimits<Raw, Info extends HttpRequestInfo<Raw>> {
  readonly http: HttpLimiter<Raw, Info>
  /** The route's template, as registered (see {@link routeTemplate}). */
  readonly template: string | undefined
  /** The route's scope ({@link routeScope}): its own methods and template. */
  readonly scope: string
}

/** What {@link routeLimiters} needs to know. */
export interface RouteLimitersOptions<Raw, Info extends HttpRequestInfo<Raw>> {
  /** The application's options (the plugin's). */
  readonly app: HttpLimiterOptions<Raw, Info>
  /** The application's HTTP limiter, made from `app`. */
  readonly appHttp: HttpLimiter<Raw, Info>
  /** How the adapter's requests differ from the defaults; its `adapterOptions` are the application's only. */
  readonly settings: HttpAdapterSettings
  /** How errors name a route's options, e.g. `(route) => \`config.rateLimit of ${route} (ratekeeper/fastify)\``. */
  readonly where: (route: string) => string
  /** The name of the route option holding the limits, in errors (`rateLimit`). */
  readonly option: string
}

/** The routes with limits of their own under one application's options. */
export interface RouteLimiters<Raw, Info extends HttpRequestInfo<Raw>> {
  /**
   * The HTTP limiter of a route's options: validated, merged over the application's options
   * ({@link mergeRouteOptions}) and compiled on first use, then the same for that options object
   * (a route and its automatic `HEAD` route share it). Throws a `ConfigurationError`.
   */
  compile(config: unknown, route: RegisteredRoute): HttpLimiter<Raw, Info>
  /**
   * The limits of `route` (worked out once per route object): its limiter, template and scope.
   * `method` is the request's, for a route registered without one. Throws like `compile`.
   */
  of(route: RegisteredRoute, config: unknown, method: string): RouteLimits<Raw, Info>
}

/** The limits of the routes that have options of their own, over the application's. */
export function routeLimiters<Raw extends object, Info extends HttpRequestInfo<Raw>>(
  options: RouteLimitersOptions<Raw, Info>,
): RouteLimiters<Raw, Info> {
  const { app, appHttp, settings, where, option } = options
  const routeSettings: HttpAdapterSettings = { ...settings, adapterOptions: undefined }
  const compiled = new WeakMap<object, HttpLimiter<Raw, Info>>()
  const routes = new WeakMap<RegisteredRoute, RouteLimits<Raw, Info>>()
  const compile = (config: unknown, route: RegisteredRoute): HttpLimiter<Raw, Info> => {
    if (typeof config !== 'object' || config === null)
      invalid(where(routeName(route)), option, 'must be an options object or false', config)
    let http = compiled.get(config)
    if (http === undefined) {
      const merged = mergeRouteOptions(app, appHttp, config as HttpLimiterOptions<Raw, Info>, settings.adapterOptions ?? {})
      http = createHttpLimiter<Raw, Info>(where(routeName(route)), merged, routeSettings)
      compiled.set(config, http)
    }
    return http
  }
  return {
    compile,
    of(route, config, method) {
      let limits = routes.get(route)
      if (limits === undefined) {
        const template = route.url === undefined ? undefined : routeTemplate(route.url)
        limits = { http: compile(config, route), template, scope: routeScope(route.method ?? method, template ?? '') }
        routes.set(route, limits)
      }
      return limits
    },
  }
}

/**
 * Routes declared with limits of their own, and those an HTTP limiter reached. Where a framework's
 * hooks do not reach every route (Fastify's encapsulation contexts), such a route's limits would be
 * ignored silently: the adapter fails start-up for the routes {@link unreached} names instead.
 */
export class RouteLimitsWatch {
  readonly #declared = new Map<object, string>()
  readonly #reached = new WeakSet<object>()

  /** A route was declared with limits of its own. */
  declare(route: RegisteredRoute): void {
    this.#declared.set(route, routeName(route))
  }

  /** A limiter reached the route: its limits apply. */
  reach(route: RegisteredRoute): void {
    this.#reached.add(route)
  }

  /** The names of the routes declared since the last call that no limiter reached. */
  unreached(): string[] {
    const missed: string[] = []
    for (const [route, name] of this.#declared) if (!this.#reached.has(route)) missed.push(name)
    this.#declared.clear()
    return missed
  }
}
