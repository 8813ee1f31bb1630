import { checkIpv6Subnet, DEFAULT_IPV6_SUBNET, ipKey } from '../http/keys.js'
import {
  ConfigurationError,
  checkInteger,
  checkKnownOptions,
  checkOptionsObject,
  invalid,
  invalidAtRequest,
  RateKeeperError,
} from '../limiter/errors.js'
import type { Policy } from '../limiter/policy.js'
import type { Layer } from '../limiter/types.js'
import { type RequestClass, type RequestClassesOptions, type RequestClassifier, requestClasses } from './classes.js'
import type { KeyResolver } from './lookup.js'
import type { CountMode, PlanRequest, ProviderRequestPlan } from './types.js'

/**
 * The limits of one tier (or of everyone, when there are no tiers): the key's policies per
 * request class, and the team ceiling.
 */
export interface TierLimits {
  /** The key's policies for every request class that has no entry in `classes`. */
  policies?: readonly Policy[]
  /**
   * The key's policies per request class, replacing `policies` for that class: a budget of its
   * own (tool calls against a monthly quota). To hold a class to `policies` and to stricter limits
   * of its own, use `also`.
   */
  classes?: Readonly<Record<string, readonly Policy[]>>
  /**
   * Per request class, policies added to the class's own list (its `classes` entry, else
   * `policies`) and decided all-or-nothing with it: a request of the class must satisfy both.
   * This is how a class gets limits stricter than the tier's without escaping the tier's: skakio's
   * auth endpoints (10 req/s, burst 20) on top of the key's per-minute and per-day budget.
   * @example { policies: [perMinute, perDay], also: { auth: [tokenBucket({ name: 'auth', limit: 10, window: '1s', burst: 20 })] } }
   */
  also?: Readonly<Record<string, readonly Policy[]>>
  /**
   * The team (or environment) ceiling: policies on the team's key, decided all-or-nothing with
   * the key's own. Needs the plan's `team` resolver; a key without a team has no ceiling.
   */
  ceiling?: readonly Policy[]
}

/** Options of {@link providerPlan}. */
export interface ProviderPlanOptions {
  /**
   * The key a request is charged to. Called as `key(raw, request)`, so the adapters' key helpers
   * (`apiKey()`, `userKey()`) fit as they are. `undefined` counts the request by client IP
   * (`ip:` + the address, IPv6 grouped by `ipv6Subnet`).
   * @default the client IP
   */
  key?: (raw: unknown, req: PlanRequest) => string | undefined | Promise<string | undefined>
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
  cost?: number | ((req: PlanRequest, cls: RequestClass) => number)
  /** Which responses count: one mode, or a mode per class (others: `'all'`). @default 'all' */
  countMode?: CountMode | Readonly<Record<string, CountMode>>
}

/** Everything known about the caller before its request is classed: what introspection reports. */
export interface PlanSubject {
  /** The key charged. */
  readonly key: string
  /** The tier name, when there are tiers (or `limits` with a `tier` name). */
  readonly tier: string | undefined
  /** The key's buckets in its tier: each request class and its policies, in classifier order. */
  readonly buckets: readonly { readonly class: RequestClass; readonly policies: readonly Policy[] }[]
  /** The team layer (the ceiling), when the key has a team and its tier a ceiling. */
  readonly team: Layer | undefined
}

/**
 * A plan function for the adapters' `plan` option: request → what to decide. It answers
 * synchronously when the key, tier and team resolvers do (a cached lookup does on a hit).
 */
export interface ProviderPlan {
  (req: PlanRequest): ProviderRequestPlan | Promise<ProviderRequestPlan>
  /** The caller's key, tier, buckets and team without classing a request (for introspection). */
  subject(req: PlanRequest): PlanSubject | Promise<PlanSubject>
  /** The request classifier in use. */
  readonly classes: RequestClassifier
  /** Tier names, in declaration order (empty without tiers). */
  readonly tiers: readonly string[]
  /**
   * Default policies for a limiter made for this plan (`rateLimit({ plan })` needs no `policies`):
   * the first tier's first bucket. Every request the plan decides carries its own list.
   */
  readonly policies: readonly Policy[]
}

const WHERE = 'providerPlan()'
const KNOWN: { readonly [K in keyof Required<ProviderPlanOptions>]: true } = {
  key: true,
  ipv6Subnet: true,
  classes: true,
  limits: true,
  tiers: true,
  tier: true,
  team: true,
  teamLayer: true,
  cost: true,
  countMode: true,
}
const LIMITS_KNOWN: { readonly [K in keyof Required<TierLimits>]: true } = { policies: true, classes: true, also: true, ceiling: true }
const COUNT_MODES: readonly unknown[] = ['all', 'success', 'failure']
const LAYER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/

interface ClassEntry {
  readonly policies: readonly Policy[]
  readonly countMode: CountMode | undefined
}

interface CompiledTier {
  readonly name: string | undefined
  readonly byClass: ReadonlyMap<RequestClass, ClassEntry>
  readonly buckets: PlanSubject['buckets']
  readonly ceiling: readonly Policy[] | undefined
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

function isPolicy(value: unknown): value is Policy {
  return (
    typeof value === 'object' && value !== null && typeof (value as Policy).step === 'function' && typeof (value as Policy).id === 'string'
  )
}

function checkPolicyList(option: string, list: unknown): readonly Policy[] {
  if (!Array.isArray(list) || list.length === 0) {
    invalid(WHERE, option, 'must be a non-empty array of policies (tokenBucket(), slidingWindow(), fixedWindow())', list)
  }
  const names = new Set<string>()
  for (let i = 0; i < list.length; i++) {
    const p: unknown = list[i]
    if (!isPolicy(p)) invalid(WHERE, `${option}[${i}]`, 'must be a policy made by tokenBucket(), slidingWindow() or fixedWindow()', p)
    if (names.has(p.name)) {
      throw new ConfigurationError(
        'ERR_RK_DUPLICATE_POLICY',
        WHERE,
        `${option}[${i}].name`,
        'must be unique within the list; name the policies',
        p.name,
      )
    }
    names.add(p.name)
  }
  return list
}

function isClassifier(value: unknown): value is RequestClassifier {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RequestClassifier).classify === 'function' &&
    Array.isArray((value as RequestClassifier).classes)
  )
}

/**
 * Builds the `plan` function an API provider hands to any adapter: the request's key, its tier
 * (by key prefix or an async lookup), its request class, the class's bucket in that tier, the
 * team ceiling as an all-or-nothing layer, the cost, and the count mode. Everything is validated
 * and every policy list compiled here, once.
 *
 * @example
 * // managed.dev: per-key read/write/create buckets + a 5,000/min team ceiling
 * const plan = providerPlan({
 *   key: apiKey({ bearer: true }),
 *   classes: { methods: { DELETE: 'write' }, routes: { 'POST /v1/jobs': 'create' } },
 *   limits: {
 *     classes: {
 *       read: [tokenBucket({ name: 'read', limit: 1000, window: '1m' })],
 *       write: [tokenBucket({ name: 'write', limit: 100, window: '1m' })],
 *       create: [tokenBucket({ name: 'create', limit: 5, window: '1m' })],
 *     },
 *     ceiling: [tokenBucket({ name: 'team', limit: 5000, window: '1m' })],
 *   },
 *   team: cachedLookup(async (key) => db.teamOfKey(key)),
 * })
 * app.use(rateLimit({ plan }))
 */
export function providerPlan(options: ProviderPlanOptions): ProviderPlan {
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const keyFn = options.key
  if (keyFn !== undefined && typeof keyFn !== 'function')
    invalid(WHERE, 'key', 'must be a function (raw, request) => string | undefined', keyFn)
  const subnet = options.ipv6Subnet === undefined ? DEFAULT_IPV6_SUBNET : checkIpv6Subnet(WHERE, 'ipv6Subnet', options.ipv6Subnet)

  let classifier: RequestClassifier
  if (options.classes === undefined) classifier = requestClasses()
  else if (isClassifier(options.classes)) classifier = options.classes
  else classifier = requestClasses(options.classes as RequestClassesOptions)
  const reachable = classifier.classes

  const layerName = options.teamLayer ?? 'team'
  if (typeof layerName !== 'string' || !LAYER_NAME.test(layerName)) {
    invalid(WHERE, 'teamLayer', 'must be 1-32 letters, digits, _ or -', options.teamLayer)
  }
  const teamFn = options.team
  if (teamFn !== undefined && typeof teamFn !== 'function')
    invalid(WHERE, 'team', 'must be a function (key, request) => team id | undefined', teamFn)

  // Count modes per class.
  const countModeOf = new Map<RequestClass, CountMode>()
  const cm = options.countMode
  if (cm !== undefined) {
    if (typeof cm === 'string') {
      if (!COUNT_MODES.includes(cm)) invalid(WHERE, 'countMode', "must be 'all', 'success', 'failure' or an object of class → mode", cm)
      for (const c of reachable) countModeOf.set(c, cm)
    } else if (typeof cm === 'object' && cm !== null && !Array.isArray(cm)) {
      for (const [c, mode] of Object.entries(cm)) {
        if (!reachable.includes(c)) invalid(WHERE, `countMode.${c}`, `must name a request class (${reachable.join(', ')})`, c)
        if (!COUNT_MODES.includes(mode)) invalid(WHERE, `countMode.${c}`, "must be 'all', 'success' or 'failure'", mode)
        countModeOf.set(c, mode)
      }
    } else {
      invalid(WHERE, 'countMode', "must be 'all', 'success', 'failure' or an object of class → mode", cm)
    }
  }

  const compileTier = (option: string, name: string | undefined, limits: unknown): CompiledTier => {
    const l = limits as TierLimits
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits))
      invalid(WHERE, option, 'must be { policies?, classes?, also?, ceiling? }', limits)
    for (const k of Object.keys(l)) {
      if (!Object.hasOwn(LIMITS_KNOWN, k))
        invalid(
          WHERE,
          `${option}.${k}`,
          `is not an option (known: ${Object.keys(LIMITS_KNOWN).join(', ')})`,
          (l as Record<string, unknown>)[k],
        )
    }
    const base = l.policies === undefined ? undefined : checkPolicyList(`${option}.policies`, l.policies)
    const perClass = new Map<string, readonly Policy[]>()
    if (l.classes !== undefined) {
      if (typeof l.classes !== 'object' || l.classes === null || Array.isArray(l.classes)) {
        invalid(WHERE, `${option}.classes`, 'must be an object of class → policies', l.classes)
      }
      for (const [c, list] of Object.entries(l.classes)) {
        if (!reachable.includes(c)) {
          invalid(WHERE, `${option}.classes.${c}`, `names a class no request is given (the classifier gives: ${reachable.join(', ')})`, c)
        }
        perClass.set(c, checkPolicyList(`${option}.classes.${c}`, list))
      }
    }
    const extra = new Map<string, readonly Policy[]>()
    if (l.also !== undefined) {
      if (typeof l.also !== 'object' || l.also === null || Array.isArray(l.also)) {
        invalid(WHERE, `${option}.also`, 'must be an object of class → policies added to the class', l.also)
      }
      for (const [c, list] of Object.entries(l.also)) {
        if (!reachable.includes(c)) {
          invalid(WHERE, `${option}.also.${c}`, `names a class no request is given (the classifier gives: ${reachable.join(', ')})`, c)
        }
        extra.set(c, checkPolicyList(`${option}.also.${c}`, list))
      }
    }
    const ceiling = l.ceiling === undefined ? undefined : checkPolicyList(`${option}.ceiling`, l.ceiling)
    const byClass = new Map<RequestClass, ClassEntry>()
    const buckets: { class: RequestClass; policies: readonly Policy[] }[] = []
    for (const c of reachable) {
      const own = perClass.get(c) ?? base
      const added = extra.get(c)
      let policies = own
      if (added !== undefined) {
        for (const p of added) {
          if (own?.some((q) => q === p || q.name === p.name)) {
            throw new ConfigurationError(
              'ERR_RK_DUPLICATE_POLICY',
              WHERE,
              `${option}.also.${c}`,
              'must not repeat a policy (or a policy name) the class already has',
              p.name,
            )
          }
        }
        // Built once here: a request only picks the list.
        policies = Object.freeze([...(own ?? []), ...added])
      }
      if (policies === undefined) {
        invalid(
          WHERE,
          `${option}.classes.${c}`,
          `is missing: requests of class '${c}' would have no policies (add it, or a default \`policies\`)`,
          undefined,
        )
      }
      if (ceiling !== undefined) {
        for (const p of ceiling) {
          if (policies.some((q) => q.name === p.name)) {
            throw new ConfigurationError(
              'ERR_RK_DUPLICATE_POLICY',
              WHERE,
              `${option}.ceiling`,
              `must not reuse a policy name of class '${c}'`,
              p.name,
            )
          }
        }
      }
      byClass.set(c, { policies, countMode: countModeOf.get(c) })
      buckets.push(Object.freeze({ class: c, policies }))
    }
    return { name, byClass, buckets: Object.freeze(buckets), ceiling }
  }

  // Tiers.
  const tierNames: string[] = []
  const tierByName = new Map<string, CompiledTier>()
  let fixedTier: CompiledTier | undefined
  let tierFn: KeyResolver | undefined
  if (options.limits === undefined && options.tiers === undefined) {
    invalid(WHERE, 'limits', 'or `tiers` is required (the policies to apply)', undefined)
  }
  if (options.limits !== undefined && options.tiers !== undefined) {
    invalid(WHERE, 'limits', 'must not be given together with `tiers` (put them in a tier)', options.limits)
  }
  if (options.limits !== undefined) {
    const t = options.tier
    if (t !== undefined && (typeof t !== 'string' || t.length === 0)) {
      invalid(WHERE, 'tier', 'must be a tier name to report when `limits` is used (resolvers need `tiers`)', t)
    }
    fixedTier = compileTier('limits', t, options.limits)
  } else {
    const tiers = options.tiers
    if (typeof tiers !== 'object' || tiers === null || Array.isArray(tiers))
      invalid(WHERE, 'tiers', 'must be an object of tier name → limits', tiers)
    for (const [name, limits] of Object.entries(tiers)) {
      if (name.length === 0 || name.length > 128 || !/^[\x21-\x7e]+$/.test(name)) {
        invalid(WHERE, 'tiers', 'must use tier names of 1-128 visible ASCII characters (they are sent as X-RateLimit-Tier)', name)
      }
      tierNames.push(name)
      tierByName.set(name, compileTier(`tiers.${name}`, name, limits))
    }
    if (tierNames.length === 0) invalid(WHERE, 'tiers', 'must hold at least one tier', tiers)
    const t = options.tier
    if (typeof t === 'string') {
      fixedTier = tierByName.get(t)
      if (fixedTier === undefined) invalid(WHERE, 'tier', `must name one of the tiers (${tierNames.join(', ')})`, t)
    } else if (typeof t === 'function') {
      tierFn = t
    } else {
      invalid(WHERE, 'tier', 'must be a tier name or a resolver (tierByPrefix(), cachedLookup(), or (key, request) => tier name)', t)
    }
  }
  const all = fixedTier !== undefined && tierFn === undefined ? [fixedTier] : [...tierByName.values()]
  const anyCeiling = all.some((t) => t.ceiling !== undefined)
  if (anyCeiling && teamFn === undefined)
    invalid(WHERE, 'team', 'is required when a tier has a `ceiling` (it resolves a key to its team)', teamFn)
  if (!anyCeiling && teamFn !== undefined) invalid(WHERE, 'team', 'has no use: no tier has a `ceiling`', 'a function')

  // Cost.
  const costOpt = options.cost
  let fixedCost: number | undefined
  let costFn: ((req: PlanRequest, cls: RequestClass) => number) | undefined
  if (typeof costOpt === 'function') costFn = costOpt
  else if (costOpt !== undefined) fixedCost = checkInteger(WHERE, 'cost', costOpt, 0, 1_000_000_000)

  // --- per request ---

  const keyOf = (req: PlanRequest, key: string | undefined): string => {
    if (key === undefined) return ipKey(req.ip, subnet)
    if (typeof key !== 'string' || key.length === 0) {
      // Request-time errors name the type, never the value (it may be a secret; see errors.ts).
      invalidAtRequest(WHERE, 'key', 'must return a non-empty string or undefined', key)
    }
    return key
  }

  const tierNamed = (name: string | undefined): CompiledTier => {
    const tier = name === undefined ? undefined : tierByName.get(name)
    if (tier === undefined) {
      throw new RateKeeperError(
        'ERR_RK_LOOKUP',
        `${WHERE}: the tier resolver answered ${name === undefined ? 'no tier' : 'a name that is not one of the tiers'} (the tiers: ${tierNames.join(', ')})`,
      )
    }
    return tier
  }

  const teamLayer = (tier: CompiledTier, team: string | undefined): Layer | undefined => {
    if (team === undefined || tier.ceiling === undefined) return undefined
    if (typeof team !== 'string' || team.length === 0) {
      throw new RateKeeperError('ERR_RK_LOOKUP', `${WHERE}: the team resolver must answer a non-empty string or undefined`)
    }
    return { name: layerName, key: `${layerName}:${team}`, policies: tier.ceiling }
  }

  type Finish<T> = (req: PlanRequest, key: string, tier: CompiledTier, team: Layer | undefined) => T

  const toSubject: Finish<PlanSubject> = (_req, key, tier, team) => ({ key, tier: tier.name, buckets: tier.buckets, team })

  const toPlan: Finish<ProviderRequestPlan> = (req, key, tier, team) => {
    const cls = classifier.classify(req)
    const entry = tier.byClass.get(cls)
    if (entry === undefined) {
      throw new ConfigurationError(
        'ERR_RK_INVALID_ARGUMENT',
        WHERE,
        'classes',
        `classified a request as '${cls}', a class with no policies`,
        cls,
        { requestTime: true },
      )
    }
    return {
      key,
      cost: costFn === undefined ? fixedCost : costFn(req, cls),
      policies: entry.policies,
      layers: team === undefined ? undefined : [team],
      tag: team?.key,
      tier: tier.name,
      countMode: entry.countMode,
      class: cls,
    }
  }

  // Key → tier → team → finish: synchronous when every resolver answers synchronously; the
  // closures below are only made on the asynchronous path.
  const afterTier = <T>(req: PlanRequest, key: string, tier: CompiledTier, finish: Finish<T>): T | Promise<T> => {
    if (teamFn === undefined || tier.ceiling === undefined) return finish(req, key, tier, undefined)
    const team = teamFn(key, req)
    if (isThenable(team)) return team.then((t) => finish(req, key, tier, teamLayer(tier, t)))
    return finish(req, key, tier, teamLayer(tier, team))
  }
  const afterKey = <T>(req: PlanRequest, raw: string | undefined, finish: Finish<T>): T | Promise<T> => {
    const key = keyOf(req, raw)
    if (tierFn === undefined) return afterTier(req, key, fixedTier as CompiledTier, finish)
    const name = tierFn(key, req)
    if (isThenable(name)) return name.then((n) => afterTier(req, key, tierNamed(n), finish))
    return afterTier(req, key, tierNamed(name), finish)
  }
  const resolve = <T>(req: PlanRequest, finish: Finish<T>): T | Promise<T> => {
    if (keyFn === undefined) return afterKey(req, undefined, finish)
    const raw = keyFn(req.raw, req)
    return isThenable(raw) ? raw.then((k) => afterKey(req, k, finish)) : afterKey(req, raw, finish)
  }

  const plan = function providerRequestPlan(req: PlanRequest): ProviderRequestPlan | Promise<ProviderRequestPlan> {
    return resolve(req, toPlan)
  } as ProviderPlan
  return Object.defineProperties(plan, {
    subject: { value: (req: PlanRequest) => resolve(req, toSubject) },
    classes: { value: classifier },
    tiers: { value: Object.freeze(tierNames) },
    policies: { value: all[0].buckets[0].policies },
  })
}
