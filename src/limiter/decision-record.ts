import type { Decision, DecisionReason, PolicyResult } from './decision.js'
import type { Policy } from './policy.js'

const NO_POLICIES: readonly PolicyResult[] = Object.freeze([])
/** `violated` of a decision that denied nothing. */
export const NO_NAMES: readonly string[] = Object.freeze([])

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
  declare readonly class: string | undefined
  /** Set (to true) only on a decision of the fallback store, after construction: see `decidedByFallback`. */
  declare readonly fallback: boolean | undefined
  declare readonly blockedUntil: number | undefined
  declare readonly blockReason: string | undefined
  #list: readonly Policy[]
  #raw: readonly number[] | undefined
  #layerOf: readonly (string | undefined)[] | undefined
  #policies: readonly PolicyResult[] | undefined
  /** The lease a decision of a limiter's fast path took, and that limiter (see {@link DecisionRecord.takeLease}). */
  #lease: number | undefined
  #leaseOwner: object | undefined

  /** Keeps the lease an admitted fast-path decision of `owner` took, for its `release` (that path writes no ledger entry). */
  static holdLease(decision: DecisionRecord, lease: number, owner: object): void {
    decision.#lease = lease
    decision.#leaseOwner = owner
  }

  /** The lease `decision` holds from `owner`'s fast path, once: a second call (a second release) or another limiter gets none. */
  static takeLease(decision: object, owner: object): number | undefined {
    if (!(#lease in decision)) return undefined
    const d = decision as DecisionRecord
    if (d.#leaseOwner !== owner) return undefined
    const lease = d.#lease
    d.#lease = undefined
    d.#leaseOwner = undefined
    return lease
  }

  /** The policy list `decision` was decided with; `undefined` for an object that is no decision record. */
  static listOf(decision: object): readonly Policy[] | undefined {
    return #list in decision ? (decision as DecisionRecord).#list : undefined
  }

  /**
   * Positional, and internal (the public type is `Decision`): on the hot path an object of fields
   * would be allocated per decision whenever this constructor is not inlined.
   */
  constructor(
    allowed: boolean,
    reason: DecisionReason,
    key: string,
    cost: number,
    limit: number,
    remaining: number,
    resetAt: number,
    retryAfterMs: number,
    violated: readonly string[],
    at: number,
    tier: string | undefined,
    dryRun: boolean | undefined,
    error: unknown,
    /** The policies decided, in request order (none for a store error). */
    list: readonly Policy[],
    /** The store's three numbers per policy; `undefined` for one policy whose numbers are the headline's. */
    raw: readonly number[] | undefined,
    /** The layer of each policy (`undefined`: the key's own); `undefined` when there are no layers. */
    layerOf: readonly (string | undefined)[] | undefined,
    /** The request class the caller reported. */
    cls: string | undefined,
  ) {
    this.allowed = allowed
    this.reason = reason
    this.key = key
    this.cost = cost
    this.limit = limit
    this.remaining = remaining
    this.resetAt = resetAt
    this.retryAfterMs = retryAfterMs
    this.violated = violated
    this.at = at
    this.tier = tier
    this.dryRun = dryRun
    this.error = error
    this.class = cls
    this.#list = list
    this.#raw = raw
    this.#layerOf = layerOf
  }

  get policies(): readonly PolicyResult[] {
    if (this.#policies !== undefined) return this.#policies
    const list = this.#list
    // Built here rather than in the constructor, which runs on every decision and is kept small.
    if (list.length === 0) return NO_POLICIES
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
        violated: !this.allowed && retry !== 0 && !p.shadow,
        shadow: p.shadow,
      })
    }
    this.#policies = out
    return out
  }

  /**
   * Shadow policies that would have denied. Worked out when read (events, metrics), so that a
   * decision costs nothing more to make. A decision whose numbers are the headline's (`#raw`
   * undefined: one policy, the limiter's fast path) is never about a shadow policy: the limiter
   * takes that path only for lists without one.
   */
  get shadowViolated(): readonly string[] {
    const r = this.#raw
    if (r === undefined) return NO_NAMES
    const list = this.#list
    let names: string[] | undefined
    for (let i = 0; i < list.length; i++) {
      if (list[i].shadow && r[3 * i + 2] !== 0) (names ??= []).push(list[i].name)
    }
    return names ?? NO_NAMES
  }

  /** @internal The policies decided, in order (metrics read the figures below without building `policies`). */
  get list(): readonly Policy[] {
    return this.#list
  }

  /** @internal Policy `i`'s remaining. */
  remainingAt(i: number): number {
    const raw = this.#raw
    return raw === undefined ? this.remaining : raw[3 * i]
  }

  /** @internal Policy `i`'s retry: 0 when it admitted, -1 never, else ms. */
  retryAt(i: number): number {
    const raw = this.#raw
    if (raw !== undefined) return raw[3 * i + 2]
    return this.retryAfterMs === Number.POSITIVE_INFINITY ? -1 : this.retryAfterMs
  }

  /** @internal Policy `i`'s layer (`undefined`: the key's own). */
  layerAt(i: number): string | undefined {
    const layerOf = this.#layerOf
    return layerOf === undefined ? undefined : layerOf[i]
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
      shadowViolated: this.shadowViolated,
      at: this.at,
      tier: this.tier,
      dryRun: this.dryRun,
      ...(this.class === undefined ? {} : { class: this.class }),
      ...(this.fallback === true ? { fallback: true } : {}),
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
  readonly class: string | undefined
  /** A denial let through by a dry-run limiter. */
  readonly dryRun: boolean
  /** The reason of the block by hand that denied (the store's `StoreResult.reason`). */
  readonly reason?: string
}

/**
 * The decision of a store's answer. The headline is the policy with the fewest remaining or,
 * when denied, the violated one with the longest wait; it is found without building the
 * per-policy objects.
 */
export function decisionOf(answer: StoreAnswer): DecisionRecord {
  const { list, allowed, results: r } = answer
  // The headline policy: never a shadow one (-1 while none is met).
  let head = -1
  let never = false
  let violated: string[] | readonly string[] = NO_NAMES
  let blocked = 0
  for (let i = 0; i < list.length; i++) {
    if (list[i].shadow) continue
    const retry = r[3 * i + 2]
    if (!allowed && retry !== 0) {
      if (violated === NO_NAMES) violated = []
      ;(violated as string[]).push(list[i].name)
      if (retry < 0) never = true
      if (list[i].kind === 'penalty-box' && r[3 * i + 1] > blocked) blocked = r[3 * i + 1]
    }
    // A penalty box that admits is no allowance of the client's: never the headline.
    if (retry === 0 && list[i].kind === 'penalty-box') continue
    if (head < 0) head = i
    else {
      const best = r[3 * head + 2]
      if (allowed ? r[3 * i] < r[3 * head] : retry !== 0 && (best === 0 || (best > 0 && (retry < 0 || retry > best)))) head = i
    }
  }
  // Shadow policies alone: admitted (they never deny), with no headline.
  if (head < 0) {
    return new DecisionRecord(
      true,
      'ok',
      answer.key,
      answer.cost,
      0,
      0,
      answer.at,
      0,
      NO_NAMES,
      answer.at,
      answer.tier,
      undefined,
      undefined,
      list,
      r,
      answer.layerOf,
      answer.class,
    )
  }
  const headRetry = r[3 * head + 2]
  const decision = new DecisionRecord(
    allowed,
    allowed ? 'ok' : never ? 'exceeds-capacity' : 'limited',
    answer.key,
    answer.cost,
    list[head].limit,
    r[3 * head],
    r[3 * head + 1],
    allowed ? 0 : headRetry < 0 ? Number.POSITIVE_INFINITY : headRetry,
    violated,
    answer.at,
    answer.tier,
    answer.dryRun ? true : undefined,
    undefined,
    list,
    r,
    answer.layerOf,
    answer.class,
  )
  // Only on a penalty box's denial: every other decision keeps its shape.
  if (blocked > 0) {
    ;(decision as { blockedUntil?: number }).blockedUntil = blocked
    if (answer.reason !== undefined) (decision as { blockReason?: string }).blockReason = answer.reason
  }
  return decision
}

/** What a failed store call becomes: admitted (`'allow'`, `'fallback'` with none left) or denied for a second. */
export function storeErrorDecision(failure: {
  key: string
  cost: number
  at: number
  tier: string | undefined
  class: string | undefined
  error: unknown
  allowed: boolean
  /** A denial of a dry-run limiter: reported, never enforced. */
  dryRun?: boolean
}): DecisionRecord {
  const allowed = failure.allowed
  return new DecisionRecord(
    allowed,
    'store-error',
    failure.key,
    failure.cost,
    0,
    0,
    failure.at,
    allowed ? 0 : 1000,
    NO_NAMES,
    failure.at,
    failure.tier,
    failure.dryRun === true && !allowed ? true : undefined,
    failure.error,
    NO_POLICY_LIST,
    undefined,
    undefined,
    failure.class,
  )
}

const NO_POLICY_LIST: readonly Policy[] = Object.freeze([])

/** Marks a decision as made by the fallback store (off the hot path: only during an outage). */
export function decidedByFallback(decision: DecisionRecord): void {
  ;(decision as { fallback: boolean | undefined }).fallback = true
}
