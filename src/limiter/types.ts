import type { Decision } from './decision.js'
import type { Policy } from './policy.js'
import type { Store } from './store.js'

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
  /**
   * The clock, epoch ms. Inject one in tests. Each answer must be a number from 0 to
   * 7258118400000 (2200-01-01); any other makes the call fail with `ERR_RK_INVALID_OPTION`.
   * @default Date.now
   */
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
  /**
   * Decide and report, but mark denials as dry-run so HTTP adapters let them through: the whole
   * limiter, all or nothing. To try one new policy beside enforcing ones, mark that policy
   * `shadow: true` instead (docs/shadow-rollout.md). @default false
   */
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
  /** A request class name to report (`decision.class`: metrics, logs). */
  class?: string
}

/** Options of `refund`. */
export interface RefundOptions extends ConsumeOptions {
  /** When the cost was charged: the decision's `at`. Only that window is refunded. @default decision.at, else now */
  at?: number
  /**
   * The decision being refunded. The refund goes to the store that charged it: a decision made
   * by the fallback store during an outage is refunded there, never into the main store. Its
   * `at` and `cost` are the defaults of `at` and `cost` (a smaller `cost` gives back part of it;
   * a larger one, another `at`, or other `policies` or `layers` is refused), and the policies and layers it was
   * decided with are the defaults of `policies` and `layers`. A decision that charged nothing
   * (denied, dry-run, a store error) or was already refunded gives nothing back: the call then
   * reports the current state, as a peek would.
   */
  decision?: Decision
}

/** Options of `unblock`: which penalty boxes. */
export interface UnblockOptions {
  /** The policies whose penalty boxes are written (others are ignored). @default the limiter's */
  policies?: readonly Policy[]
  /** Placement tag (Redis Cluster hash tag), as in `consume`. @default the key */
  tag?: string
}

/** Options of `block`. */
export interface BlockOptions extends UnblockOptions {
  /**
   * When the block ends: a Date or epoch ms, at most 8.64e15 (the latest time a Date holds; for
   * good, a far date such as 9999-12-31). The subject's penalty boxes deny until then; a time
   * already past ends the current block, the escalation level kept (only `unblock` forgets it).
   */
  until: number | Date
  /**
   * Why (support staff, a fraud signal): kept in the store with the block, shown to the blocked
   * client in the 429 problem body (`block-reason`, never a header) and in `decision.blockReason`
   * while the block lasts. 1-128 characters, no control characters. A later block (by hand or
   * earned) replaces it.
   */
  reason?: string
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
  /**
   * A decision in which some shadow policy would have denied (`decision.shadowViolated`), whether
   * the request was admitted or denied by an enforcing policy. Emitted only when listened to.
   */
  'shadow-limited': Decision
  /** An admitted decision whose headline `remaining` is at or below `nearLimit` (a decision with no headline, on shadow policies alone, has none to be near). */
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
  /**
   * A store call that answered with a promise (a Redis or custom store; the memory store answers
   * in-process and is not timed), timed by the limiter from the call to its answer or failure
   * (`performance.now()`, ms). `result` `'timeout'`: it missed its deadline (`ERR_RK_STORE_TIMEOUT`).
   * Emitted only when listened to.
   */
  'store-call': {
    readonly store: 'main' | 'fallback'
    readonly mode: 'consume' | 'peek' | 'refund' | 'charge'
    readonly durationMs: number
    readonly result: 'ok' | 'error' | 'timeout'
  }
  /** A figure a store reported of itself (see `StoreEvents.measured`): Redis batch sizes, deny-cache hits. Emitted only when listened to. */
  'store-measure': { readonly name: 'batch-size' | 'deny-cache-hit'; readonly value: number }
  /** `release(decision)` gave back the decision's leases (its concurrency policies). */
  released: Decision
  /**
   * A request answered by an allow or deny list, undecided (nothing charged): `list` says which,
   * `by` whether the client address or the key was listed. Announced by the HTTP layer through
   * `limiter.listed`; the metrics count it (outcomes `allow-listed`, `deny-listed`).
   */
  listed: { readonly list: 'allow' | 'deny'; readonly by: 'ip' | 'key' }
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
  /**
   * Gives back the leases an admitted decision took (its concurrency policies), in the store that
   * granted them. Call it once the work the decision admitted is over; HTTP adapters do it when the
   * response ends. Idempotent: a second call, or a decision without leases, does nothing. Resolves
   * once the store has the release; never rejects for a store failure (the limiter emits
   * `store-error`, and the lease expires after its `leaseMs`).
   */
  release(decision: Decision): Promise<void>
  /**
   * Settles a reservation: the decision charged its `cost` as an estimate, and `actualCost` is what
   * the work really cost. The difference is given back (as `refund` would) or charged — past the
   * limit if need be: the policies go into debt that later requests wait out, so no cost is lost.
   * Leases are not touched (see `release`). Once per decision, into the store that charged it;
   * a decision that charged nothing, was refunded, or was settled already changes nothing. Resolves
   * to the state after the settle.
   */
  settle(decision: Decision, actualCost: number): Promise<Decision>
  /** Forgets the key's state for the given (or default) policies and layers. */
  reset(key: string, options?: ConsumeOptions): Promise<void>
  /**
   * Puts the key in its penalty boxes (`penaltyBox()` policies) until `until`, whatever its
   * record: support staff, or a signal of the app's own (a fraud score). One atomic store call.
   * Rejects when no penalty box applies (`ERR_RK_INVALID_OPTION`) or the store fails.
   */
  block(key: string, options: BlockOptions): Promise<Decision>
  /** Takes the key out of its penalty boxes and forgets its record (the next block is the first). */
  unblock(key: string, options?: UnblockOptions): Promise<Decision>
  /**
   * Waits until the request is admitted, then charges it. Rejects when it can never be admitted.
   * A dry-run limiter never waits: a would-be denial is returned at once (`dryRun: true`).
   */
  wait(key: string, options?: WaitOptions): Promise<Decision>
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends LimiterEventName>(event: E, listener: (payload: LimiterEvents[E]) => void): () => void
  /** Emits a `warn` event and logs it with the `logger` once per code, or prints it with `process.emitWarning` when neither is there (adapters report configuration hazards, e.g. a permissive trust-proxy setting). */
  warn?(info: { code: string; message: string }): void
  /** Emits a `listed` event: a request an allow or deny list answered without a decision (the HTTP layer calls it). */
  listed?(event: LimiterEvents['listed']): void
  /**
   * Gives back the units its leases did not spend, then closes the stores this limiter created
   * itself (a store you passed in stays yours to close). Every call, the first or a later one,
   * resolves when that is done.
   */
  close(): Promise<void>
  readonly policies: readonly Policy[]
  readonly store: Store
  readonly onStoreError: StoreErrorMode
  readonly dryRun: boolean
}
