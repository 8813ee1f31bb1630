import type { Decision, DecisionReason, PolicyResult } from './decision.js'
import type { Policy } from './policy.js'

const NO_POLICIES: readonly PolicyResult[] = Object.freeze([])
/** `violated` of a decision that denied nothing. */
export const NO_NAMES: readonly string[] = Object.freeze([])

/**
 * What a {@link DecisionRecord} is made of: the public figures, and what `policies` is built
 * from. Every field is always given, in this order, so that every decision is built from an
 * object of one shape (the constructor's reads stay monomorphic on the hot path).
 */
export interface DecisionFields {
  readonly allowed: boolean
  readonly reason: DecisionReason
  readonly key: string
  readonly cost: number
  readonly limit: number
  readonly remaining: number
  readonly resetAt: number
  readonly retryAfterMs: number
  readonly violated: readonly string[]
  readonly at: number
  readonly tier: string | undefined
  readonly dryRun: boolean | undefined
  readonly error: unknown
  /** The policies decided, in request order (none for a store error). */
  readonly list: readonly Policy[]
  /** The store's three numbers per policy; `undefined` for one policy whose numbers are the headline's. */
  readonly raw: readonly number[] | undefined
  /** The layer of each policy (`undefined`: the key's own); `undefined` when there are no layers. */
  readonly layerOf: readonly (string | undefined)[] | undefined
}

/**
 * A decision. The per-policy results are built on first access of `policies`, so a caller that
 * only reads the headline (most middleware on an allowed request) never pays for them.
 */
export class DecisionRecord implements Decision {
  // Declared, not defined: the constructor assigns each once (a defined field would be set to
  // undefined first, then again: twice the stores on the hot path).
  declare readonly allowed: boolean
  declare readonly reason: DecisionReason
  declare readonly key: string
  declare readonly cost: number
  declare readonly limit: number
  declare readonly remaining: number
  declare readonly resetAt: number
  declare readonly retryAfterMs: number
  declare readonly violated: readonly string[]
  declare readonly at: number
  declare readonly tier: string | undefined
  declare readonly dryRun: boolean | undefined
  declare readonly error: unknown
  #list: readonly Policy[]
  #raw: readonly number[] | undefined
  #layerOf: readonly (string | undefined)[] | undefined
  #policies: readonly PolicyResult[] | undefined

  constructor(fields: DecisionFields) {
    this.allowed = fields.allowed
    this.reason = fields.reason
    this.key = fields.key
    this.cost = fields.cost
    this.limit = fields.limit
    this.remaining = fields.remaining
    this.resetAt = fields.resetAt
    this.retryAfterMs = fields.retryAfterMs
    this.violated = fields.violated
    this.at = fields.at
    this.tier = fields.tier
    this.dryRun = fields.dryRun
    this.error = fields.error
    this.#list = fields.list
    this.#raw = fields.raw
    this.#layerOf = fields.layerOf
    this.#policies = fields.list.length === 0 ? NO_POLICIES : undefined
  }

  get policies(): readonly PolicyResult[] {
    if (this.#policies !== undefined) return this.#policies
    const list = this.#list
    const layerOf = this.#layerOf
    // One policy, its numbers kept as the headline: admitted means a retry of 0.
    const r = this.#raw ?? [this.remaining, this.resetAt, this.retryAfterMs === Number.POSITIVE_INFINITY ? -1 : this.retryAfterMs]
    const out = new Array<PolicyResult>(list.length)
    for (let i = 0; i < list.length; i++) {
      const p = list[i]
      const retry = r[3 * i + 2]
      out[i] = Object.freeze({
        name: p.name,
        kind: p.kind,
        layer: layerOf === undefined ? undefined : layerOf[i],
        limit: p.limit,
        burst: p.burst,
        windowMs: p.windowMs,
        remaining: r[3 * i],
        resetAt: r[3 * i + 1],
        retryAfterMs: retry < 0 ? Number.POSITIVE_INFINITY : retry,
        violated: !this.allowed && retry !== 0,
      })
    }
    this.#policies = out
    return out
  }

  /** Plain data, `policies` included (JSON, logging, spreading with `{ ...decision.toJSON() }`). */
  toJSON(): Decision {
    return {
      allowed: this.allowed,
      reason: this.reason,
      key: this.key,
      cost: this.cost,
      limit: this.limit,
      remaining: this.remaining,
      resetAt: this.resetAt,
      retryAfterMs: this.retryAfterMs,
      policies: this.policies,
      violated: this.violated,
      at: this.at,
      tier: this.tier,
      dryRun: this.dryRun,
    }
  }
}

/** A store's answer to one request, with what the limiter knows about the call. */
export interface StoreAnswer {
  readonly key: string
  readonly cost: number
  /** The policies decided, parallel to `results`. */
  readonly list: readonly Policy[]
  readonly layerOf: readonly (string | undefined)[] | undefined
  readonly allowed: boolean
  /** When the store decided, epoch ms. */
  readonly at: number
  /** Three numbers per policy: remaining, resetAt, retryAfterMs (0 admits, -1 never). */
  readonly results: readonly number[]
  readonly tier: string | undefined
  /** A denial let through by a dry-run limiter. */
  readonly dryRun: boolean
}

/**
 * The decision of a store's answer. The headline is the policy with the fewest remaining or,
 * when denied, the violated one with the longest wait; it is found without building the
 * per-policy objects.
 */
export function decisionOf(answer: StoreAnswer): DecisionRecord {
  const { list, allowed, results: r } = answer
  let head = 0
  let never = false
  let violated: string[] | readonly string[] = NO_NAMES
  for (let i = 0; i < list.length; i++) {
    const retry = r[3 * i + 2]
    if (!allowed && retry !== 0) {
      if (violated === NO_NAMES) violated = []
      ;(violated as string[]).push(list[i].name)
      if (retry < 0) never = true
    }
    if (i > 0) {
      const best = r[3 * head + 2]
      if (allowed ? r[3 * i] < r[3 * head] : retry !== 0 && (best === 0 || (best > 0 && (retry < 0 || retry > best)))) head = i
    }
  }
  const headRetry = r[3 * head + 2]
  return new DecisionRecord({
    allowed,
    reason: allowed ? 'ok' : never ? 'exceeds-capacity' : 'limited',
    key: answer.key,
    cost: answer.cost,
    limit: list[head].limit,
    remaining: r[3 * head],
    resetAt: r[3 * head + 1],
    retryAfterMs: allowed ? 0 : headRetry < 0 ? Number.POSITIVE_INFINITY : headRetry,
    violated,
    at: answer.at,
    tier: answer.tier,
    dryRun: answer.dryRun ? true : undefined,
    error: undefined,
    list,
    raw: r,
    layerOf: answer.layerOf,
  })
}

/** What a failed store call becomes: admitted (`'allow'`, `'fallback'` with none left) or denied for a second. */
export function storeErrorDecision(failure: {
  key: string
  cost: number
  at: number
  tier: string | undefined
  error: unknown
  allowed: boolean
}): DecisionRecord {
  const allowed = failure.allowed
  return new DecisionRecord({
    allowed,
    reason: 'store-error',
    key: failure.key,
    cost: failure.cost,
    limit: 0,
    remaining: 0,
    resetAt: failure.at,
    retryAfterMs: allowed ? 0 : 1000,
    violated: NO_NAMES,
    at: failure.at,
    tier: failure.tier,
    dryRun: undefined,
    error: failure.error,
    list: NO_POLICY_LIST,
    raw: undefined,
    layerOf: undefined,
  })
}

const NO_POLICY_LIST: readonly Policy[] = Object.freeze([])
