import type { Policy } from './policy.js'

/**
 * One request's checks, handed to a {@link Store}: the policy at `policies[i]` applies to the
 * subject `keys[i]`. A store decides all of them atomically: either every policy admits `cost`
 * and every state is charged, or nothing is charged.
 */
export interface StoreRequest {
  /** Subject key per check (already encoded: safe, bounded length). Parallel to `policies`. */
  readonly keys: readonly string[]
  /** Policy per check. Parallel to `keys`. */
  readonly policies: readonly Policy[]
  /** Cost units to charge each policy (0: only look). */
  readonly cost: number
  /** The caller's clock, epoch ms. Stores with a clock of their own (Redis `TIME`) may ignore it. */
  readonly now: number
  /**
   * A tag shared by every key of this request: distributed stores place all keys with one tag
   * together (Redis Cluster hash tags), which is what makes a multi-subject request atomic there.
   */
  readonly tag: string
  /**
   * Where to report what this call caused (an eviction it forced, a warning about it): the
   * calling limiter's own callbacks. Optional to use: a store that answers synchronously may as
   * well report through the callbacks given to `attach`, during the call. Absent when a store is
   * called directly.
   */
  readonly events?: StoreEvents
  /**
   * The request's lease, for its concurrency policies (absent when it has none): `consume` passes
   * it to each policy's `step`, which records it when the request is admitted; `refund` passes it
   * to each policy's `refund`, which gives that lease back (`limiter.release`). Rate policies
   * ignore it. A store keeps it as given: a safe integer, unique per request.
   */
  readonly lease?: number
}

/** A {@link StoreRequest} for a refund: gives back `cost` charged at `chargedAt`. */
export interface StoreRefundRequest extends StoreRequest {
  /** Epoch ms at which the cost was charged (the decision's `at`), so only that window is refunded. */
  readonly chargedAt: number
  /**
   * The whole cost charged at `chargedAt`, when `cost` gives back only part of it (a settle
   * below its estimate). A token bucket has been refilling the whole charge since `chargedAt`,
   * and gives back only what is not refilled yet: of the charge, not of the part returned.
   * @default cost
   */
  readonly charged?: number
}

/**
 * What a store answers. `results` holds three numbers per check, in request order:
 * `remaining`, `resetAt` (epoch ms), `retryAfterMs` (0: this policy admits; -1: never).
 * When `allowed` is false nothing was charged, and the remaining/reset of the checks that did
 * admit describe the uncharged state.
 */
export interface StoreResult {
  readonly allowed: boolean
  /** The time the store decided at, epoch ms (its own clock, or the request's `now`). */
  readonly now: number
  readonly results: readonly number[]
  /**
   * When a penalty box denied and its block was written by `limiter.block` with a reason: that
   * reason (1-128 characters, no control characters). Absent otherwise.
   */
  readonly reason?: string
}

/**
 * Where limiter state lives. Built-in: `MemoryStore` (default), `RedisStore`
 * (`ratekeeper/redis`), and any key-value store with compare-and-set through `casStore`.
 *
 * Methods may answer synchronously or with a promise; the limiter awaits only promises, so an
 * in-process store costs no microtask. Every method must either answer or throw/reject — the
 * limiter applies `onStoreError` to failures, so a store never decides on its own to allow.
 * The limiter gives every promise it is handed a deadline (its `timeoutMs`) unless the store
 * declares a deadline of its own (`timeoutMs` on the store), and treats an answer that is not a
 * well-formed {@link StoreResult} as a failure (`ERR_RK_STORE_MALFORMED`).
 */
export interface Store {
  /** Decides and, when every check admits, charges. Atomic per request. */
  consume(request: StoreRequest): StoreResult | Promise<StoreResult>
  /** Decides as `consume` would, charging nothing. */
  peek(request: StoreRequest): StoreResult | Promise<StoreResult>
  /** Gives `cost` back to every check, never above capacity, only into the window charged. */
  refund(request: StoreRefundRequest): StoreResult | Promise<StoreResult>
  /**
   * Charges `cost` to every check whatever their state, admitting always: the part of an actual
   * cost settled above its estimate (`limiter.settle`), which may put a policy in debt (see each
   * policy's `charge`). Atomic per request. Optional: without it, `limiter.settle` charges the
   * extra with `consume`, which admits it only if it fits, and warns (`RK_STORE_NO_CHARGE`).
   */
  charge?(request: StoreRequest): StoreResult | Promise<StoreResult>
  /** Forgets the state of every check, as if the subjects had never been seen. */
  reset(request: StoreRequest): void | Promise<void>
  /** Releases timers and connections it owns. Calls after close reject with `ERR_RK_CLOSED`. */
  close(): void | Promise<void>
  /**
   * Called once, when the first limiter starts using the store, with callbacks that reach every
   * limiter using it (however many share the store). Optional. Report through them what no
   * single call caused (the connection went away); what a call causes goes to that call's
   * limiter when reported during the call (synchronously), or through `request.events`.
   */
  attach?(events: StoreEvents): void
  /**
   * Set by a store that enforces a deadline on every call itself, rejecting with
   * `ERR_RK_STORE_TIMEOUT` (ms; `RedisStore` has one): the limiter then adds no timer of its own.
   * Leave it out and the limiter's `timeoutMs` applies to every promise the store returns.
   */
  readonly timeoutMs?: number
  /**
   * Optional synchronous fast path: `consume` of one subject checked against every policy of
   * `policies`, without the request and result objects. Writes three numbers per policy into
   * `results` (as {@link StoreResult.results}: remaining, resetAt, retryAfterMs) and returns
   * whether the request was admitted (and charged).
   *
   * It must be equivalent to `consume({ keys: policies.map(() => subject), policies, cost, now,
   * tag: subject, lease })` (`lease`: the request's lease when a policy is a concurrency one, see
   * `StoreRequest.lease`; `undefined` otherwise): the same decision, the same charge, the same state afterwards, the same
   * events — reported during the call through the callbacks given to `attach` (there is no
   * `request.events`). It fails as `consume` would, by throwing; the limiter then applies
   * `onStoreError`. `results` may be the limiter's scratch buffer, reused by the next call: write
   * every number and keep no reference to it. Arguments are positional so that the call
   * allocates nothing.
   *
   * When the limiter uses it: for `consume` and `decide` calls that pass no options (the call's
   * key against the limiter's own policies, cost 1) — the commonest call, which then builds no
   * request or result objects. Every other call goes through `consume`, `peek` and `refund`.
   * Implement it only for a store that answers in-process from the policies' own `step` (as
   * `MemoryStore` does): the limiter trusts such a store's answers, from every method, and does
   * not check them for well-formedness (see `ERR_RK_STORE_MALFORMED`).
   */
  consumeInto?(subject: string, policies: readonly Policy[], cost: number, now: number, results: number[], lease?: number): boolean
  /**
   * Optional synchronous fast path of a release, beside `consumeInto`: gives `lease` back in
   * `policies` (the limiter's concurrency policies) for `subject`, answering nothing. It must be
   * equivalent to `refund({ keys: policies.map(() => subject), policies, cost: 1, now, tag:
   * subject, lease, chargedAt })` with its answer thrown away: the same state afterwards and the
   * same events, reported during the call through the callbacks given to `attach`. It fails as
   * `refund` would, by throwing; the limiter then reports a `store-error` (the lease expires
   * after its `leaseMs`).
   *
   * When the limiter uses it: for `limiter.release()` of a decision the store admitted with a
   * lease in the limiter's own policies, when the store has `consumeInto` too (a store without
   * `consumeInto` is never asked). Without it, those releases go through `refund`.
   */
  releaseLease?(subject: string, policies: readonly Policy[], lease: number, chargedAt: number, now: number): void
  /**
   * Optional fast path of a release for a store that answers later (as `RedisStore` does): the
   * release `releaseLease` describes, queued. It returns a promise that fulfils once this release
   * is done or has failed — one promise may serve every release queued together, so that a
   * release costs no promise of its own — and never rejects. A failure found at once is thrown
   * (as `refund` would reject); one found later is passed to `failed`, once, on a later
   * microtask than the call, before the promise fulfils. The store must settle every release
   * within a deadline of its own: the limiter sets none on this path.
   *
   * When the limiter uses it: for `limiter.release()` of a decision the store admitted with a
   * lease in the limiter's own policies, on a store that declares its own deadline (`timeoutMs`)
   * and has no `releaseLease` + `consumeInto`, unless the limiter is in an outage (the store failed and has not answered since) or someone
   * listens for `store-call` (which times each store call): those releases go through `refund`.
   */
  queueRelease?(
    subject: string,
    policies: readonly Policy[],
    lease: number,
    chargedAt: number,
    now: number,
    failed: (error: unknown) => void,
  ): Promise<void>
}

/** Callbacks a store may use to report what happened, for the limiter's events. */
export interface StoreEvents {
  /** A limited key was evicted to make room (memory stores). */
  evicted?(info: { key: string; blockedUntil: number }): void
  /**
   * Something noteworthy that is not an error of a single call. Printed (once per code and
   * outage) when no limiter listens for `warn` and none has a `logger`.
   */
  warn?(info: { code: string; message: string }): void
  /**
   * A figure the store measured of itself, for metrics: `'batch-size'` (requests in one round
   * trip) or `'deny-cache-hit'` (a request answered locally, value 1). Positional, so that a
   * report allocates nothing; cheap when nobody listens.
   */
  measured?(name: 'batch-size' | 'deny-cache-hit', value: number): void
}
