import { ipKey, type KeyWarn } from '../http/keys.js'
import { ConfigurationError, invalidAtRequest, RateKeeperError } from '../limiter/errors.js'
import type { Policy } from '../limiter/policy.js'
import { isThenable } from '../limiter/thenable.js'
import type { Layer } from '../limiter/types.js'
import type { RequestClass, RequestClassifier } from './classes.js'
import { REFUSE_ANSWER, type RefusableResolver } from './lookup.js'
import type { CompiledTier } from './plan-limits.js'
import { type ProviderPlanOptions, parsePlanOptions, WHERE } from './plan-options.js'
import type { ProviderRequestInfo, ProviderRequestPlan } from './types.js'

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
  /**
   * The placement tag the plan's requests carry: the shedding budget's key when the plan sheds
   * load, else the team's key (`undefined`: the key's own).
   */
  readonly tag?: string | undefined
}

/**
 * A plan function for the adapters' `plan` option: request → what to decide. It answers
 * synchronously when the key, tier and team resolvers do (a cached lookup does on a hit).
 */
export interface ProviderPlan {
  /**
   * What to decide for one request. `warn` hears of a client address that is no IP address (the
   * adapters pass the limiter's); without it, a process warning is emitted once.
   */
  (req: ProviderRequestInfo, warn?: KeyWarn): ProviderRequestPlan | Promise<ProviderRequestPlan>
  /** The caller's key, tier, buckets and team without classing a request (for introspection). */
  subject(req: ProviderRequestInfo, warn?: KeyWarn): PlanSubject | Promise<PlanSubject>
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
  const settings = parsePlanOptions(options)
  const { key: keyFn, classes: classifier, tier: tierSource, team: teamOf, teamLayer: layerName, cost, ipv6Subnet, shedding } = settings
  const tierNames = [...settings.tiers.keys()]

  const keyOf = (req: ProviderRequestInfo, key: string | undefined, warn: KeyWarn | undefined): string => {
    if (key === undefined) return ipKey(req.ip, ipv6Subnet, warn)
    if (typeof key !== 'string' || key.length === 0) {
      // Request-time errors name the type, never the value (it may be a secret; see errors.ts).
      invalidAtRequest(WHERE, 'key', 'must return a non-empty string or undefined', key)
    }
    return key
  }

  /**
   * The tier a resolver named for `key`. An answer that names no tier is a failed lookup: a cached
   * lookup forgets it and answers its `fallback` (telling `onError`), as it does for any failure.
   */
  const tierNamed = (key: string, name: string | undefined): CompiledTier => {
    const tier = name === undefined ? undefined : settings.tiers.get(name)
    if (tier !== undefined) return tier
    const error = new RateKeeperError(
      'ERR_RK_LOOKUP',
      `${WHERE}: the tier resolver answered ${name === undefined ? 'no tier' : 'a name that is not one of the tiers'} (the tiers: ${tierNames.join(', ')})`,
    )
    const refuse = typeof tierSource === 'function' ? (tierSource as Partial<RefusableResolver>)[REFUSE_ANSWER] : undefined
    if (refuse === undefined) throw error
    const fallback = settings.tiers.get(refuse(key, name, error))
    if (fallback === undefined) throw error
    return fallback
  }

  const teamLayer = (tier: CompiledTier, team: string | undefined): Layer | undefined => {
    if (team === undefined || tier.ceiling === undefined) return undefined
    if (typeof team !== 'string' || team.length === 0) {
      throw new RateKeeperError('ERR_RK_LOOKUP', `${WHERE}: the team resolver must answer a non-empty string or undefined`)
    }
    return { name: layerName, key: `${layerName}:${team}`, policies: tier.ceiling }
  }

  type Finish<T> = (req: ProviderRequestInfo, key: string, tier: CompiledTier, team: Layer | undefined) => T

  const toSubject: Finish<PlanSubject> = (_req, key, tier, team) => ({
    key,
    tier: tier.name,
    buckets: tier.buckets,
    team,
    tag: shedding?.key ?? team?.key,
  })
  // With shedding, each class's layers without a team are built once; a team's are per request.
  const shedOnly = new Map<string, readonly Layer[]>()
  if (shedding !== undefined) for (const [cls, layer] of shedding.byClass) shedOnly.set(cls, [layer])
  const layersOf = (cls: string, team: Layer | undefined): readonly Layer[] | undefined => {
    const shed = shedding?.byClass.get(cls)
    // The shedding layer goes last: the outermost layer, whose key places the request (one slot).
    if (shed === undefined) return team === undefined ? undefined : [team]
    return team === undefined ? shedOnly.get(cls) : [team, shed]
  }

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
      cost: typeof cost === 'function' ? cost(req, cls) : cost,
      policies: entry.policies,
      layers: layersOf(cls, team),
      // A fleet budget is one state: every request of the plan is placed by its key (Redis Cluster).
      tag: shedding?.key ?? team?.key,
      tier: tier.name,
      countMode: entry.countMode,
      class: cls,
    }
  }

  // Key → tier → team → finish: synchronous when every resolver answers synchronously; the
  // closures below are only made on the asynchronous path.
  const afterTier = <T>(req: ProviderRequestInfo, key: string, tier: CompiledTier, finish: Finish<T>): T | Promise<T> => {
    if (teamOf === undefined || tier.ceiling === undefined) return finish(req, key, tier, undefined)
    const team = teamOf(key, req)
    if (isThenable(team)) return team.then((t) => finish(req, key, tier, teamLayer(tier, t)))
    return finish(req, key, tier, teamLayer(tier, team))
  }
  const afterKey = <T>(req: ProviderRequestInfo, raw: string | undefined, finish: Finish<T>, warn: KeyWarn | undefined): T | Promise<T> => {
    const key = keyOf(req, raw, warn)
    if (typeof tierSource !== 'function') return afterTier(req, key, tierSource, finish)
    const name = tierSource(key, req)
    if (isThenable(name)) return name.then((n) => afterTier(req, key, tierNamed(key, n), finish))
    return afterTier(req, key, tierNamed(key, name), finish)
  }
  const resolve = <T>(req: ProviderRequestInfo, finish: Finish<T>, warn: KeyWarn | undefined): T | Promise<T> => {
    if (keyFn === undefined) return afterKey(req, undefined, finish, warn)
    const raw = keyFn(req.raw, req)
    return isThenable(raw) ? raw.then((k) => afterKey(req, k, finish, warn)) : afterKey(req, raw, finish, warn)
  }

  const plan = function providerRequestPlan(req: ProviderRequestInfo, warn?: KeyWarn): ProviderRequestPlan | Promise<ProviderRequestPlan> {
    return resolve(req, toPlan, warn)
  } as ProviderPlan
  return Object.defineProperties(plan, {
    subject: { value: (req: ProviderRequestInfo, warn?: KeyWarn) => resolve(req, toSubject, warn) },
    classes: { value: classifier },
    tiers: { value: Object.freeze(tierNames) },
    policies: { value: settings.reachableTiers[0].buckets[0].policies },
  })
}
