import { ConfigurationError } from './errors.js'
import { checkCallOptions } from './options.js'
import type { Policy } from './policy.js'
import { checkPolicies, invalidInCall } from './policy-list.js'
import type { Store, StoreEvents, StoreRefundRequest, StoreRequest } from './store.js'
import { encodeSubject } from './subject.js'
import type { ConsumeOptions, Layer } from './types.js'

/** A store request and, when it has layers, the layer of each of its checks (`undefined`: the key's own). */
export interface BuiltRequest {
  readonly request: StoreRequest
  readonly layerOf: readonly (string | undefined)[] | undefined
}

/** What a call asks of a store (`charge`: the extra of a settled cost, see `Store.charge`). */
export type Mode = 'consume' | 'peek' | 'refund' | 'charge'

/** One call on its way to a store: what it asks, and what its decision will say. */
export interface StoreCall extends BuiltRequest {
  readonly mode: Mode
  readonly key: string
  readonly tier: string | undefined
  /** The request class its decision reports. */
  readonly class?: string | undefined
  /** A refund's `at`: when the cost was charged. */
  readonly at: number | undefined
  /** A refund's whole charge, when it gives back only part of it (see `StoreRefundRequest.charged`). */
  readonly charged?: number | undefined
}

/** A call as the limiter's methods make it, before its store request is built. */
export interface CallPlan {
  readonly mode: Mode
  readonly where: string
  readonly key: string
  readonly options: ConsumeOptions | undefined
  /** A refund's `at`. */
  readonly at?: number | undefined
  /** A refund's whole charge (see `StoreCall.charged`). */
  readonly charged?: number | undefined
  /** The store asked (a refund's may be the fallback). @default the limiter's store */
  readonly target?: Store | undefined
  /** The cost when the options name none. @default 1 */
  readonly defaultCost?: number
}

/** What every request of one limiter shares. */
export interface RequestContext {
  /** The limiter's policies, for calls that pass none. */
  readonly policies: readonly Policy[]
  readonly now: () => number
  /** The limiter's callbacks, given to the store with every request. */
  readonly events: StoreEvents
}

/** One call, as made (its options unchecked). */
export interface CallSpec {
  readonly where: string
  readonly key: string
  readonly options: ConsumeOptions | undefined
  /** The cost when the options name none (1; 0 for a reset or a look). */
  readonly defaultCost: number
}

/** Checks a call and builds its store request: the key's policies, then each layer's, and the placement tag. */
export function buildRequest(context: RequestContext, call: CallSpec): BuiltRequest {
  const { where, options: opts } = call
  const subject = encodeSubject(where, call.key)
  if (opts !== undefined) checkCallOptions(where, opts)
  const cost = opts?.cost ?? call.defaultCost
  const list = opts?.policies ?? context.policies
  const layers = opts?.layers
  if (layers !== undefined && layers.length > 0) return buildLayered(context, where, { subject, cost, list, layers, tag: opts?.tag })
  const tag = opts?.tag !== undefined ? encodeSubject(where, opts.tag) : subject
  const keys = list.length === 1 ? [subject] : new Array<string>(list.length).fill(subject)
  return { request: { keys, policies: list, cost, now: context.now(), tag, events: context.events }, layerOf: undefined }
}

/** The parts of a layered request known before its layers are read. */
interface LayeredSpec {
  readonly subject: string
  readonly cost: number
  readonly list: readonly Policy[]
  readonly layers: readonly Layer[]
  readonly tag: string | undefined
}

/**
 * A request over the key and its layers, decided all-or-nothing. Policy names must be unique
 * across all of them; the tag defaults to the outermost layer's key, so a Redis Cluster places
 * a key's buckets and its team ceiling in one slot.
 */
function buildLayered(context: RequestContext, where: string, spec: LayeredSpec): BuiltRequest {
  const { subject, layers } = spec
  const keys: string[] = []
  const all: Policy[] = []
  const layerOf: (string | undefined)[] = []
  const names = new Set<string>()
  for (const p of spec.list) {
    keys.push(subject)
    all.push(p)
    layerOf.push(undefined)
    names.add(p.name)
  }
  let outer = subject
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]
    if (typeof layer !== 'object' || layer === null) invalidInCall(where, `layers[${i}]`, 'must be { name, key, policies }', layer)
    if (typeof layer.name !== 'string' || layer.name.length === 0)
      invalidInCall(where, `layers[${i}].name`, 'must be a non-empty string', layer.name)
    const layerKey = encodeSubject(where, layer.key)
    const layerPolicies = checkPolicies(where, `layers[${i}].policies`, layer.policies, { requestTime: true })
    for (const p of layerPolicies) {
      if (names.has(p.name)) {
        throw new ConfigurationError(
          'ERR_RK_DUPLICATE_POLICY',
          where,
          `layers[${i}].policies`,
          'must not reuse a policy name of the key or another layer',
          p.name,
          { requestTime: true },
        )
      }
      names.add(p.name)
      keys.push(layerKey)
      all.push(p)
      layerOf.push(layer.name)
    }
    outer = layerKey
  }
  const tag = spec.tag !== undefined ? encodeSubject(where, spec.tag) : outer
  return { request: { keys, policies: all, cost: spec.cost, now: context.now(), tag, events: context.events }, layerOf }
}

/**
 * `request` with another cost, time and lease, every field written out: a spread of a request
 * (which carries functions in `events`) costs about a microsecond, more than the decision.
 */
export function requestWith(request: StoreRequest, cost: number, now: number, lease: number | undefined): StoreRequest {
  return { keys: request.keys, policies: request.policies, cost, now, tag: request.tag, events: request.events, lease }
}

/** A refund of `request` (see `StoreRefundRequest`), every field written out. */
export function refundOf(request: StoreRequest, chargedAt: number, charged: number | undefined): StoreRefundRequest {
  return {
    keys: request.keys,
    policies: request.policies,
    cost: request.cost,
    now: request.now,
    tag: request.tag,
    events: request.events,
    lease: request.lease,
    chargedAt,
    charged,
  }
}
