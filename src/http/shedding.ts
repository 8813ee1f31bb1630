import { shareOf } from '../limiter/algorithms/shed-view.js'
import type { Decision } from '../limiter/decision.js'
import { checkKnownOptions, checkOptionsObject, invalid, invalidAtRequest } from '../limiter/errors.js'
import type { Policy } from '../limiter/policy.js'
import { isPolicy } from '../limiter/policy-list.js'
import { encodeSubject } from '../limiter/subject.js'
import type { Layer } from '../limiter/types.js'
import { PROBLEM_JSON, safe } from './bodies.js'
import { retryAfterSeconds } from './headers.js'
import type { HttpOutcome } from './request.js'

/** Options of {@link loadShedding}. */
export interface LoadSheddingOptions<P extends string = string> {
  /**
   * The fleet-wide budget every priority draws on: a `concurrency()` limit (requests in flight
   * across the fleet) or a rate (`tokenBucket()`, `slidingWindow()`, `fixedWindow()`).
   */
  budget: Policy
  /**
   * The subject the budget is kept under: one for the whole fleet. On a Redis Cluster it is the
   * hash tag of every request that carries the layer, so the budget (and those requests' own
   * buckets) live on one shard.
   * @default 'fleet'
   */
  key?: string
  /**
   * Priority → the share of the budget its requests may use, above 0 and at most 1: a request is
   * admitted only while the budget's usage after it stays within its share. Lower priorities are
   * shed first as usage climbs; a priority with share 1 is shed only when the budget is spent.
   * @default { critical: 1, normal: 0.8, background: 0.5 }
   */
  priorities?: Readonly<Record<P, number>>
}

/** The shedding layers of one fleet budget, one per priority. Made once by {@link loadShedding}. */
export interface LoadShedding<P extends string = string> {
  /** The layer a request of `priority` is decided with (`ConsumeOptions.layers`), all-or-nothing with its own limits. */
  layer(priority: P): Layer
  /** The priorities, highest share first. */
  readonly priorities: readonly P[]
  /** The budget's subject. */
  readonly key: string
  /** The budget as given (its full capacity: the view of a priority with share 1). */
  readonly budget: Policy
}

const WHERE = 'loadShedding()'
const KNOWN: { readonly [K in keyof Required<LoadSheddingOptions>]: true } = { budget: true, key: true, priorities: true }
const PRIORITY_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
const DEFAULT_PRIORITIES: Readonly<Record<string, number>> = { critical: 1, normal: 0.8, background: 0.5 }
/** Layer names start with this: `shed:background`. */
const LAYER_PREFIX = 'shed:'
/** Names of the layers {@link loadShedding} made: a denial by these alone is load shedding. */
const sheddingLayers = new Set<string>()

/**
 * Load shedding by priority: a fleet-wide budget that reserves a share for higher priorities.
 * Each priority gets a layer holding a view of the budget — the same state (same store key), a
 * smaller capacity — so as the fleet's usage passes a priority's share, its requests are denied
 * while higher priorities are still admitted, up to the whole budget. Add the layer of the
 * request's priority to its `layers`: it is decided in the same call as the request's own
 * limits, all-or-nothing. The HTTP adapters answer a denial by shedding layers alone with 503
 * and `Retry-After` (see {@link isShedding}); a denial by the client's own limits stays a 429.
 *
 * @example
 * const shed = loadShedding({ budget: concurrency({ name: 'fleet', limit: 500 }) })
 * const d = await limiter.consume(apiKey, { layers: [shed.layer('background')] })
 */
export function loadShedding<P extends string = 'critical' | 'normal' | 'background'>(options: LoadSheddingOptions<P>): LoadShedding<P> {
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const budget = options.budget
  if (!isPolicy(budget)) invalid(WHERE, 'budget', 'must be a policy (concurrency(), tokenBucket(), slidingWindow(), fixedWindow())', budget)
  const key = options.key ?? 'fleet'
  if (typeof key !== 'string' || key.length === 0) invalid(WHERE, 'key', 'must be a non-empty string', key)
  encodeSubject(WHERE, key)
  const shares = (options.priorities ?? DEFAULT_PRIORITIES) as Readonly<Record<string, number>>
  if (typeof shares !== 'object' || shares === null || Array.isArray(shares))
    invalid(WHERE, 'priorities', 'must be an object of priority → share of the budget', shares)
  const names = Object.keys(shares)
  if (names.length === 0) invalid(WHERE, 'priorities', 'must name at least one priority', shares)
  const layers = new Map<string, Layer>()
  for (const name of names) {
    if (!PRIORITY_NAME.test(name)) invalid(WHERE, 'priorities', 'must use names of letters, digits, _ and - (at most 64)', name)
    const view = shareOf(budget, shares[name], WHERE, `priorities.${name}`)
    const layerName = LAYER_PREFIX + name
    sheddingLayers.add(layerName)
    layers.set(name, Object.freeze({ name: layerName, key, policies: Object.freeze([view]) }))
  }
  const priorities = Object.freeze([...names].sort((a, b) => shares[b] - shares[a])) as readonly P[]
  return Object.freeze({
    layer(priority: P): Layer {
      const layer = layers.get(priority)
      if (layer === undefined) invalidAtRequest(WHERE, 'priority', `must be one of the priorities (${names.join(', ')})`, priority)
      return layer
    },
    priorities,
    key,
    budget,
  })
}

/**
 * Whether a decision was denied by load shedding alone: every policy it violated belongs to a
 * layer made by {@link loadShedding}. The client is within its own limits; the service is
 * protecting itself, so the answer is a 503 (with `Retry-After`), not a 429.
 */
export function isShedding(decision: Decision): boolean {
  // Without shedding layers in the process, a denial's per-policy results are never built here.
  if (sheddingLayers.size === 0 || decision.allowed || decision.reason !== 'limited') return false
  let any = false
  for (const p of decision.policies) {
    if (!p.violated) continue
    if (p.layer === undefined || !sheddingLayers.has(p.layer)) return false
    any = true
  }
  return any
}

/** The priority a shedding denial was decided at (from its violated layer). */
function shedPriority(decision: Decision): string | undefined {
  for (const p of decision.policies) if (p.violated && p.layer !== undefined) return p.layer.slice(LAYER_PREFIX.length)
  return undefined
}

/**
 * The 503 body of a shedding denial: RFC 9457 `application/problem+json` whatever the body format
 * (like a store failure, it is the service's state, not the client's allowance), with the
 * priority shed and the wait.
 */
export function sheddingBody(decision: Decision, requestId?: string): string {
  const retry = retryAfterSeconds(decision)
  const priority = shedPriority(decision)
  const wait = retry === undefined ? '' : `; retry after ${retry === 1 ? '1 second' : `${retry} seconds`}`
  const body: Record<string, unknown> = {
    type: 'about:blank',
    title: 'Service Unavailable',
    status: 503,
    detail: `The service is shedding load: requests of priority "${priority}" are refused while it is busy${wait}.`,
    'load-shedding': true,
    priority,
  }
  if (retry !== undefined) body['retry-after'] = retry
  const id = safe(WHERE, 'requestId', requestId, 200)
  if (id !== undefined) body['request-id'] = id
  return JSON.stringify(body)
}

/** The HTTP answer to a shedding denial: 503, the decision's headers (`Retry-After` among them) and {@link sheddingBody}. */
export function sheddingOutcome(
  decision: Decision,
  headers: Readonly<Record<string, string>>,
  remove: readonly string[],
  requestId: string | undefined,
): HttpOutcome {
  return { action: 'respond', status: 503, headers, body: sheddingBody(decision, requestId), contentType: PROBLEM_JSON, decision, remove }
}
