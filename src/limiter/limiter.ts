import { MemoryStore } from '../stores/memory.js'
import type { Decision, DecisionReason, PolicyResult } from './decision.js'
import {
  ConfigurationError,
  checkInteger,
  checkKnownOptions,
  checkOptionsObject,
  invalid,
  invalidAtRequest,
  RateKeeperError,
  StoreError,
} from './errors.js'
import type { Policy } from './policy.js'
import { timerSleep } from './sleep.js'
import type { Store, StoreEvents, StoreRequest, StoreResult } from './store.js'
import { hubOf, type StoreEventHub, type StoreListener, type WarnInfo } from './store-events.js'
import { encodeSubject } from './subject.js'

/** What to do when the store fails or misses its deadline. */
export type StoreErrorMode =
  /** Admit the request (the default: a rate limiter must not be why an API goes down). */
  | 'allow'
  /** Deny it (HTTP adapters answer 503 with `Retry-After: 1`). */
  | 'deny'
  /** Decide on a local fallback store (a `MemoryStore` unless `fallback` says otherwise). */
  | 'fallback'

/** Where a limiter's log lines go (a store outage and its end, store warnings). `console` fits. */
export interface Logger {
  warn(message: string): void
  /** Lines that report good news (the store answers again). @default warn */
  info?(message: string): void
}

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
  /**
   * Deadline of every store call that returns a promise, ms (1-60000): a call not settled by then
   * fails with `ERR_RK_STORE_TIMEOUT` and `onStoreError` decides. Stores that enforce a deadline
   * of their own (`RedisStore`, whose `timeoutMs` applies) get no second timer; the memory store
   * answers synchronously and needs none.
   * @default 100
   */
  timeoutMs?: number
  /**
   * Where the limiter's log lines go: one when a store outage starts and one when it ends, and
   * store warnings once per code and outage. Without a logger, and with no `warn` listener, they
   * are printed with `process.emitWarning`.
   * @default process.emitWarning
   */
  logger?: Logger
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
  /** When the cost was charged: the decision's `at`. Only that window is refunded. @default decision.at, else now */
  at?: number
  /**
   * The decision being refunded. The refund goes to the store that charged it: a decision made
   * by the fallback store during an outage is refunded there, never into the main store. Its
   * `at` and `cost` are the defaults of `at` and `cost`, and the policies and layers it was
   * decided with are the defaults of `policies` and `layers`. A decision that charged nothing
   * (denied, dry-run, a store error) or was already refunded gives nothing back: the call then
   * reports the current state, as a peek would.
   */
  decision?: Decision
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
  /** The store failed, timed out or answered something malformed; the decision followed `onStoreError`. */
  'store-error': StoreErrorEvent
  /** A memory store had to evict a currently limited key (every entry was limited). */
  evicted: { key: string; blockedUntil: number }
  /**
   * Something worth a log line: configuration smells, store warnings, a store outage starting
   * (`RK_STORE_OUTAGE`) and ending (`RK_STORE_RECOVERED`). With no listener and no `logger`,
   * these are printed with `process.emitWarning`.
   */
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
  /** Gives `cost` back (never above capacity, only into the window charged at `at`; with `decision`, into the store that charged it). */
  refund(key: string, options?: RefundOptions): Promise<Decision>
  /** Forgets the key's state for the given (or default) policies and layers. */
  reset(key: string, options?: ConsumeOptions): Promise<void>
  /** Waits until the request is admitted, then charges it. Rejects when it can never be admitted. */
  wait(key: string, options?: WaitOptions): Promise<Decision>
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends LimiterEventName>(event: E, listener: (payload: LimiterEvents[E]) => void): () => void
  /** Emits a `warn` event and logs it with the `logger` once per code, or prints it with `process.emitWarning` when neither is there (adapters report configuration hazards, e.g. a permissive trust-proxy setting). */
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
  timeoutMs: true,
  logger: true,
}
const CALL_KNOWN: { readonly [K in keyof Required<WaitOptions & RefundOptions>]: true } = {
  cost: true,
  policies: true,
  layers: true,
  tag: true,
  tier: true,
  at: true,
  decision: true,
  signal: true,
  maxWaitMs: true,
}
/** How long a store must go without failing before an outage is declared over, ms. */
const RECOVERY_QUIET_MS = 1000
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

/**
 * Checks a policy list: an array of policies with distinct names. Cached per array instance.
 * `requestTime`: the list comes with a call, so errors don't quote values.
 */
const checkedLists = new WeakSet<readonly Policy[]>()
function checkPolicies(where: string, option: string, list: unknown, allowEmpty: boolean, requestTime = false): readonly Policy[] {
  if (checkedLists.has(list as readonly Policy[])) return list as readonly Policy[]
  const bad: (where: string, option: string, expected: string, received: unknown) => never = requestTime ? invalidInCall : invalid
  if (!Array.isArray(list)) bad(where, option, 'must be an array of policies (tokenBucket(), slidingWindow(), fixedWindow())', list)
  if (list.length === 0 && !allowEmpty) bad(where, option, 'must hold at least one policy', list)
  const names = new Set<string>()
  for (let i = 0; i < list.length; i++) {
    const p = list[i]
    if (!isPolicy(p)) bad(where, `${option}[${i}]`, 'must be a policy made by tokenBucket(), slidingWindow() or fixedWindow()', p)
    if (names.has(p.name)) {
      throw new ConfigurationError(
        'ERR_RK_DUPLICATE_POLICY',
        where,
        `${option}[${i}].name`,
        'must be unique within a request; name the policies',
        p.name,
        { requestTime },
      )
    }
    names.add(p.name)
  }
  checkedLists.add(list)
  return list
}

/** A bad call option (`ERR_RK_INVALID_OPTION`), its value kept out of the message: calls are made while serving requests. */
/** A per-call `cost`, checked as `consume` checks it. */
function callCost(where: string, c: unknown): number {
  if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 1_000_000_000) {
    invalidInCall(where, 'cost', 'must be an integer from 0 to 1000000000', c)
  }
  return c
}

function invalidInCall(where: string, option: string, expected: string, received: unknown): never {
  invalidAtRequest(where, option, expected, received, 'ERR_RK_INVALID_OPTION')
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

type Mode = 'consume' | 'peek' | 'refund'

/**
 * Whether a store's answer is a well-formed result for `n` checks: a boolean `allowed`, a
 * finite `now`, and per check a finite `remaining` >= 0, a finite `resetAt` >= 0 and a finite
 * `retryAfterMs` that is 0, positive, or -1 (never); `allowed` exactly when every retry is 0.
 * Anything else would become a 500, a `NaN` header or an admission.
 */
function wellFormed(answer: unknown, n: number): answer is StoreResult {
  if (typeof answer !== 'object' || answer === null) return false
  const { allowed, now, results } = answer as StoreResult
  if (typeof allowed !== 'boolean' || typeof now !== 'number' || !Number.isFinite(now)) return false
  if (!Array.isArray(results) || results.length !== 3 * n) return false
  let denied = false
  for (let i = 0; i < 3 * n; i += 3) {
    const remaining = results[i]
    const resetAt = results[i + 1]
    const retry = results[i + 2]
    if (typeof remaining !== 'number' || !(remaining >= 0) || remaining === Number.POSITIVE_INFINITY) return false
    if (typeof resetAt !== 'number' || !(resetAt >= 0) || resetAt === Number.POSITIVE_INFINITY) return false
    if (typeof retry !== 'number' || !(retry >= -1) || retry === Number.POSITIVE_INFINITY || (retry < 0 && retry !== -1)) return false
    if (retry !== 0) denied = true
  }
  return allowed !== denied
}

function malformedAnswer(): StoreError {
  return new StoreError('ERR_RK_STORE_MALFORMED', 'the store answered something that is not a StoreResult')
}

/** A store that enforces a deadline of its own says so with a positive `timeoutMs`. */
function hasOwnDeadline(store: Store): boolean {
  const ms = store.timeoutMs
  return typeof ms === 'number' && ms > 0 && ms !== Number.POSITIVE_INFINITY
}

/** `promise`, or a rejection with `ERR_RK_STORE_TIMEOUT` when it has not settled within `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StoreError('ERR_RK_STORE_TIMEOUT', `the store did not answer within ${ms} ms`)), ms)
    // A pending store call must not keep the process alive by its timer alone.
    timer.unref?.()
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false
  const l = value as Logger
  return typeof l.warn === 'function' && (l.info === undefined || typeof l.info === 'function')
}

/** A short, single-line account of a store failure for a log line. */
function failureText(error: unknown): string {
  const code = error instanceof RateKeeperError ? error.code : undefined
  const message = error instanceof Error ? error.message : String(error)
  const text = message.length > 200 ? `${message.slice(0, 197)}...` : message
  return (code === undefined ? text : `${code}: ${text}`).replace(/\s+/g, ' ')
}

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
  const timeoutMs = options.timeoutMs === undefined ? 100 : checkInteger(where, 'timeoutMs', options.timeoutMs, 1, 60_000)
  if (options.logger !== undefined && !isLogger(options.logger)) {
    invalid(where, 'logger', 'must be { warn(message), info?(message) } (console fits)', options.logger)
  }
  const logger = options.logger

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

  // --- log lines: an outage, its end, store warnings (see docs/architecture.md) ---
  /** Codes already sent to the logger in this outage. */
  const logged = new Set<string>()
  const log = (level: 'warn' | 'info', message: string): void => {
    if (logger === undefined) return
    try {
      if (level === 'info' && logger.info !== undefined) logger.info(`ratekeeper: ${message}`)
      else logger.warn(`ratekeeper: ${message}`)
    } catch {
      // A logger's bug must not fail the request it reports on.
    }
  }
  /** Hands a store warning to the `warn` listeners and the logger (once per code and outage); true when either took it. */
  const hear = (info: WarnInfo): boolean => {
    const listened = listeners.has('warn')
    emit('warn', info)
    if (logger === undefined) return listened
    if (!logged.has(info.code)) {
      logged.add(info.code)
      log('warn', info.message)
    }
    return true
  }
  /**
   * An outage line (`down`) or its end: the `warn` event, and the logger or, with neither, the
   * process (once per outage for the store, however many limiters share it).
   */
  const say = (down: boolean, code: string, message: string): void => {
    const listened = listeners.has('warn')
    emit('warn', { code, message })
    if (logger !== undefined) log(down ? 'warn' : 'info', message)
    else if (!listened) storeHub.printOutage({ code, message: `ratekeeper: ${message}` }, down)
  }
  /** The store is failing: said once, at the first failure of an outage. */
  let failing = false
  /** When the store last failed (the limiter's clock): an outage ends only after a quiet spell. */
  let lastFailureAt = Number.NEGATIVE_INFINITY
  const outage = (error: unknown): void => {
    lastFailureAt = now()
    if (failing) return
    failing = true
    const consequence =
      onStoreError === 'allow'
        ? "onStoreError 'allow': requests are admitted without limits"
        : onStoreError === 'deny'
          ? "onStoreError 'deny': requests are denied"
          : "onStoreError 'fallback': requests are decided by the local fallback store"
    say(true, 'RK_STORE_OUTAGE', `the store failed (${failureText(error)}); until it answers again, ${consequence}`)
  }
  /**
   * A success during an outage ends it only when the store has not failed for
   * RECOVERY_QUIET_MS: a store that fails some calls and answers others (a Redis Cluster with one
   * master down, a flapping link) is one outage, not a line per request.
   */
  const calm = (): void => {
    if (now() - lastFailureAt >= RECOVERY_QUIET_MS) recovered()
  }
  const recovered = (): void => {
    failing = false
    logged.clear()
    storeHub.recovered()
    say(false, 'RK_STORE_RECOVERED', 'the store answers again; requests are limited by it again')
  }

  // --- store events: each limiter hears what its own calls caused (see store-events.ts) ---
  const self: StoreListener = { evicted: (info) => emit('evicted', info), hear }
  const storeHub: StoreEventHub = hubOf(store)
  const fallbackHub: StoreEventHub | undefined = fallback === undefined ? undefined : hubOf(fallback)
  storeHub.add(self)
  fallbackHub?.add(self)
  /** Given to stores with every request, for what that call causes. */
  const callEvents: StoreEvents = {
    evicted: self.evicted,
    warn: (info) => {
      if (!hear(info)) storeHub.print(info)
    },
  }

  // --- what each store gets: a deadline unless it has its own; validation unless it is ours ---
  const storeDeadline = hasOwnDeadline(store) ? 0 : timeoutMs
  const fallbackDeadline = fallback === undefined || hasOwnDeadline(fallback) ? 0 : timeoutMs
  const storeTrusted = memory !== undefined
  const fallbackTrusted = fallback instanceof MemoryStore
  /** Decisions charged by the fallback store: their refunds go there. */
  const chargedByFallback = new WeakSet<Decision>()
  /** Admitted decisions made with per-call policies or layers: the request they charged. */
  const chargedWith = new WeakMap<Decision, { request: StoreRequest; layerOf: readonly (string | undefined)[] | undefined }>()
  /** Decisions already given back by refund({ decision }): a second refund gives nothing. */
  const refunded = new WeakSet<Decision>()

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
      // Call options come with requests (a plan's answer): errors name the option, never the value.
      if (typeof opts !== 'object' || opts === null) invalidInCall(where, 'options', 'must be an object', opts)
      for (const name in opts) {
        if (!Object.hasOwn(CALL_KNOWN, name)) {
          // The unknown name is not quoted either: an object built from request data may hold anything.
          throw new ConfigurationError(
            'ERR_RK_UNKNOWN_OPTION',
            where,
            'options',
            `must hold only known options (${Object.keys(CALL_KNOWN).join(', ')}); one is not`,
            undefined,
            { requestTime: true },
          )
        }
      }
      if (opts.cost !== undefined) {
        const c = opts.cost
        if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 1_000_000_000) {
          invalidInCall(where, 'cost', 'must be an integer from 0 to 1000000000', c)
        }
        cost = c
      }
      if (opts.policies !== undefined) list = checkPolicies(where, 'policies', opts.policies, false, true)
      if (opts.tier !== undefined && typeof opts.tier !== 'string') invalidInCall(where, 'tier', 'must be a string', opts.tier)
      if (opts.layers !== undefined) {
        if (!Array.isArray(opts.layers)) invalidInCall(where, 'layers', 'must be an array of { name, key, policies }', opts.layers)
        if (opts.layers.length > 0) return buildLayered(where, subject, cost, list, opts)
      }
      if (opts.tag !== undefined) tag = encodeSubject(where, opts.tag)
    }
    const keys = list.length === 1 ? [subject] : new Array<string>(list.length).fill(subject)
    return { request: { keys, policies: list, cost, now: now(), tag, events: callEvents }, layerOf: undefined }
  }

  const buildLayered = (
    where: string,
    subject: string,
    cost: number,
    list: readonly Policy[],
    opts: ConsumeOptions,
  ): { request: StoreRequest; layerOf: readonly (string | undefined)[] } => {
    const layers = opts.layers as readonly Layer[]
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
      if (typeof layer !== 'object' || layer === null) invalidInCall(where, `layers[${i}]`, 'must be { name, key, policies }', layer)
      if (typeof layer.name !== 'string' || layer.name.length === 0)
        invalidInCall(where, `layers[${i}].name`, 'must be a non-empty string', layer.name)
      const layerKey = encodeSubject(where, layer.key)
      const layerPolicies = checkPolicies(where, `layers[${i}].policies`, layer.policies, false, true)
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
    const tag = opts.tag !== undefined ? encodeSubject(where, opts.tag) : outer
    return { request: { keys, policies: all, cost, now: now(), tag, events: callEvents }, layerOf }
  }

  /** Turns a store result into a decision. */
  const toDecision = (
    mode: Mode,
    key: string,
    request: StoreRequest,
    layerOf: readonly (string | undefined)[] | undefined,
    result: StoreResult,
    tier: string | undefined,
  ): Decision => {
    const decision = decisionOf(mode, key, request.cost, request.policies, layerOf, result.allowed, result.now, result.results, tier)
    // What a charge was made on, when not the limiter's defaults: refund({ decision }) gives back there.
    if (mode === 'consume' && result.allowed && (layerOf !== undefined || request.policies !== policies)) {
      chargedWith.set(decision, { request, layerOf })
    }
    return decision
  }

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

  /** Calls the store; an event it reports meanwhile (synchronously) is this limiter's. */
  const call = (
    s: Store,
    hub: StoreEventHub,
    mode: Mode,
    request: StoreRequest,
    at: number | undefined,
  ): StoreResult | Promise<StoreResult> => {
    const previous = hub.current
    hub.current = self
    try {
      if (mode === 'consume') return s.consume(request)
      if (mode === 'peek') return s.peek(request)
      return s.refund({ ...request, chargedAt: at ?? request.now })
    } finally {
      hub.current = previous
    }
  }

  /**
   * Asks store `s` (the store, or the fallback) to decide: with a deadline when it answers with
   * a promise and enforces none of its own, its answer checked unless it is a memory store.
   */
  const ask = (
    s: Store,
    mode: Mode,
    key: string,
    request: StoreRequest,
    layerOf: readonly (string | undefined)[] | undefined,
    tier: string | undefined,
    at: number | undefined,
  ): Decision | Promise<Decision> => {
    const main = s === store
    let result: StoreResult | Promise<StoreResult>
    try {
      result = call(s, main ? storeHub : (fallbackHub as StoreEventHub), mode, request, at)
    } catch (error) {
      return failed(main, mode, key, request, layerOf, error, tier, at)
    }
    if (isThenable(result)) {
      const ms = main ? storeDeadline : fallbackDeadline
      return (ms > 0 ? withDeadline(result, ms) : result).then(
        (answer) => answered(main, mode, key, request, layerOf, answer, tier, at),
        (error) => failed(main, mode, key, request, layerOf, error, tier, at),
      )
    }
    return answered(main, mode, key, request, layerOf, result, tier, at)
  }

  /** Turns a store's answer into the decision, or into a store error when it is malformed. */
  const answered = (
    main: boolean,
    mode: Mode,
    key: string,
    request: StoreRequest,
    layerOf: readonly (string | undefined)[] | undefined,
    answer: StoreResult,
    tier: string | undefined,
    at: number | undefined,
  ): Decision | Promise<Decision> => {
    if (!(main ? storeTrusted : fallbackTrusted) && !wellFormed(answer, request.policies.length)) {
      return failed(main, mode, key, request, layerOf, malformedAnswer(), tier, at)
    }
    if (main) {
      if (failing) calm()
      return toDecision(mode, key, request, layerOf, answer, tier)
    }
    const decision = toDecision(mode, key, request, layerOf, answer, tier)
    if (mode === 'consume' && decision.allowed) chargedByFallback.add(decision)
    return decision
  }

  const failed = (
    main: boolean,
    mode: Mode,
    key: string,
    request: StoreRequest,
    layerOf: readonly (string | undefined)[] | undefined,
    error: unknown,
    tier: string | undefined,
    at: number | undefined,
  ): Decision | Promise<Decision> => {
    if (main) return recover(mode, key, request, layerOf, error, tier, at)
    if (error instanceof ConfigurationError) throw error
    // The fallback failed too (or a refund of its own charge did): nothing left to ask.
    if (mode === 'refund' && hasListeners) emit('store-error', { error, key, action: onStoreError })
    return storeErrorDecision(key, request, error, tier)
  }

  /** Applies `onStoreError` to a failed call of the store. */
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
    outage(error)
    if (hasListeners) emit('store-error', { error, key, action: onStoreError })
    // A refund goes to the store that charged, or nowhere: the fallback never charged this one.
    if (fallback !== undefined && mode !== 'refund') return ask(fallback, mode, key, request, layerOf, tier, at)
    const decision = storeErrorDecision(key, request, error, tier)
    if (hasListeners && mode === 'consume') {
      emit('decision', decision)
      if (!decision.allowed) emit('limited', decision)
    }
    return decision
  }

  const run = (
    mode: Mode,
    where: string,
    key: string,
    opts: ConsumeOptions | undefined,
    at?: number,
    target: Store = store,
    defaultCost = 1,
  ): Decision | Promise<Decision> => {
    if (opts === undefined && memory !== undefined && mode === 'consume' && !closed) {
      // The commonest call on the memory store: no request or result objects at all.
      const subject = encodeSubject(where, key)
      const t = now()
      const n = policies.length
      let results = scratchResults
      let allowed: boolean
      // An eviction this call forces is this limiter's (see store-events.ts).
      const previous = storeHub.current
      storeHub.current = self
      try {
        if (n === 1) {
          allowed = memory.decideOneInto(subject, policies[0], 1, t, true, results)
        } else {
          for (let i = 0; i < n; i++) scratchKeys[i] = subject
          results = new Array<number>(3 * n)
          allowed = memory.decideInto(scratchKeys, policies, 1, t, true, results)
        }
      } catch (error) {
        storeHub.current = previous
        const request: StoreRequest = {
          keys: new Array<string>(n).fill(subject),
          policies,
          cost: 1,
          now: t,
          tag: subject,
          events: callEvents,
        }
        return recover(mode, key, request, undefined, error, undefined, at)
      }
      storeHub.current = previous
      if (failing) calm()
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
        events: callEvents,
      }
    } else {
      const built = buildRequest(where, key, opts, defaultCost)
      request = built.request
      layerOf = built.layerOf
    }
    return ask(target, mode, key, request, layerOf, opts?.tier, at)
  }

  /** Resets in one store, with the same deadline as its other calls; failures reject. */
  const resetIn = async (s: Store, request: StoreRequest): Promise<void> => {
    const main = s === store
    const hub = main ? storeHub : (fallbackHub as StoreEventHub)
    const ms = main ? storeDeadline : fallbackDeadline
    try {
      const previous = hub.current
      hub.current = self
      let done: void | Promise<void>
      try {
        done = s.reset(request)
      } finally {
        hub.current = previous
      }
      if (isThenable(done)) await (ms > 0 ? withDeadline(done, ms) : done)
    } catch (error) {
      if (main && !(error instanceof ConfigurationError)) outage(error)
      throw error
    }
    if (main && failing) calm()
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
    refund: (key, opts) =>
      asPromise(() => {
        const where = 'limiter.refund()'
        const decision = opts?.decision
        if (decision !== undefined && (typeof decision !== 'object' || decision === null)) {
          invalidAtRequest(where, 'decision', 'must be the decision being refunded', decision)
        }
        const at = opts?.at ?? decision?.at
        if (at !== undefined && (typeof at !== 'number' || !Number.isFinite(at))) {
          invalidAtRequest(where, 'at', 'must be epoch ms (decision.at)', at)
        }
        // The store that charged the decision gets the refund: the fallback for its own charges.
        const target = decision !== undefined && fallback !== undefined && chargedByFallback.has(decision) ? fallback : store
        const cost = typeof decision?.cost === 'number' ? decision.cost : 1
        if (decision === undefined) return run('refund', where, key, opts, at, target, cost)
        const charged = opts?.policies === undefined && opts?.layers === undefined ? chargedWith.get(decision) : undefined
        // Charged nothing (denied, dry-run, a store error, cost 0) or already given back: nothing to refund.
        if (decision.allowed !== true || decision.reason !== 'ok' || decision.cost === 0 || refunded.has(decision)) {
          if (charged === undefined) {
            const { decision: _d, at: _at, cost: _c, ...rest } = opts as RefundOptions
            return run('peek', where, key, { ...rest, cost: 0 }, undefined, target, 0)
          }
          const look: StoreRequest = { ...charged.request, cost: 0, now: now() }
          return ask(target, 'peek', key, look, charged.layerOf, decision.tier, undefined)
        }
        refunded.add(decision)
        if (charged === undefined) return run('refund', where, key, opts, at, target, cost)
        // The policies and layers the decision was made with, not the limiter's defaults.
        const back: StoreRequest = {
          ...charged.request,
          cost: opts?.cost === undefined ? cost : callCost(where, opts.cost),
          now: now(),
        }
        return ask(target, 'refund', key, back, charged.layerOf, opts?.tier ?? decision.tier, at)
      }),
    reset: async (key, opts) => {
      const { request } = buildRequest('limiter.reset()', key, opts, 0)
      await resetIn(store, request)
      if (fallback !== undefined) await resetIn(fallback, request)
    },
    wait: async (key, opts) => {
      const where = 'limiter.wait()'
      const { signal, maxWaitMs: maxWait, ...callOpts } = opts ?? {}
      const maxWaitMs = maxWait ?? Number.POSITIVE_INFINITY
      if (typeof maxWaitMs !== 'number' || Number.isNaN(maxWaitMs) || maxWaitMs < 0) {
        invalidInCall(where, 'maxWaitMs', 'must be a number of ms >= 0', maxWait)
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
    warn: (info) => {
      // Like a store's warnings: printed when nobody listens and there is no logger.
      if (!hear(info)) storeHub.print(info)
    },
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
      storeHub.delete(self)
      fallbackHub?.delete(self)
      if (ownsStore) await store.close()
      if (ownsFallback && fallback !== undefined) await fallback.close()
    },
  }
  return limiter
}
