import { COUNT_MODES, type CountMode } from '../http/count-mode.js'
import { checkIpv6Subnet, DEFAULT_IPV6_SUBNET } from '../http/ip.js'
import { checkInteger, checkKnownOptions, checkOptionsObject, invalid } from '../limiter/errors.js'
import { type RequestClass, type RequestClassesOptions, type RequestClassifier, requestClasses } from './classes.js'
import { checkOptionalFunction, checkOptionalName, isRecord, namesOf } from './guards.js'
import { type KeyResolver, LOOKUP_FALLBACK, type RefusableResolver } from './lookup.js'
import { type CompiledTier, compileTier, type TierContext, type TierLimits } from './plan-limits.js'
import { type CompiledShedding, compileShedding, type PlanSheddingOptions } from './shedding.js'
import type { ProviderRequestInfo } from './types.js'

/** Options of {@link providerPlan}. */
export interface ProviderPlanOptions {
  /**
   * The key a request is charged to. Called as `key(raw, request)`, so the adapters' key helpers
   * (`apiKey()`, `userKey()`) fit as they are. `undefined` counts the request by client IP
   * (`ip:` + the address, IPv6 grouped by `ipv6Subnet`).
   * @default the client IP
   */
  key?: PlanKeyFunction
  /** IPv6 prefix length clients are grouped by when counted by IP (32-128). @default 56 */
  ipv6Subnet?: number
  /**
   * How requests are classed: a classifier from `requestClasses()`, or its options.
   * @default requestClasses() — read (GET, HEAD, OPTIONS), write (POST, PUT, PATCH), delete
   */
  classes?: RequestClassifier | RequestClassesOptions
  /** The limits when there are no tiers. Exactly one of `limits` and `tiers`. */
  limits?: TierLimits
  /** The limits of each tier, by tier name (the name is shown as `X-RateLimit-Tier`). */
  tiers?: Readonly<Record<string, TierLimits>>
  /**
   * The tier of a key: a tier name, or a resolver (`tierByPrefix()`, `cachedLookup()`, or a
   * function of your own). Required with `tiers`; with `limits`, an optional name to report.
   */
  tier?: string | KeyResolver
  /**
   * The team of a key (`undefined`: none), for the ceiling: a function or a `cachedLookup()`.
   * Required when a tier has a `ceiling`.
   */
  team?: KeyResolver
  /**
   * Names the ceiling's layer in decisions (`PolicyResult.layer`) and prefixes the team's key
   * (`team:acme`), so a team can never share a bucket with an API key.
   * @default 'team'
   */
  teamLayer?: string
  /**
   * Cost units per request: a whole number, or a function of the request and its class (tokens,
   * tool calls). Cost 0 only looks.
   * @default 1
   */
  cost?: number | PlanCostFunction
  /** Which responses count: one mode, or a mode per class (others: `'all'`). @default 'all' */
  countMode?: CountMode | Readonly<Record<string, CountMode>>
  /**
   * Load shedding by priority: a fleet-wide budget (`concurrency()` or a rate) and a priority per
   * request class. Every request also draws on the budget, within its priority's share, in the
   * same all-or-nothing call as its own limits; a request denied by the budget alone is answered
   * 503 with `Retry-After`. See docs/provider-features.md, "Load shedding by priority".
   */
  shedding?: PlanSheddingOptions
}

/**
 * The `key` option of {@link ProviderPlanOptions}.
 * @inline
 */
export type PlanKeyFunction = (raw: unknown, req: ProviderRequestInfo) => string | undefined | Promise<string | undefined>
/**
 * The `cost` option of {@link ProviderPlanOptions}, as a function.
 * @inline
 */
export type PlanCostFunction = (req: ProviderRequestInfo, cls: RequestClass) => number

/** A plan's options once checked and compiled: defaults applied, every tier's lists built. */
export interface PlanSettings {
  readonly key: PlanKeyFunction | undefined
  readonly ipv6Subnet: number
  readonly classes: RequestClassifier
  readonly teamLayer: string
  readonly team: KeyResolver | undefined
  /** Every tier by name, in declaration order (empty with `limits`). */
  readonly tiers: ReadonlyMap<string, CompiledTier>
  /** The tier of every key (`limits`, or `tier` naming a tier), or the resolver that picks a key's tier. */
  readonly tier: CompiledTier | KeyResolver
  /** The tiers a request can be decided in: the fixed one, or all of them. */
  readonly reachableTiers: readonly CompiledTier[]
  /** A fixed cost (`undefined`: the limiter's default, 1), or a function of the request. */
  readonly cost: number | PlanCostFunction | undefined
  /** The shedding layer of each class, when the plan sheds load. */
  readonly shedding: CompiledShedding | undefined
}

/** Where `providerPlan()`'s errors say they come from. */
export const WHERE = 'providerPlan()'
const LAYER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/
/** Tier names are sent as `X-RateLimit-Tier`: visible ASCII only. */
const TIER_NAME = /^[\x21-\x7e]{1,128}$/

function isClassifier(value: unknown): value is RequestClassifier {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RequestClassifier).classify === 'function' &&
    Array.isArray((value as RequestClassifier).classes)
  )
}

/**
 * Every option of {@link ProviderPlanOptions} and how it is checked, in the order they are
 * checked: the one list of names (the unknown-option check reads it) and the one place each
 * error message is written. Options checked against others get those as further arguments.
 */
const PLAN_OPTIONS = {
  key: (value: PlanKeyFunction | undefined) =>
    checkOptionalFunction(WHERE, 'key', 'must be a function (raw, request) => string | undefined', value),
  ipv6Subnet: (value: unknown) => (value === undefined ? DEFAULT_IPV6_SUBNET : checkIpv6Subnet(WHERE, 'ipv6Subnet', value)),
  classes: (value: unknown): RequestClassifier => {
    if (value === undefined) return requestClasses()
    return isClassifier(value) ? value : requestClasses(value as RequestClassesOptions)
  },
  teamLayer: (value: unknown): string => {
    const name = value ?? 'team'
    if (typeof name !== 'string' || !LAYER_NAME.test(name)) invalid(WHERE, 'teamLayer', 'must be 1-32 letters, digits, _ or -', value)
    return name
  },
  team: (value: KeyResolver | undefined) =>
    checkOptionalFunction(WHERE, 'team', 'must be a function (key, request) => team id | undefined', value),
  countMode: (value: unknown, classes: readonly RequestClass[]): ReadonlyMap<RequestClass, CountMode> => {
    const modes = new Map<RequestClass, CountMode>()
    if (value === undefined) return modes
    if (typeof value === 'string') {
      if (!(COUNT_MODES as readonly unknown[]).includes(value))
        invalid(WHERE, 'countMode', "must be 'all', 'success', 'failure' or an object of class → mode", value)
      for (const c of classes) modes.set(c, value as CountMode)
      return modes
    }
    if (!isRecord(value)) invalid(WHERE, 'countMode', "must be 'all', 'success', 'failure' or an object of class → mode", value)
    for (const [c, mode] of Object.entries(value)) {
      if (!classes.includes(c)) invalid(WHERE, `countMode.${c}`, `must name a request class (${classes.join(', ')})`, c)
      if (!(COUNT_MODES as readonly unknown[]).includes(mode))
        invalid(WHERE, `countMode.${c}`, "must be 'all', 'success' or 'failure'", mode)
      modes.set(c, mode as CountMode)
    }
    return modes
  },
  limits: (value: unknown, ctx: TierContext, options: ProviderPlanOptions): CompiledTier | undefined => {
    if (value === undefined) {
      if (options.tiers === undefined) invalid(WHERE, 'limits', 'or `tiers` is required (the policies to apply)', undefined)
      return undefined
    }
    if (options.tiers !== undefined) invalid(WHERE, 'limits', 'must not be given together with `tiers` (put them in a tier)', value)
    // `tier` is checked below: with `limits`, it is only a name to report.
    return compileTier(ctx, 'limits', typeof options.tier === 'string' ? options.tier : undefined, value)
  },
  tiers: (value: unknown, ctx: TierContext): ReadonlyMap<string, CompiledTier> => {
    const tiers = new Map<string, CompiledTier>()
    if (value === undefined) return tiers
    if (!isRecord(value)) invalid(WHERE, 'tiers', 'must be an object of tier name → limits', value)
    for (const [name, limits] of Object.entries(value)) {
      if (!TIER_NAME.test(name)) {
        invalid(WHERE, 'tiers', 'must use tier names of 1-128 visible ASCII characters (they are sent as X-RateLimit-Tier)', name)
      }
      tiers.set(name, compileTier(ctx, `tiers.${name}`, name, limits))
    }
    if (tiers.size === 0) invalid(WHERE, 'tiers', 'must hold at least one tier', value)
    return tiers
  },
  tier: (value: unknown, limits: CompiledTier | undefined, tiers: ReadonlyMap<string, CompiledTier>): CompiledTier | KeyResolver => {
    if (limits !== undefined) {
      checkOptionalName(WHERE, 'tier', 'must be a tier name to report when `limits` is used (resolvers need `tiers`)', value)
      return limits
    }
    if (typeof value === 'function') {
      // A cached lookup's fallback is what every request gets in an outage: a typo must show now, not then.
      const fallback = (value as Partial<RefusableResolver>)[LOOKUP_FALLBACK]
      if (fallback !== undefined && !tiers.has(fallback)) {
        invalid(WHERE, 'tier', `must be a lookup whose \`fallback\` names one of the tiers (${[...tiers.keys()].join(', ')})`, fallback)
      }
      return value as KeyResolver
    }
    if (typeof value !== 'string') {
      invalid(WHERE, 'tier', 'must be a tier name or a resolver (tierByPrefix(), cachedLookup(), or (key, request) => tier name)', value)
    }
    const named = tiers.get(value)
    if (named === undefined) invalid(WHERE, 'tier', `must name one of the tiers (${[...tiers.keys()].join(', ')})`, value)
    return named
  },
  cost: (value: unknown): number | PlanCostFunction | undefined =>
    value === undefined || typeof value === 'function'
      ? (value as PlanCostFunction | undefined)
      : checkInteger(WHERE, 'cost', value, 0, 1_000_000_000),
  shedding: (value: unknown, classes: readonly RequestClass[]) => compileShedding(WHERE, value, classes),
} satisfies { readonly [K in keyof Required<ProviderPlanOptions>]: (value: ProviderPlanOptions[K], ...context: never[]) => unknown }

const KNOWN = namesOf(PLAN_OPTIONS)

/** The team resolver is needed exactly when some tier a key can be in has a ceiling. */
function checkTeamNeeded(team: KeyResolver | undefined, reachable: readonly CompiledTier[]): void {
  const anyCeiling = reachable.some((t) => t.ceiling !== undefined)
  if (anyCeiling && team === undefined)
    invalid(WHERE, 'team', 'is required when a tier has a `ceiling` (it resolves a key to its team)', team)
  if (!anyCeiling && team !== undefined) invalid(WHERE, 'team', 'has no use: no tier has a `ceiling`', 'a function')
}

/** Checks `providerPlan()`'s options, in {@link PLAN_OPTIONS} order, and compiles every tier. */
export function parsePlanOptions(options: ProviderPlanOptions): PlanSettings {
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const key = PLAN_OPTIONS.key(options.key)
  const ipv6Subnet = PLAN_OPTIONS.ipv6Subnet(options.ipv6Subnet)
  const classes = PLAN_OPTIONS.classes(options.classes)
  const teamLayer = PLAN_OPTIONS.teamLayer(options.teamLayer)
  const team = PLAN_OPTIONS.team(options.team)
  const countModes = PLAN_OPTIONS.countMode(options.countMode, classes.classes)
  const ctx: TierContext = { where: WHERE, classes: classes.classes, countModes }
  const limits = PLAN_OPTIONS.limits(options.limits, ctx, options)
  const tiers = PLAN_OPTIONS.tiers(options.tiers, ctx)
  const tier = PLAN_OPTIONS.tier(options.tier, limits, tiers)
  const reachableTiers = typeof tier === 'function' ? [...tiers.values()] : [tier]
  checkTeamNeeded(team, reachableTiers)
  const cost = PLAN_OPTIONS.cost(options.cost)
  const shedding = PLAN_OPTIONS.shedding(options.shedding, classes.classes)
  return { key, ipv6Subnet, classes, teamLayer, team, tiers, tier, reachableTiers, cost, shedding }
}
