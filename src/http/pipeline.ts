import { createLimiter } from '../create-limiter.js'
import type { Decision } from '../limiter/decision.js'
import { ConfigurationError, checkInteger, checkOptionsObject, invalid, invalidAtRequest } from '../limiter/errors.js'
import type { Policy } from '../limiter/policy.js'
import type { Store } from '../limiter/store.js'
import type { ConsumeOptions, Layer, Limiter, LimiterOptions, Logger, StoreErrorMode } from '../limiter/types.js'
import { countingFinish } from '../provider/count-mode.js'
import type { BodyFormatter, BodyOptions, BodyPreset, BodyRenderer } from './bodies.js'
import { createLimitedBody } from './bodies.js'
import type { HeaderNameCase, HeaderOptions, HeaderRenderer } from './headers.js'
import { createPolicyListHeaders } from './headers.js'
import type { KeyFunction, KeyRequestInfo } from './keys.js'
import { checkIpv6Subnet, DEFAULT_IPV6_SUBNET, ipKey } from './keys.js'

/**
 * A request as every adapter describes it to the core. Adapters fill it from the framework's
 * request; nothing in it is read from headers the framework did not vouch for.
 */
export interface HttpRequestInfo<Raw = unknown> extends KeyRequestInfo {
  /** Upper-case method, e.g. `GET`. */
  readonly method: string
  /** The matched route template (`/users/:id`), or `undefined` when no route matched (yet). */
  readonly route: string | undefined
  /** The path as received, without the query string. Never use it to key limits: use `route`. */
  readonly path: string
  /** The client address as the framework resolved it under its own trust-proxy setting. */
  readonly ip: string | undefined
  /** Request headers, read case-insensitively. */
  readonly headers: HeaderReader
  /** The framework's own request id, when it has one (Fastify's `request.id`). */
  readonly requestId?: string | undefined
  /** The framework's request object (Express `req`, Koa `ctx`, Fastify `request`, a Fetch `Request`). */
  readonly raw: Raw
}

/** Reads a request header; `undefined` when absent. Several values are joined with `, `. */
export interface HeaderReader {
  get(name: string): string | undefined
}

/**
 * Which requests to count, decided when the response finishes (`'all'`, `'success'`,
 * `'failure'`): requests are charged when they arrive, so parallel requests can't overrun the
 * limit, and the charge is refunded when the final status doesn't count (see `countingFinish`).
 */
import type { CountMode } from '../provider/types.js'

export type { CountMode }

/** What to charge for one request: the seam request classes, tiers and team layers plug into. */
export interface RequestPlan {
  /** The subject key (e.g. `key:sk_live_…`). Used as it is: no route scoping applies. */
  readonly key: string
  /** Cost units. @default 1 */
  readonly cost?: number
  /** Policies replacing the limiter's own for this request (a class or a plan). */
  readonly policies?: readonly Policy[]
  /** Other subjects decided with the key, all-or-nothing (a team ceiling). */
  readonly layers?: readonly Layer[]
  /** Placement tag (Redis Cluster hash tag). */
  readonly tag?: string
  /** A tier name to report (`X-RateLimit-Tier`, bodies that have a place for it). */
  readonly tier?: string
  /** @default 'all' */
  readonly countMode?: CountMode
}

/** How the response ended, as reported by the adapter to {@link HttpOutcome.finish}. */
export interface HttpFinish {
  /** The status code sent (0 when nothing was sent). */
  readonly status: number
  /** The client hung up before the response finished. */
  readonly aborted: boolean
}

/** What an adapter must do with a request. */
export interface HttpOutcome {
  /** `'next'`: let the request through; `'respond'`: answer with `status`, `body` and stop. */
  readonly action: 'next' | 'respond'
  /** Status to answer with when `action` is `'respond'` (0 otherwise). */
  readonly status: number
  /** Headers to set on the response, whatever the action. */
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string
  readonly contentType?: string
  /** The decision behind the outcome; absent when the request was skipped. */
  readonly decision?: Decision
  /**
   * Rate-limit headers another limiter may have set earlier on this response (stacked limiters)
   * that this one does not send: remove them before setting `headers`, so that the response
   * describes only the limiter that decided it. Empty unless limiters with different header
   * options live in one process; absent when the request was not decided.
   */
  readonly remove?: readonly string[]
  /** Adapters call it once when the response finishes or the client hangs up (count modes). */
  readonly finish?: (result: HttpFinish) => void
}

/** A function of the framework's request and its {@link HttpRequestInfo}. */
export type RequestFunction<Raw, Info, T> = (req: Raw, info: Info) => T

/**
 * Options every adapter takes (`rateLimit(options)` / `fastify.register(plugin, options)`).
 * Either `limiter`, or the options of `createLimiter` (`policies`, `store`, …).
 */
export interface HttpLimiterOptions<Raw = unknown, Info extends HttpRequestInfo<Raw> = HttpRequestInfo<Raw>> {
  /**
   * A limiter made by `createLimiter`, to share one limiter (and its store) between several
   * middlewares. With `limiter`, `policies` (optional) replaces the limiter's policies for the
   * requests of this middleware; the other limiter options belong to `createLimiter`.
   */
  limiter?: Limiter
  /** The policies (required unless `limiter` is given). */
  policies?: readonly Policy[]
  /** Where state lives. @default new MemoryStore() */
  store?: Store
  /** The clock, epoch ms. @default Date.now */
  now?: () => number
  /** What a store failure does: `'allow'`, `'deny'` (answered with `storeErrorStatus`) or `'fallback'`. @default 'allow' */
  onStoreError?: StoreErrorMode
  /** The store used when `onStoreError` is `'fallback'`. @default new MemoryStore() */
  fallback?: Store
  /** Decide and send headers, but never block. @default false */
  dryRun?: boolean
  /** Threshold of the limiter's `near-limit` event. @default undefined (never) */
  nearLimit?: number
  /** Deadline of store calls that return a promise, for stores without one of their own. @default 100 */
  timeoutMs?: number
  /** Where the limiter's log lines go (a store outage and its end, store warnings). @default process.emitWarning */
  logger?: Logger
  /**
   * The key a request is counted under; `undefined` (returned, or the option omitted) means the
   * client IP: `ip:` + the address the framework resolved, IPv6 grouped by `ipv6Subnet`.
   * Use {@link apiKey}, {@link userKey} or your own function.
   * @default the client IP
   */
  key?: KeyFunction<Raw, Info>
  /** Cost units per request: a whole number, or a function of the request. @default 1 */
  cost?: number | RequestFunction<Raw, Info, number | Promise<number>>
  /** Requests for which it returns `true` are not limited and get no headers (see `allowList`). */
  skip?: RequestFunction<Raw, Info, boolean | Promise<boolean>>
  /**
   * Which rate-limit headers to send (`legacy`, `standard`, `tier`); `false` sends only
   * `Retry-After` on a 429. @default X-RateLimit-* and draft-10 RateLimit/RateLimit-Policy
   */
  headers?: HeaderOptions | false
  /** The 429 body: a preset (`'problem'`, `'managed-dev'`, `'skakio'`, `'scalekit'`), a function, or body options. @default 'problem' */
  body?: BodyPreset | BodyFormatter | BodyOptions
  /** Status of a denied request. @default 429 */
  statusCode?: number
  /** Status of a request denied because the store failed (`onStoreError: 'deny'`). @default 503 */
  storeErrorStatus?: number
  /**
   * The request id shown in 429 bodies: a request header name, or a function. Ids that are not
   * visible ASCII of at most 200 characters are left out.
   * @default the framework's own id (Fastify `request.id`), else none
   */
  requestId?: string | RequestFunction<Raw, Info, string | undefined>
  /** Prefix length IPv6 clients are grouped by (32-128). @default 56 */
  ipv6Subnet?: number
  /**
   * Decides what to charge for each request, replacing `key` and `cost` (request classes, tiers,
   * team layers, count modes). `undefined` lets the request through unlimited.
   */
  plan?: (req: Info) => RequestPlan | undefined | Promise<RequestPlan | undefined>
  /** Called with every decision and its request (logging, metrics). Exceptions are reported, not thrown. */
  onDecision?: (decision: Decision, req: Info) => void
}

/** The compiled request → decision → response logic behind every adapter. */
export interface HttpLimiter<Raw = unknown, Info extends HttpRequestInfo<Raw> = HttpRequestInfo<Raw>> {
  /** The limiter deciding (the one passed in, or the one built from the options). */
  readonly limiter: Limiter
  /**
   * Decides one request. `routeScope` (e.g. `GET /users/:id`) counts the request in a bucket of
   * that route's own; omit it for an application-wide limit. Synchronous when the store and the
   * option functions are; throws (or rejects) when a key/cost/skip/plan function fails.
   */
  handle(info: Info, routeScope?: string): HttpOutcome | Promise<HttpOutcome>
  /**
   * Reports a configuration hazard through the limiter's `warn`: once per code and `app` (the
   * framework's application object) whatever the number of limiters in it, or once per code and
   * middleware when `app` is not given.
   */
  warnOnce(code: string, message: string, app?: object): void
  /** Closes the limiter if this object created it. */
  close(): Promise<void>
}

/** Names of {@link HttpLimiterOptions}, kept complete by the compiler. */
export const HTTP_LIMITER_OPTIONS: { readonly [K in keyof Required<HttpLimiterOptions>]: true } = {
  limiter: true,
  policies: true,
  store: true,
  now: true,
  onStoreError: true,
  fallback: true,
  dryRun: true,
  nearLimit: true,
  timeoutMs: true,
  logger: true,
  key: true,
  cost: true,
  skip: true,
  headers: true,
  body: true,
  statusCode: true,
  storeErrorStatus: true,
  requestId: true,
  ipv6Subnet: true,
  plan: true,
  onDecision: true,
}

const LIMITER_OPTION_NAMES = ['store', 'now', 'onStoreError', 'fallback', 'dryRun', 'nearLimit', 'timeoutMs', 'logger'] as const
const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({})
/** The outcome of a request that is not limited (skipped, or already counted by another mount). */
export const PASS: HttpOutcome = Object.freeze({ action: 'next', status: 0, headers: EMPTY_HEADERS })
const COUNT_MODES: readonly unknown[] = ['all', 'success', 'failure']

/**
 * How an adapter's requests are marked as decided, so that a second mount of the same limits
 * passes them through (each is the cheapest safe choice for its framework):
 * - `'weakset'`: a WeakSet of request objects (Express, whose re-parented request objects make
 *   adding a property cost microseconds; Fetch `Request`s);
 * - `'property'`: a symbol property on the request (Koa's `ctx`: one shape for every request);
 * - `'registrations'`: the framework runs one hook per registration, so requests are marked (by
 *   property) only when the same limits are registered more than once (Fastify).
 */
export type DecidedMark = 'weakset' | 'property' | 'registrations'

/** What the http limiters deciding the same limits (a limiter and a policy list or plan) share. */
interface SameLimits {
  /** How many http limiters decide these limits. */
  instances: number
  readonly seen: WeakSet<object>
  /** The symbol marking requests decided by these limits (`'property'` marks). */
  readonly mark: symbol
}

const sameLimits = new WeakMap<Limiter, WeakMap<object, SameLimits>>()
function sameLimitsOf(limiter: Limiter, limits: object): SameLimits {
  let byLimits = sameLimits.get(limiter)
  if (byLimits === undefined) {
    byLimits = new WeakMap()
    sameLimits.set(limiter, byLimits)
  }
  let state = byLimits.get(limits)
  if (state === undefined) {
    state = { instances: 0, seen: new WeakSet(), mark: Symbol('ratekeeper.decided') }
    byLimits.set(limits, state)
  }
  return state
}

/** Codes already reported per application object (see `warnOnce`). */
const warnedApps = new WeakMap<object, Set<string>>()

/** Every rate-limit header name (lower case) an HTTP limiter of this process may send; `emittedVersion` counts additions. */
const emitted = new Set<string>()
let emittedVersion = 0
const NO_NAMES: readonly string[] = Object.freeze([])

/** The header names (lower case) a limiter made with these header options may send. */
function headerNamesOf(options: HeaderOptions | undefined): Set<string> {
  const names = new Set(['retry-after'])
  if (options?.legacy !== false) {
    for (const n of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) names.add(n)
    if (options?.tier !== false) names.add('x-ratelimit-tier')
  }
  const standard = options?.standard ?? 'draft-10'
  if (standard === 'draft-10' || standard === 'draft-7') for (const n of ['ratelimit', 'ratelimit-policy']) names.add(n)
  if (standard === 'draft-6')
    for (const n of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy']) names.add(n)
  return names
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function'
}

function isLimiter(value: unknown): value is Limiter {
  if (typeof value !== 'object' || value === null) return false
  const l = value as Limiter
  return typeof l.decide === 'function' && typeof l.refund === 'function' && typeof l.on === 'function' && Array.isArray(l.policies)
}

function checkFunction(where: string, option: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') invalid(where, option, 'must be a function', value)
}

function checkStatus(where: string, option: string, value: unknown, fallback: number): number {
  return value === undefined ? fallback : checkInteger(where, option, value, 400, 599)
}

/** Keeps route templates and client keys apart: the length prefix makes the pair unambiguous. */
function scopedKey(scope: string, key: string): string {
  return `route:${scope.length}:${scope}|${key}`
}

/** Code of the warning given at the first request with neither a key nor a client address. */
export const NO_CLIENT_ADDRESS = 'RK_NO_CLIENT_ADDRESS'

/** What to do about a request with neither a key nor an address, on the Node frameworks. */
const NODE_ADDRESS_HINT =
  'the framework resolved none (a closed socket, or a trust-proxy setting that yields none): check that setting, or have the key function return a key for every request'

/**
 * Validates adapter options once and compiles the request → decision → response logic every
 * adapter shares. `where` names the factory in error messages; `adapterOptions` lists the extra
 * option names the adapter itself handles (they are ignored here); `mark` is how requests are
 * marked as decided (see {@link DecidedMark}); `headerNames: 'lower'` spells the outcome's header
 * names in lower case, for frameworks that lower-case every name they are given (Fastify).
 *
 * @example
 * const http = createHttpLimiter('rateLimit()', { policies: [tokenBucket({ limit: 100, window: '1m' })] })
 * const outcome = http.handle(info) // HttpOutcome, or a promise of one
 */
export function createHttpLimiter<Raw extends object, Info extends HttpRequestInfo<Raw> = HttpRequestInfo<Raw>>(
  where: string,
  options: HttpLimiterOptions<Raw, Info>,
  adapterOptions: readonly string[] = [],
  mark: DecidedMark = 'weakset',
  headerNames: HeaderNameCase = 'canonical',
  addressHint: string = NODE_ADDRESS_HINT,
): HttpLimiter<Raw, Info> {
  checkOptionsObject(where, options)
  for (const name of Object.keys(options)) {
    if (!Object.hasOwn(HTTP_LIMITER_OPTIONS, name) && !adapterOptions.includes(name)) {
      const known = [...Object.keys(HTTP_LIMITER_OPTIONS), ...adapterOptions].join(', ')
      throw new ConfigurationError(
        'ERR_RK_UNKNOWN_OPTION',
        where,
        name,
        `is not an option (known: ${known})`,
        (options as Record<string, unknown>)[name],
      )
    }
  }

  // The limiter: given, or built from the createLimiter options.
  let limiter: Limiter
  let ownsLimiter = false
  let policyOverride: readonly Policy[] | undefined
  if (options.limiter !== undefined) {
    if (!isLimiter(options.limiter)) invalid(where, 'limiter', 'must be a limiter made by createLimiter()', options.limiter)
    for (const name of LIMITER_OPTION_NAMES) {
      if (options[name] !== undefined) invalid(where, name, 'belongs to createLimiter() when a limiter is passed', options[name])
    }
    limiter = options.limiter
    if (options.policies !== undefined) policyOverride = checkPolicyList(where, options.policies)
  } else {
    // A plan made by providerPlan() brings default policies of its own (every request it plans carries its own list anyway).
    const planPolicies = (options.plan as { policies?: readonly Policy[] } | undefined)?.policies
    const policies = options.policies ?? (Array.isArray(planPolicies) ? planPolicies : undefined)
    if (policies === undefined)
      invalid(where, 'policies', 'is required (or pass a limiter, or a plan made by providerPlan())', options.policies)
    const limiterOptions: LimiterOptions = { policies }
    for (const name of LIMITER_OPTION_NAMES) {
      if (options[name] !== undefined) (limiterOptions as unknown as Record<string, unknown>)[name] = options[name]
    }
    try {
      limiter = createLimiter(limiterOptions)
    } catch (error) {
      // Re-throw with this factory's name: the user called rateLimit(), not createLimiter().
      throw rename(error, where, '')
    }
    ownsLimiter = true
  }

  checkFunction(where, 'key', options.key)
  checkFunction(where, 'skip', options.skip)
  checkFunction(where, 'plan', options.plan)
  checkFunction(where, 'onDecision', options.onDecision)
  const cost = options.cost
  if (cost !== undefined && typeof cost !== 'function') checkInteger(where, 'cost', cost, 0, 1_000_000_000)
  if (options.plan !== undefined) {
    for (const name of ['key', 'cost'] as const) {
      if (options[name] !== undefined) invalid(where, name, 'is decided by `plan` when a plan is given', options[name])
    }
  }
  const requestIdOption = options.requestId
  if (requestIdOption !== undefined && typeof requestIdOption !== 'function') {
    if (typeof requestIdOption !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(requestIdOption)) {
      invalid(where, 'requestId', 'must be a header name or a function', requestIdOption)
    }
  }
  const requestIdHeader = typeof requestIdOption === 'string' ? requestIdOption.toLowerCase() : undefined
  const requestIdFn = typeof requestIdOption === 'function' ? requestIdOption : undefined
  const subnet = options.ipv6Subnet === undefined ? DEFAULT_IPV6_SUBNET : checkIpv6Subnet(where, 'ipv6Subnet', options.ipv6Subnet)
  const statusCode = checkStatus(where, 'statusCode', options.statusCode, 429)
  const storeErrorStatus = checkStatus(where, 'storeErrorStatus', options.storeErrorStatus, 503)

  let renderHeaders: HeaderRenderer
  let renderBody: BodyRenderer
  try {
    if (options.headers !== undefined && options.headers !== false) checkOptionsObject(`${where} headers`, options.headers)
    const headerOptions: HeaderOptions | undefined = options.headers === false ? { legacy: false, standard: false } : options.headers
    // Without a plan, every decision is on one known policy list: what depends only on it is rendered once.
    renderHeaders = createPolicyListHeaders(
      headerOptions,
      options.plan === undefined ? (policyOverride ?? limiter.policies) : undefined,
      headerNames,
    )
    const body = options.body
    renderBody = createLimitedBody(body === undefined || typeof body === 'object' ? body : { format: body })
  } catch (error) {
    throw rename(error, where, error instanceof ConfigurationError && error.message.startsWith('rateLimitHeaders()') ? 'headers.' : 'body.')
  }
  // Stacked limiters: the names the others may send and this one doesn't, recomputed only when a
  // limiter with new names appears (never, when every limiter has the same header options).
  const ownNames = headerNamesOf(options.headers === false ? { legacy: false, standard: false } : options.headers)
  for (const name of ownNames) {
    if (!emitted.has(name)) {
      emitted.add(name)
      emittedVersion++
    }
  }
  let foreign = NO_NAMES
  let foreignVersion = -1
  const foreignNames = (): readonly string[] => {
    if (foreignVersion !== emittedVersion) {
      const names = [...emitted].filter((name) => !ownNames.has(name))
      foreign = names.length === 0 ? NO_NAMES : names
      foreignVersion = emittedVersion
    }
    return foreign
  }

  const keyFn = options.key
  const costFn = typeof cost === 'function' ? cost : undefined
  const fixedCost = typeof cost === 'number' ? cost : 1
  const skip = options.skip
  const plan = options.plan
  const onDecision = options.onDecision
  const same = sameLimitsOf(limiter, plan ?? policyOverride ?? limiter.policies)
  same.instances++
  const seen = same.seen
  const symbol = same.mark
  /** False when `raw` was already decided by these limits (another mount); else marks it. */
  const firstTime =
    mark === 'weakset'
      ? (raw: object): boolean => {
          if (seen.has(raw)) return false
          seen.add(raw)
          return true
        }
      : (raw: object): boolean => {
          if (mark === 'registrations' && same.instances === 1) return true
          const r = raw as Record<symbol, true | undefined>
          if (r[symbol] === true) return false
          r[symbol] = true
          return true
        }
  // Per-call options for the common cases, built once.
  const baseCall: ConsumeOptions | undefined =
    policyOverride === undefined && fixedCost === 1 ? undefined : { cost: fixedCost, policies: policyOverride }

  const requestIdOf = (info: Info): string | undefined => {
    const id =
      requestIdHeader !== undefined
        ? info.headers.get(requestIdHeader)
        : requestIdFn !== undefined
          ? requestIdFn(info.raw, info)
          : info.requestId
    return typeof id === 'string' ? id : undefined
  }

  const report = (decision: Decision, info: Info): void => {
    if (onDecision === undefined) return
    try {
      onDecision(decision, info)
    } catch (error) {
      process.emitWarning(`ratekeeper: the onDecision hook threw: ${String(error)}`, { code: 'RK_HOOK_THREW' })
    }
  }

  const warnedHere = new Set<string>()
  /** Reports `code` once per application object, or once per limiter without one. */
  const warnOnce = (code: string, message: string, app?: object): void => {
    let codes = warnedHere
    if (app !== undefined) {
      codes = warnedApps.get(app) ?? new Set()
      warnedApps.set(app, codes)
    }
    if (codes.has(code)) return
    codes.add(code)
    // A limiter of your own making without `warn` still gets the warning heard.
    if (typeof limiter.warn === 'function') limiter.warn({ code, message })
    else process.emitWarning(message, { code })
  }

  /**
   * The key of a request counted by its client address. A request with none is refused (the
   * adapter's error path: a 500 by default), never admitted uncounted nor put in one bucket with
   * every other such request; the first one is also reported through `warn`.
   */
  const addressKey = (ip: string | undefined): string => {
    if (typeof ip === 'string' && ip.length > 0) return ipKey(ip, subnet, warnOnce)
    warnOnce(NO_CLIENT_ADDRESS, `${where}: a request has no key and no client address, and is refused: ${addressHint}.`)
    throw new ConfigurationError(
      'ERR_RK_INVALID_ARGUMENT',
      where,
      'ip',
      `must be the client address of a request without a key, but ${addressHint}`,
      ip,
      { requestTime: true },
    )
  }

  /** Turns a decision into what the adapter does. `finish` is set in count modes. */
  const outcome = (decision: Decision, info: Info, finish: HttpOutcome['finish']): HttpOutcome => {
    report(decision, info)
    const headers = renderHeaders(decision)
    const remove = foreignNames()
    if (decision.allowed || decision.dryRun === true) {
      return finish === undefined
        ? { action: 'next', status: 0, headers, decision, remove }
        : { action: 'next', status: 0, headers, decision, remove, finish }
    }
    const body = renderBody(decision, { requestId: requestIdOf(info) })
    return {
      action: 'respond',
      status: body.status === 503 ? storeErrorStatus : statusCode,
      headers,
      body: body.body,
      contentType: body.contentType,
      decision,
      remove,
    }
  }

  const decideKey = (info: Info, key: string | undefined, call: ConsumeOptions | undefined, routeScope: string | undefined) => {
    let subject = key === undefined ? addressKey(info.ip) : key
    if (typeof subject !== 'string' || subject.length === 0) {
      // Request-time errors name the type, never the value (it may be a secret; see errors.ts).
      invalidAtRequest(where, 'key', 'must return a non-empty string, or undefined for the client IP', subject)
    }
    if (routeScope !== undefined) subject = scopedKey(routeScope, subject)
    const decision = limiter.decide(subject, call)
    if (isThenable(decision)) return decision.then((d) => outcome(d, info, undefined))
    return outcome(decision, info, undefined)
  }

  const withCost = (info: Info, key: string | undefined, routeScope: string | undefined): HttpOutcome | Promise<HttpOutcome> => {
    if (costFn === undefined) return decideKey(info, key, baseCall, routeScope)
    const c = costFn(info.raw, info)
    if (isThenable(c)) return c.then((n) => decideKey(info, key, { cost: n, policies: policyOverride }, routeScope))
    return decideKey(info, key, { cost: c, policies: policyOverride }, routeScope)
  }

  const withPlan = (info: Info, p: RequestPlan | undefined): HttpOutcome | Promise<HttpOutcome> => {
    if (p === undefined) return PASS
    if (typeof p !== 'object' || p === null) {
      invalidAtRequest(where, 'plan', 'must return a request plan or undefined', p)
    }
    const countMode = p.countMode ?? 'all'
    if (!COUNT_MODES.includes(countMode)) {
      invalidAtRequest(where, 'plan().countMode', "must be 'all', 'success' or 'failure'", countMode)
    }
    const policies = p.policies ?? policyOverride
    const call: ConsumeOptions = { cost: p.cost, policies, layers: p.layers, tag: p.tag, tier: p.tier }
    const counted = countMode === 'all' ? undefined : { key: p.key, policies, layers: p.layers, tag: p.tag, countMode }
    const decided = (d: Decision) => outcome(d, info, counted === undefined ? undefined : countingFinish(limiter, d, counted))
    const decision = limiter.decide(p.key, call)
    return isThenable(decision) ? decision.then(decided) : decided(decision)
  }

  const afterSkip = (info: Info, routeScope: string | undefined): HttpOutcome | Promise<HttpOutcome> => {
    if (plan !== undefined) {
      const p = plan(info)
      return isThenable(p) ? p.then((value) => withPlan(info, value)) : withPlan(info, p)
    }
    if (keyFn === undefined) return withCost(info, undefined, routeScope)
    const key = keyFn(info.raw, info)
    return isThenable(key) ? key.then((k) => withCost(info, k, routeScope)) : withCost(info, key, routeScope)
  }

  const handleAny = (info: Info, routeScope?: string): HttpOutcome | Promise<HttpOutcome> => {
    const raw = info.raw
    if (!firstTime(raw)) return PASS
    if (skip !== undefined) {
      const skipped = skip(raw, info)
      if (isThenable(skipped)) return skipped.then((yes) => (yes === true ? PASS : afterSkip(info, routeScope)))
      if (skipped === true) return PASS
    }
    return afterSkip(info, routeScope)
  }

  /** The default setup (client-IP keys, a fixed cost, no skip or plan), without the stages it doesn't use. */
  const handleByIp = (info: Info, routeScope?: string): HttpOutcome | Promise<HttpOutcome> => {
    if (!firstTime(info.raw)) return PASS
    const subject = addressKey(info.ip)
    const decision = limiter.decide(routeScope === undefined ? subject : scopedKey(routeScope, subject), baseCall)
    return isThenable(decision) ? decision.then((d) => outcome(d, info, undefined)) : outcome(decision, info, undefined)
  }

  return {
    limiter,
    handle: skip === undefined && plan === undefined && keyFn === undefined && costFn === undefined ? handleByIp : handleAny,
    warnOnce,
    close: async () => {
      if (ownsLimiter) await limiter.close()
    },
  }
}

type ConfigurationCode = ConstructorParameters<typeof ConfigurationError>[0]

/**
 * Re-states a ConfigurationError from a factory this one called under this factory's name (the
 * user called `rateLimit()`, not `createLimiter()`), prefixing the option path.
 */
function rename(error: unknown, where: string, prefix: string): unknown {
  if (!(error instanceof ConfigurationError)) return error
  const start = error.message.indexOf(`"${error.option}" `)
  const end = error.message.lastIndexOf(', received ')
  const expected = start >= 0 && end > start ? error.message.slice(start + error.option.length + 3, end) : 'is invalid'
  return new ConfigurationError(error.code as ConfigurationCode, where, prefix + error.option, expected, error.received)
}

/** Checks a policy list given next to a `limiter`: non-empty, policies only, distinct names. */
function checkPolicyList(where: string, list: unknown): readonly Policy[] {
  if (!Array.isArray(list) || list.length === 0) invalid(where, 'policies', 'must be a non-empty array of policies', list)
  const names = new Set<string>()
  list.forEach((p: unknown, i) => {
    const policy = p as Policy | null
    if (typeof policy !== 'object' || policy === null || typeof policy.step !== 'function' || typeof policy.name !== 'string') {
      invalid(where, `policies[${i}]`, 'must be a policy made by tokenBucket(), slidingWindow() or fixedWindow()', p)
    }
    if (names.has(policy.name)) {
      throw new ConfigurationError('ERR_RK_DUPLICATE_POLICY', where, `policies[${i}].name`, 'must be unique within a request', policy.name)
    }
    names.add(policy.name)
  })
  return list
}

/** Reads Node's `IncomingHttpHeaders` (lower-case names; arrays joined). */
export class NodeHeaderReader implements HeaderReader {
  readonly #headers: Record<string, string | string[] | undefined>
  constructor(headers: Record<string, string | string[] | undefined>) {
    this.#headers = headers
  }
  get(name: string): string | undefined {
    const value = this.#headers[name.toLowerCase()]
    return Array.isArray(value) ? value.join(', ') : value
  }
}

/** The part of Node's `ServerResponse` {@link onFinished} uses. */
export interface NodeResponseLike {
  readonly statusCode: number
  readonly writableFinished: boolean
  once(event: 'finish' | 'close', listener: () => void): unknown
}

/**
 * Calls `finish` once, when a Node response has been sent (`aborted: false`) or its connection
 * closed before that (`aborted: true`).
 */
export function onFinished(res: NodeResponseLike, finish: (result: HttpFinish) => void): void {
  let done = false
  const report = (aborted: boolean) => {
    if (done) return
    done = true
    finish({ status: res.statusCode, aborted })
  }
  res.once('finish', () => report(false))
  res.once('close', () => report(!res.writableFinished))
}

/**
 * The route scope of a registered route (computed once per route by the adapters): its methods and
 * its template, e.g. `GET /users/:id`, `GET,POST /login`, `ALL /upload`. One route is one bucket
 * whatever the method of each request. `methods` is what the route was registered for:
 * `undefined`, `ALL`, `_all` or `*` mean every method; `HEAD` goes with `GET` (frameworks answer
 * `HEAD` with the `GET` route), so a `HEAD`-only route shares its `GET` route's buckets.
 */
export function routeScope(methods: Iterable<string> | string | undefined, template: string): string {
  const list = methods === undefined ? ['ALL'] : typeof methods === 'string' ? [methods] : [...methods]
  const set = new Set<string>()
  for (const method of list) {
    const m = String(method).toUpperCase()
    if (m === 'ALL' || m === '_ALL' || m === '*') return `ALL ${template}`
    set.add(m)
  }
  if (set.has('HEAD')) {
    set.delete('HEAD')
    set.add('GET')
  }
  if (set.size === 0) return `ALL ${template}`
  return `${[...set].sort().join(',')} ${template}`
}

/** The path of a request target (`/a/b?x=1` → `/a/b`; `http://host/a?x` → `/a`), as received. */
export function pathOf(url: string): string {
  let end = url.indexOf('?')
  const hash = url.indexOf('#')
  if (hash >= 0 && (end < 0 || hash < end)) end = hash
  const target = end < 0 ? url : url.slice(0, end)
  if (target.startsWith('/') || target === '') return target || '/'
  // Absolute form (`http://host/path`): the path part.
  const scheme = target.indexOf('://')
  if (scheme < 0) return target
  const slash = target.indexOf('/', scheme + 3)
  return slash < 0 ? '/' : target.slice(slash)
}

export { isThenable }
