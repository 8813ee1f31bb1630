import { MemoryStore } from '../stores/memory.js'
import type { Decision, DecisionReason, PolicyResult } from './decision.js'
import { ConfigurationError, checkInteger, checkKnownOptions, checkOptionsObject, invalid, RateKeeperError, StoreError } from './errors.js'
import type { Policy } from './policy.js'
import { timerSleep } from './sleep.js'
import type { Store, StoreRequest, StoreResult } from './store.js'
import { encodeSubject } from './subject.js'

/** What to do when the store fails or misses its deadline. */
export type StoreErrorMode =
  /** Admit the request (the default: a rate limiter must not be why an API goes down). */
  | 'allow'
  /** Deny it (HTTP adapters answer 503 with `Retry-After: 1`). */
  | 'deny'
  /** Decide on a local fallback store (a `MemoryStore` unless `fallback` says otherwise). */
  | 'fallback'

/** Options of {@link createLimiter}. */
export interface LimiterOptions {
  /** Where state lives. @default new MemoryStore() */
  store?: Store
  /** Policies applied to every call that doesn't pass its own. At least one. */
  policies: readonly Policy[]
  /** The clock, epoch ms. Inject one in tests. @default Date.now */
  now?: () => number
  /** What a store failure or timeout does. @default 'allow' */
  onStoreError?: StoreErrorMode
  /** The store used when `onStoreError` is `'fallback'`. @default new MemoryStore() */
  fallback?: Store
  /** Decide and report, but mark denials as dry-run so HTTP adapters let them through. @default false */
  dryRun?: boolean
  /** `near-limit` fires for an admitted request whose headline `remaining` is at most this. @default undefined (never) */
  nearLimit?: number
  /** How `wait` sleeps; inject one in tests. @default a timer */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

/** Another subject decided together with the key, all-or-nothing (e.g. a team ceiling). */
export interface Layer {
  /** Names the layer in decisions (`PolicyResult.layer`), e.g. `'team'`. */
  readonly name: string
  /** The layer's subject, e.g. `'team:acme'`. */
  readonly key: string
  /** The layer's policies. Their names must differ from the key's own policies' names. */
  readonly policies: readonly Policy[]
}

/** Per-call options of `consume`, `decide`, `peek`, `reset`. */
export interface ConsumeOptions {
  /** Cost units, a whole number >= 0. 0 only looks. @default 1 */
  cost?: number
  /** Replaces the limiter's policies for this call (a request class, a plan). Build lists once and reuse them. */
  policies?: readonly Policy[]
  /** Other subjects decided with this one, all-or-nothing. */
  layers?: readonly Layer[]
  /**
   * Placement tag shared by all keys of the call (Redis Cluster hash tag).
   * @default the outermost layer's key, else the key
   */
  tag?: string
  /** A tier name to report (`X-RateLimit-Tier`). */
  tier?: string
}

/** Options of `refund`. */
export interface RefundOptions extends ConsumeOptions {
  /** When the cost was charged: the decision's `at`. Only that window is refunded. @default now */
  at?: number
}

/** Options of `wait`. */
export interface WaitOptions extends ConsumeOptions {
  /** Cancels the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal
  /** Give up (reject with `ERR_RK_WAIT`) rather than wait longer than this in total. @default Infinity */
  maxWaitMs?: number
}

/** Payload of the `store-error` event. */
export interface StoreErrorEvent {
  readonly error: unknown
  readonly key: string
  /** What the limiter did about it. */
  readonly action: StoreErrorMode
}

/** Events a limiter emits, and their payloads. */
export interface LimiterEvents {
  /** Every decision (metrics exporters hang off this one). */
  decision: Decision
  /** A decision that denied (also in dry-run). */
  limited: Decision
  /** An admitted decision whose headline `remaining` is at or below `nearLimit`. */
  'near-limit': Decision
  /** The store failed or timed out; the decision followed `onStoreError`. */
  'store-error': StoreErrorEvent
  /** A memory store had to evict a currently limited key (every entry was limited). */
  evicted: { key: string; blockedUntil: number }
  /** Something worth a log line (configuration smells, store warnings). */
  warn: { code: string; message: string }
}

export type LimiterEventName = keyof LimiterEvents

/** A rate limiter: decides requests against policies, keeping state in a store. */
export interface Limiter {
  /** Decides one request and charges it when every policy admits. */
  consume(key: string, options?: ConsumeOptions): Promise<Decision>
  /**
   * Like `consume`, but returns the decision synchronously when the store answered synchronously
   * (the memory store), so callers on a hot path pay for no promise.
   */
  decide(key: string, options?: ConsumeOptions): Decision | Promise<Decision>
  /** The decision `consume` would make, charging nothing (`cost` is the hypothetical cost, default 1). */
  peek(key: string, options?: ConsumeOptions): Promise<Decision>
  /** Gives `cost` back (never above capacity, only into the window charged at `at`). */
  refund(key: string, options?: RefundOptions): Promise<Decision>
  /** Forgets the key's state for the given (or default) policies and layers. */
  reset(key: string, options?: ConsumeOptions): Promise<void>
  /** Waits until the request is admitted, then charges it. Rejects when it can never be admitted. */
  wait(key: string, options?: WaitOptions): Promise<Decision>
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends LimiterEventName>(event: E, listener: (payload: LimiterEvents[E]) => void): () => void
  /** Emits a `warn` event (adapters report configuration hazards, e.g. a permissive trust-proxy setting). */
  warn?(info: { code: string; message: string }): void
  /** Closes the stores this limiter created itself (a store you passed in stays yours to close). */
  close(): Promise<void>
  readonly policies: readonly Policy[]
  readonly store: Store
  readonly onStoreError: StoreErrorMode
  readonly dryRun: boolean
}

const KNOWN: { readonly [K in keyof Required<LimiterOptions>]: true } = {
  store: true,
  policies: true,
  now: true,
  onStoreError: true,
  fallback: true,
  dryRun: true,
  nearLimit: true,
  sleep: true,
}
const CALL_KNOWN: { readonly [K in keyof Required<WaitOptions & RefundOptions>]: true } = {
  cost: true,
  policies: true,
  layers: true,
  tag: true,
  tier: true,
  at: true,
  signal: true,
  maxWaitMs: true,
}
const STORE_ERROR_MODES: readonly StoreErrorMode[] = ['allow', 'deny', 'fallback']
const NO_NAMES: readonly string[] = Object.freeze([])
const NO_POLICIES: readonly PolicyResult[] = Object.freeze([])

function isPolicy(value: unknown): value is Policy {
  return (
    typeof value === 'object' && value !== null && typeof (value as Policy).step === 'function' && typeof (value as Policy).id === 'string'
  )
}

function isStore(value: unknown): value is Store {
  if (typeof value !== 'object' || value === null) return false
  const s = value as Store
  return typeof s.consume === 'function' && typeof s.peek === 'function' && typeof s.refund === 'function' && typeof s.reset === 'function'
}

/** Checks a policy list: an array of policies with distinct names. Cached per array instance. */
const checkedLists = new WeakSet<readonly Policy[]>()
function checkPolicies(where: string, option: string, list: unknown, allowEmpty: boolean): readonly Policy[] {
  if (checkedLists.has(list as readonly Policy[])) return list as readonly Policy[]
  if (!Array.isArray(list)) invalid(where, option, 'must be an array of policies (tokenBucket(), slidingWindow(), fixedWindow())', list)
  if (list.length === 0 && !allowEmpty) invalid(where, option, 'must hold at least one policy', list)
  const names = new Set<string>()
  for (let i = 0; i < list.length; i++) {
    const p = list[i]
    if (!isPolicy(p)) invalid(where, `${option}[${i}]`, 'must be a policy made by tokenBucket(), slidingWindow() or fixedWindow()', p)
    if (names.has(p.name)) {
      throw new ConfigurationError(
        'ERR_RK_DUPLICATE_POLICY',
        where,
        `${option}[${i}].name`,
        'must be unique within a request; name the policies',
        p.name,
      )
    }
    names.add(p.name)
  }
  checkedLists.add(list)
  return list
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

type Mode = 'consume' | 'peek' | 'refund'

const NO_POLICY_LIST: readonly Policy[] = Object.freeze([])
const NO_NUMBERS: readonly number[] = Object.freeze([])

/**
 * A decision. The per-policy results are built on first access of `policies`, so a caller that
 * only reads the headline (most middleware on an allowed request) never pays for them.
 */
class DecisionRecord implements Decision {
  #list: readonly Policy[]
  /** The store's three numbers per policy; undefined for one policy whose numbers are the headline's. */
  #raw: readonly number[] | undefined
  #layerOf: readonly (string | undefined)[] | undefined
  #policies: readonly PolicyResult[] | undefined
  constructor(
    readonly allowed: boolean,
    readonly reason: DecisionReason,
    readonly key: string,
    readonly cost: number,
    readonly limit: number,
    readonly remaining: number,
    readonly resetAt: number,
    readonly retryAfterMs: number,
    readonly violated: readonly string[],
    readonly at: number,
    readonly tier: string | undefined,
    readonly dryRun: boolean | undefined,
    readonly error: unknown,
    list: readonly Policy[],
    raw: readonly number[] | undefined,
    layerOf: readonly (string | undefined)[] | undefined,
  ) {
    this.#list = list
    this.#raw = raw
    this.#layerOf = layerOf
    this.#policies = list.length === 0 ? NO_POLICIES : undefined
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

/**
 * Creates a limiter.
 *
 * @example
 * const limiter = createLimiter({
 *   policies: [
 *     tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 }),
 *     fixedWindow({ name: 'per-day', limit: 10_000, window: '1d' }),
 *   ],
 * })
 * const d = await limiter.consume('sk_live_123')
 * if (!d.allowed) console.log(`retry in ${d.retryAfterMs} ms`)
 */
export function createLimiter(options: LimiterOptions): Limiter {
  const where = 'createLimiter()'
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, KNOWN)
  const policies = checkPolicies(where, 'policies', options.policies, false)
  if (options.store !== undefined && !isStore(options.store)) {
    invalid(where, 'store', 'must be a store (consume, peek, refund, reset, close)', options.store)
  }
  if (options.now !== undefined && typeof options.now !== 'function')
    invalid(where, 'now', 'must be a function returning epoch ms', options.now)
  if (options.onStoreError !== undefined && !STORE_ERROR_MODES.includes(options.onStoreError)) {
    invalid(where, 'onStoreError', "must be 'allow', 'deny' or 'fallback'", options.onStoreError)
  }
  if (options.fallback !== undefined) {
    if (!isStore(options.fallback)) invalid(where, 'fallback', 'must be a store', options.fallback)
    if (options.onStoreError !== 'fallback') invalid(where, 'fallback', "is only used with onStoreError: 'fallback'", options.fallback)
  }
  if (options.dryRun !== undefined && typeof options.dryRun !== 'boolean') invalid(where, 'dryRun', 'must be a boolean', options.dryRun)
  if (options.nearLimit !== undefined) checkInteger(where, 'nearLimit', options.nearLimit, 0)
  if (options.sleep !== undefined && typeof options.sleep !== 'function') invalid(where, 'sleep', 'must be a function', options.sleep)

  const ownsStore = options.store === undefined
  const store: Store = options.store ?? new MemoryStore()
  // The memory store can decide into a caller's buffer: the limiter's fast path uses that.
  const memory = store instanceof MemoryStore ? store : undefined
  const scratchKeys: string[] = []
  // The memory fast path's numbers for one policy; decisions don't keep it (see decisionOfOne).
  const scratchResults = [0, 0, 0]
  const onStoreError: StoreErrorMode = options.onStoreError ?? 'allow'
  const ownsFallback = onStoreError === 'fallback' && options.fallback === undefined
  const fallback: Store | undefined = onStoreError === 'fallback' ? (options.fallback ?? new MemoryStore()) : undefined
  const now = options.now ?? Date.now
  const dryRun = options.dryRun ?? false
  const nearLimit = options.nearLimit
  const sleep = options.sleep ?? timerSleep
  let closed = false

  // Listeners per event; `hasListeners` keeps the hot path free of lookups when nobody listens.
  const listeners = new Map<LimiterEventName, Array<(payload: never) => void>>()
  let hasListeners = false
  const emit = <E extends LimiterEventName>(event: E, payload: LimiterEvents[E]): void => {
    const list = listeners.get(event)
    if (list === undefined) return
    for (const listener of list.slice()) {
      try {
        ;(listener as (p: LimiterEvents[E]) => void)(payload)
      } catch (error) {
        // A listener's bug must not fail the request it observes.
        process.emitWarning(`ratekeeper: a '${event}' listener threw: ${String(error)}`, { code: 'RK_LISTENER_THREW' })
      }
    }
  }
  const storeEvents = {
    evicted: (info: { key: string; blockedUntil: number }) => emit('evicted', info),
    warn: (info: { code: string; message: string }) => emit('warn', info),
  }
  store.attach?.(storeEvents)
  fallback?.attach?.(storeEvents)

  /** Validates call options and builds the store request. */
  const buildRequest = (
    where: string,
    key: string,
    opts: ConsumeOptions | undefined,
    defaultCost: number,
  ): { request: StoreRequest; layerOf: readonly (string | undefined)[] | undefined } => {
    if (closed) throw new StoreError('ERR_RK_CLOSED', `${where}: the limiter is closed`)
    const subject = encodeSubject(where, key)
    let cost = defaultCost
    let list = policies
    let tag = subject
    if (opts !== undefined) {
      if (typeof opts !== 'object' || opts === null) invalid(where, 'options', 'must be an object', opts)
      for (const name in opts) {
        if (!Object.hasOwn(CALL_KNOWN, name)) {
          throw new ConfigurationError(
            'ERR_RK_UNKNOWN_OPTION',
            where,
            name,
            `is not an option (known: ${Object.keys(CALL_KNOWN).join(', ')})`,
            (opts as Record<string, unknown>)[name],
          )
        }
      }
      if (opts.cost !== undefined) cost = checkInteger(where, 'cost', opts.cost, 0, 1_000_000_000)
      if (opts.policies !== undefined) list = checkPolicies(where, 'policies', opts.policies, false)
      if (opts.tier !== undefined && typeof opts.tier !== 'string') invalid(where, 'tier', 'must be a string', opts.tier)
      if (opts.layers !== undefined && opts.layers.length > 0) {
        return buildLayered(where, subject, cost, list, opts)
      }
      if (opts.tag !== undefined) tag = encodeSubject(where, opts.tag)
    }
    const keys = list.length === 1 ? [subject] : new Array<string>(list.length).fill(subject)
    return { request: { keys, policies: list, cost, now: now(), tag }, layerOf: undefined }
  }

  const buildLayered = (
    where: string,
    subject: string,
    cost: number,
    list: readonly Policy[],
    opts: ConsumeOptions,
  ): { request: StoreRequest; layerOf: readonly (string | undefined)[] } => {
    const layers = opts.layers as readonly Layer[]
    if (!Array.isArray(layers)) invalid(where, 'layers', 'must be an array of { name, key, policies }', layers)
    const keys: string[] = []
    const all: Policy[] = []
    const layerOf: (string | undefined)[] = []
    const names = new Set<string>()
    for (const p of list) {
      keys.push(subject)
      all.push(p)
      layerOf.push(undefined)
      names.add(p.name)
    }
    let outer = subject
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i]
      if (typeof layer !== 'object' || layer === null) invalid(where, `layers[${i}]`, 'must be { name, key, policies }', layer)
      if (typeof layer.name !== 'string' || layer.name.length === 0)
        invalid(where, `layers[${i}].name`, 'must be a non-empty string', layer.name)
      const layerKey = encodeSubject(where, layer.key)
      const layerPolicies = checkPolicies(where, `layers[${i}].policies`, layer.policies, false)
      for (const p of layerPolicies) {
        if (names.has(p.name)) {
          throw new ConfigurationError(
            'ERR_RK_DUPLICATE_POLICY',
            where,
            `layers[${i}].policies`,
            'must not reuse a policy name of the key or another layer',
            p.name,
          )
        }
        names.add(p.name)
        keys.push(layerKey)
        all.push(p)
        layerOf.push(layer.name)
      }
      outer = layerKey
    }
    const tag = opts.tag !== undefined ? encodeSubject(where, opts.tag) : outer
    return { request: { keys, policies: all, cost, now: now(), tag }, layerOf }
  }

  /** Turns a store result into a decision. */
  const toDecision = (
    mode: Mode,
    key: string,
    request: StoreRequest,
    layerOf: readonly (string | undefined)[] | undefined,
    result: StoreResult,
    tier: string | undefined,
  ): Decision => decisionOf(mode, key, request.cost, request.policies, layerOf, result.allowed, result.now, result.results, tier)

  const decisionOf = (
    mode: Mode,
    key: string,
    cost: number,
    list: readonly Policy[],
    layerOf: readonly (string | undefined)[] | undefined,
    allowed: boolean,
    at: number,
    r: readonly number[],
    tier: string | undefined,
  ): Decision => {
    const n = list.length
    // Headline without materialising the per-policy objects (they are built on first access).
    let head = 0
    let never = false
    let violated: string[] | readonly string[] = NO_NAMES
    for (let i = 0; i < n; i++) {
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
    const decision = new DecisionRecord(
      allowed,
      allowed ? 'ok' : never ? 'exceeds-capacity' : 'limited',
      key,
      cost,
      list[head].limit,
      r[3 * head],
      r[3 * head + 1],
      allowed ? 0 : headRetry < 0 ? Number.POSITIVE_INFINITY : headRetry,
      violated,
      at,
      tier,
      dryRun && !allowed && mode === 'consume' ? true : undefined,
      undefined,
      list,
      r,
      layerOf,
    )
    if (hasListeners && mode === 'consume') announce(decision)
    return decision
  }

  /**
   * `decisionOf` for a charge of 1 on the limiter's only policy (the memory fast path): the
   * headline is that policy's numbers, so the decision keeps no copy of `r`, which is scratch.
   */
  const decisionOfOne = (key: string, allowed: boolean, at: number, r: readonly number[]): Decision => {
    const policy = policies[0]
    const retry = r[2]
    const decision = new DecisionRecord(
      allowed,
      allowed ? 'ok' : retry < 0 ? 'exceeds-capacity' : 'limited',
      key,
      1,
      policy.limit,
      r[0],
      r[1],
      allowed ? 0 : retry < 0 ? Number.POSITIVE_INFINITY : retry,
      allowed || retry === 0 ? NO_NAMES : [policy.name],
      at,
      undefined,
      dryRun && !allowed ? true : undefined,
      undefined,
      policies,
      undefined,
      undefined,
    )
    if (hasListeners) announce(decision)
    return decision
  }

  /** The events of a `consume` decision. */
  const announce = (decision: Decision): void => {
    emit('decision', decision)
    if (!decision.allowed) emit('limited', decision)
    else if (nearLimit !== undefined && decision.remaining <= nearLimit) emit('near-limit', decision)
  }

  const storeErrorDecision = (key: string, request: StoreRequest, error: unknown, tier: string | undefined): Decision => {
    const allowed = onStoreError !== 'deny'
    return new DecisionRecord(
      allowed,
      'store-error',
      key,
      request.cost,
      0,
      0,
      request.now,
      allowed ? 0 : 1000,
      NO_NAMES,
      request.now,
      tier,
      undefined,
      error,
      NO_POLICY_LIST,
      NO_NUMBERS,
      undefined,
    )
  }

  const call = (s: Store, mode: Mode, request: StoreRequest, at: number | undefined): StoreResult | Promise<StoreResult> => {
    if (mode === 'consume') return s.consume(request)
    if (mode === 'peek') return s.peek(request)
    return s.refund({ ...request, chargedAt: at ?? request.now })
  }

  /** Applies `onStoreError` to a failed call. */
  const recover = (
    mode: Mode,
    key: string,
    request: StoreRequest,
    layerOf: readonly (string | undefined)[] | undefined,
    error: unknown,
    tier: string | undefined,
    at: number | undefined,
  ): Decision | Promise<Decision> => {
    if (error instanceof ConfigurationError) throw error
    if (hasListeners) emit('store-error', { error, key, action: onStoreError })
    if (fallback !== undefined) {
      try {
        const result = call(fallback, mode, request, at)
        if (isThenable(result)) {
          return result.then(
            (res) => toDecision(mode, key, request, layerOf, res, tier),
            (err) => storeErrorDecision(key, request, err, tier),
          )
        }
        return toDecision(mode, key, request, layerOf, result, tier)
      } catch (err) {
        return storeErrorDecision(key, request, err, tier)
      }
    }
    const decision = storeErrorDecision(key, request, error, tier)
    if (hasListeners && mode === 'consume') {
      emit('decision', decision)
      if (!decision.allowed) emit('limited', decision)
    }
    return decision
  }

  const run = (mode: Mode, where: string, key: string, opts: ConsumeOptions | undefined, at?: number): Decision | Promise<Decision> => {
    if (opts === undefined && memory !== undefined && mode === 'consume' && !closed) {
      // The commonest call on the memory store: no request or result objects at all.
      const subject = encodeSubject(where, key)
      const t = now()
      const n = policies.length
      let results = scratchResults
      let allowed: boolean
      try {
        if (n === 1) {
          allowed = memory.decideOneInto(subject, policies[0], 1, t, true, results)
        } else {
          for (let i = 0; i < n; i++) scratchKeys[i] = subject
          results = new Array<number>(3 * n)
          allowed = memory.decideInto(scratchKeys, policies, 1, t, true, results)
        }
      } catch (error) {
        const request: StoreRequest = { keys: new Array<string>(n).fill(subject), policies, cost: 1, now: t, tag: subject }
        return recover(mode, key, request, undefined, error, undefined, at)
      }
      if (n === 1) return decisionOfOne(key, allowed, t, results)
      return decisionOf(mode, key, 1, policies, undefined, allowed, t, results, undefined)
    }
    let request: StoreRequest
    let layerOf: readonly (string | undefined)[] | undefined
    if (opts === undefined && !closed) {
      // The common call, without the option checks or the wrapper object.
      const subject = encodeSubject(where, key)
      request = {
        keys: policies.length === 1 ? [subject] : new Array<string>(policies.length).fill(subject),
        policies,
        cost: 1,
        now: now(),
        tag: subject,
      }
    } else {
      const built = buildRequest(where, key, opts, 1)
      request = built.request
      layerOf = built.layerOf
    }
    const tier = opts?.tier
    let result: StoreResult | Promise<StoreResult>
    try {
      result = call(store, mode, request, at)
    } catch (error) {
      return recover(mode, key, request, layerOf, error, tier, at)
    }
    if (isThenable(result)) {
      return result.then(
        (res) => toDecision(mode, key, request, layerOf, res, tier),
        (error) => recover(mode, key, request, layerOf, error, tier, at),
      )
    }
    return toDecision(mode, key, request, layerOf, result, tier)
  }

  const asPromise = (fn: () => Decision | Promise<Decision>): Promise<Decision> => {
    try {
      return Promise.resolve(fn())
    } catch (error) {
      return Promise.reject(error)
    }
  }

  const limiter: Limiter = {
    policies,
    store,
    onStoreError,
    dryRun,
    decide: (key, opts) => run('consume', 'limiter.decide()', key, opts),
    consume: (key, opts) => asPromise(() => run('consume', 'limiter.consume()', key, opts)),
    peek: (key, opts) => asPromise(() => run('peek', 'limiter.peek()', key, opts)),
    refund: (key, opts) => {
      if (opts?.at !== undefined && (typeof opts.at !== 'number' || !Number.isFinite(opts.at))) {
        return Promise.reject(
          new ConfigurationError('ERR_RK_INVALID_ARGUMENT', 'limiter.refund()', 'at', 'must be epoch ms (decision.at)', opts.at),
        )
      }
      return asPromise(() => run('refund', 'limiter.refund()', key, opts, opts?.at))
    },
    reset: async (key, opts) => {
      const { request } = buildRequest('limiter.reset()', key, opts, 0)
      await store.reset(request)
      if (fallback !== undefined) await fallback.reset(request)
    },
    wait: async (key, opts) => {
      const where = 'limiter.wait()'
      const { signal, maxWaitMs: maxWait, ...callOpts } = opts ?? {}
      const maxWaitMs = maxWait ?? Number.POSITIVE_INFINITY
      if (typeof maxWaitMs !== 'number' || Number.isNaN(maxWaitMs) || maxWaitMs < 0) {
        invalid(where, 'maxWaitMs', 'must be a number of ms >= 0', maxWait)
      }
      const started = now()
      for (;;) {
        signal?.throwIfAborted()
        const decision = await limiter.consume(key, callOpts)
        if (decision.allowed || decision.reason === 'store-error') return decision
        if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
          throw new RateKeeperError(
            'ERR_RK_WAIT',
            `${where}: cost ${decision.cost} can never be admitted by ${decision.violated.join(', ')}`,
          )
        }
        const waited = now() - started
        if (waited + decision.retryAfterMs > maxWaitMs) {
          throw new RateKeeperError(
            'ERR_RK_WAIT',
            `${where}: admission needs ${decision.retryAfterMs} ms more, beyond maxWaitMs ${maxWaitMs}`,
          )
        }
        await sleep(decision.retryAfterMs, signal)
      }
    },
    warn: (info) => emit('warn', info),
    on: (event, listener) => {
      if (typeof listener !== 'function') invalid('limiter.on()', 'listener', 'must be a function', listener)
      let list = listeners.get(event)
      if (list === undefined) {
        list = []
        listeners.set(event, list)
      }
      list.push(listener as (payload: never) => void)
      hasListeners = true
      return () => {
        const current = listeners.get(event)
        if (current === undefined) return
        const i = current.indexOf(listener as (payload: never) => void)
        if (i >= 0) current.splice(i, 1)
        if (current.length === 0) listeners.delete(event)
        hasListeners = listeners.size > 0
      }
    },
    close: async () => {
      if (closed) return
      closed = true
      if (ownsStore) await store.close()
      if (ownsFallback && fallback !== undefined) await fallback.close()
    },
  }
  return limiter
}
