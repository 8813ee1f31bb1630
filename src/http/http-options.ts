// The options every adapter takes: their type, the one table of their names and validators, and
// how they become a limiter.

import { createLimiter } from '../create-limiter.js'
import type { Decision } from '../limiter/decision.js'
import { ConfigurationError, checkInteger, checkKnownOptions, checkOptionsObject, invalid } from '../limiter/errors.js'
import { LIMIT_OPTION_HINTS } from '../limiter/options.js'
import type { Policy } from '../limiter/policy.js'
import { checkPolicies } from '../limiter/policy-list.js'
import type { Store } from '../limiter/store.js'
import type { Limiter, LimiterOptions, Logger, StoreErrorMode } from '../limiter/types.js'
import type { AccessList, AccessListOptions, DeniedOptions } from './access-list.js'
import { type ActualCostSource, checkActualCost } from './actual-cost.js'
import type { BodyFormatter, BodyOptions, BodyPreset } from './bodies.js'
import type { HeaderOptions } from './headers.js'
import { checkIpv6Subnet } from './ip.js'
import type { KeyFunction, KeyWarn } from './keys.js'
import type { HttpRequestInfo, RequestFunction, RequestPlan } from './request.js'

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
   * Use `apiKey()` or `userKey()` from `ratekeeper/http`, or your own function.
   * @default the client IP
   */
  key?: KeyFunction<Raw, Info>
  /** Cost units per request: a whole number, or a function of the request. @default 1 */
  cost?: number | RequestFunction<Raw, Info, number | Promise<number>>
  /**
   * Reserve-then-settle: `cost` (or the plan's) is an estimate charged when the request arrives;
   * when the response ends, the request is settled at its actual cost — the difference refunded
   * or charged (`limiter.settle`). The actual cost is what the handler reported with the
   * adapter's `setActualCost`; without a report, this response header's value
   * (`'x-usage-tokens'`), or what this function returns (`undefined`: keep the estimate); `true`
   * reads the handler's reports only. A client that hangs up is settled at the estimate; a
   * response a count mode does not count is refunded entirely.
   * @default none (the estimate is the cost)
   */
  actualCost?: ActualCostSource<Info>
  /** Requests for which it returns `true` are not limited and get no headers (see `allowList`). */
  skip?: RequestFunction<Raw, Info, boolean | Promise<boolean>>
  /**
   * Clients let through unlimited, with no headers and nothing charged: by address or CIDR range,
   * by key, or a `match` function (see `accessList`). A bare array lists addresses and ranges.
   * @default none
   */
  allow?: AccessList | AccessListOptions | readonly string[]
  /**
   * Clients refused before any limit is asked (nothing charged): answered as `denied` says, a 403
   * problem by default. Wins over `allow`. Same forms as `allow`.
   * @default none
   */
  deny?: AccessList | AccessListOptions | readonly string[]
  /** How a deny-listed request is answered: `status` and `body`. @default 403, an RFC 9457 problem */
  denied?: DeniedOptions
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
   * team layers, count modes). `undefined` lets the request through unlimited. `warn` reports a
   * hazard met while planning (a client address that is no IP address) through the limiter, once per code.
   */
  plan?: (req: Info, warn: KeyWarn) => RequestPlan | undefined | Promise<RequestPlan | undefined>
  /** Called with every decision and its request (logging, metrics). Exceptions are reported (once per limiter, to the `logger`), not thrown. */
  onDecision?: (decision: Decision, req: Info) => void
}

/**
 * The HTTP options that are `createLimiter`'s: passed on to it when no `limiter` is given, refused
 * next to one. THE ONE LIST OF LIMITER OPTION NAMES in the HTTP layer (the limiter's own options
 * table, minus `policies` and `sleep`); a route setting any of them (or `limiter`) gets a limiter
 * of its own (see `mergeRouteOptions`).
 */
export const LIMITER_OPTION_NAMES = ['store', 'now', 'onStoreError', 'fallback', 'dryRun', 'nearLimit', 'timeoutMs', 'logger'] as const

/** An option createLimiter takes through the HTTP options. */
export type LimiterOptionName = (typeof LIMITER_OPTION_NAMES)[number]

/**
 * Validates one option's value (called only when it is not `undefined`): throws a
 * `ConfigurationError` naming `where` and the option, or returns.
 * @inline
 */
export type OptionCheck = (where: string, name: string, value: unknown) => void

/**
 * Options an adapter takes besides the HTTP options (Fastify `global`, Fetch `ip`), and their validators.
 * @inline
 */
export type AdapterOptionTable = { readonly [name: string]: OptionCheck }

/** Checked when the limiter is resolved: by {@link resolveLimiter}, or by `createLimiter` itself. */
const checkedWithLimiter: OptionCheck = () => {}
/** Checked by the header or body renderer it configures (errors renamed to the option). */
const checkedByRenderer: OptionCheck = () => {}
/** Checked when the allow / deny lists are compiled (`listStage`). */
const checkedByLists: OptionCheck = () => {}

/** An option that must be a function; `expected` says which. */
export function functionOption(expected = 'must be a function'): OptionCheck {
  return (where, name, value) => {
    if (typeof value !== 'function') invalid(where, name, expected, value)
  }
}

const isFunction = functionOption()

/** An option that must be a boolean. */
export const booleanOption: OptionCheck = (where, name, value) => {
  if (typeof value !== 'boolean') invalid(where, name, 'must be a boolean', value)
}

const isStatus: OptionCheck = (where, name, value) => {
  checkInteger(where, name, value, 400, 599)
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * Every option of {@link HttpLimiterOptions} and its validator, in the order they are listed in
 * errors. The compiler keeps it complete; the unknown-option check and every message come from it.
 */
export const HTTP_OPTIONS: { readonly [K in keyof Required<HttpLimiterOptions>]: OptionCheck } = {
  limiter: checkedWithLimiter,
  policies: checkedWithLimiter,
  ...(Object.fromEntries(LIMITER_OPTION_NAMES.map((name) => [name, checkedWithLimiter])) as Record<LimiterOptionName, OptionCheck>),
  key: isFunction,
  cost: (where, name, value) => {
    if (typeof value !== 'function') checkInteger(where, name, value, 0, 1_000_000_000)
  },
  actualCost: checkActualCost,
  skip: isFunction,
  allow: checkedByLists,
  deny: checkedByLists,
  denied: checkedByLists,
  headers: checkedByRenderer,
  body: checkedByRenderer,
  statusCode: isStatus,
  storeErrorStatus: isStatus,
  requestId: (where, name, value) => {
    if (typeof value !== 'function' && (typeof value !== 'string' || !HEADER_NAME.test(value))) {
      invalid(where, name, 'must be a header name or a function', value)
    }
  },
  ipv6Subnet: (where, name, value) => {
    checkIpv6Subnet(where, name, value)
  },
  plan: isFunction,
  onDecision: isFunction,
}

/**
 * Throws unless `options` is an object whose names are all HTTP options or `adapterOptions` (the
 * options the adapter itself handles).
 */
export function checkKnownHttpOptions(where: string, options: object, adapterOptions: AdapterOptionTable): void {
  checkOptionsObject(where, options)
  if (isRequestLike(options)) mountedUncalled(where, options)
  checkKnownOptions(where, options, HTTP_OPTIONS, { also: adapterOptions, hints: LIMIT_OPTION_HINTS })
}

/**
 * What a framework hands a middleware or hook, not options: a Node request (Express), a Koa or
 * Hono context, a Fastify request or reply. No option of ours is named `socket`, `raw`,
 * `request`, `response`, `req` or `env`.
 */
function isRequestLike(options: object): boolean {
  return (
    ('socket' in options && 'headers' in options) ||
    ('request' in options && 'response' in options) ||
    ('req' in options && 'env' in options) ||
    ('raw' in options && ('request' in options || 'headers' in options))
  )
}

/**
 * The factory mounted itself (`app.use(rateLimit)`, `preHandler: fastifyRateLimit`) is called for
 * each request with the framework's arguments as its options. Said as such, at request time: the
 * request's values are not quoted, and its internals (`_events`, `raw`) are not reported as
 * unknown option names.
 */
function mountedUncalled(where: string, received: object): never {
  const name = where.slice(0, where.search(/[ (]/))
  const mount =
    name === 'fastifyRateLimit'
      ? 'register it as a plugin, once: app.register(fastifyRateLimit, { policies: [...] }), with config: { rateLimit } for per-route limits'
      : `call it once, when the app is set up, and mount what it returns: app.use(${name}({ policies: [...] }))`
  throw new ConfigurationError(
    'ERR_RK_INVALID_ARGUMENT',
    where,
    'options',
    `must be an object of options, not what a framework hands a middleware: ${name} was mounted uncalled; ${mount}`,
    received,
    { requestTime: true },
  )
}

/**
 * Validates every option's value with its entry of {@link HTTP_OPTIONS}, then the rules between
 * options, then the adapter's own options with theirs.
 */
export function checkHttpOptionValues(where: string, options: HttpLimiterOptions<never, never>, adapterOptions: AdapterOptionTable): void {
  checkOptionValues(where, options, HTTP_OPTIONS)
  if (options.plan !== undefined) {
    for (const name of ['key', 'cost'] as const) {
      if (options[name] !== undefined) invalid(where, name, 'is decided by `plan` when a plan is given', options[name])
    }
  }
  checkOptionValues(where, options, adapterOptions)
}

/** Runs each validator of `table` on the option of its name, when given. */
function checkOptionValues(where: string, options: object, table: AdapterOptionTable): void {
  const values = options as Record<string, unknown>
  for (const name of Object.keys(table)) {
    const value = values[name]
    if (value !== undefined) table[name](where, name, value)
  }
}

/** The limiter an HTTP limiter decides on, and the policies it decides with. */
export interface ResolvedLimiter {
  readonly limiter: Limiter
  /** True when the limiter was built from the options (the HTTP limiter closes it). */
  readonly owned: boolean
  /** The policies given next to a `limiter`, replacing its own for these requests. */
  readonly policyOverride: readonly Policy[] | undefined
}

/**
 * The limiter of these options: `limiter` (then the limiter options must be left out, and
 * `policies` replaces its policies), or one built by `createLimiter` from the options (its errors
 * re-stated under `where`).
 */
export function resolveLimiter(where: string, options: HttpLimiterOptions<never, never>): ResolvedLimiter {
  if (options.limiter !== undefined) {
    if (!isLimiter(options.limiter)) invalid(where, 'limiter', 'must be a limiter made by createLimiter()', options.limiter)
    for (const name of LIMITER_OPTION_NAMES) {
      if (options[name] !== undefined) invalid(where, name, 'belongs to createLimiter() when a limiter is passed', options[name])
    }
    const policyOverride = options.policies === undefined ? undefined : checkPolicies(where, 'policies', options.policies)
    return { limiter: options.limiter, owned: false, policyOverride }
  }
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
    return { limiter: createLimiter(limiterOptions), owned: true, policyOverride: undefined }
  } catch (error) {
    // Re-throw with this factory's name: the user called rateLimit(), not createLimiter().
    throw renameError(error, where, '')
  }
}

function isLimiter(value: unknown): value is Limiter {
  if (typeof value !== 'object' || value === null) return false
  const l = value as Limiter
  return typeof l.decide === 'function' && typeof l.refund === 'function' && typeof l.on === 'function' && Array.isArray(l.policies)
}

type ConfigurationCode = ConstructorParameters<typeof ConfigurationError>[0]

/**
 * Re-states a ConfigurationError from a factory this one called under this factory's name (the
 * user called `rateLimit()`, not `createLimiter()`), prefixing the option path.
 */
export function renameError(error: unknown, where: string, prefix: string): unknown {
  if (!(error instanceof ConfigurationError)) return error
  const start = error.message.indexOf(`"${error.option}" `)
  const end = error.message.lastIndexOf(', received ')
  const expected = start >= 0 && end > start ? error.message.slice(start + error.option.length + 3, end) : 'is invalid'
  return new ConfigurationError(error.code as ConfigurationCode, where, prefix + error.option, expected, error.received)
}
