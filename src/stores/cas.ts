import { checkInteger, checkKnownOptions, checkOptionsObject, invalid, StoreError } from '../limiter/errors.js'
import type { Policy, PolicyState, StepOutcome } from '../limiter/policy.js'
import type { Store, StoreRefundRequest, StoreRequest, StoreResult } from '../limiter/store.js'
import { decodeState, encodeState, planAdjust, planDecision, type StepPlan } from './step-plan.js'

/**
 * What a key-value store must offer to serve as a ratekeeper store through {@link casStore}:
 * reads with versions, and an atomic multi-key compare-and-set (a transaction: every write
 * applies or none does). etcd `Txn`, DynamoDB `TransactWriteItems`, a SQL transaction with
 * `UPDATE … WHERE version = ?`, FoundationDB and Cloudflare Durable Objects all fit.
 */
export interface CasBackend {
  /** Reads the keys; `undefined` for absent (or expired) ones. */
  get(keys: readonly string[]): Promise<readonly (Versioned | undefined)[]> | readonly (Versioned | undefined)[]
  /** Applies every write if every `expected` version still matches, atomically; resolves false otherwise. */
  commit(writes: readonly CasWrite[]): Promise<boolean> | boolean
  /** Deletes the keys unconditionally. */
  delete(keys: readonly string[]): Promise<void> | void
  /** Releases resources. Optional. */
  close?(): Promise<void> | void
}

/** The shapes a {@link CasBackend} reads and writes. */
export declare namespace CasBackend {
  /** A value read from the backend, with the version a write must match. */
  interface Versioned {
    readonly value: string
    /** Opaque version (a revision number, an ETag, the value itself…). */
    readonly version: unknown
  }

  /** One write of a {@link CasBackend.commit}. */
  interface Write {
    readonly key: string
    /** The version read, or `undefined` when the key was absent: the write must fail if it changed. */
    readonly expected: unknown
    /** The new value, or `undefined` to delete the key. */
    readonly value: string | undefined
    /** Time to live of the new value, ms (> 0 when `value` is set). */
    readonly ttlMs: number
  }
}

type Versioned = CasBackend.Versioned
type CasWrite = CasBackend.Write

/** Options of {@link casStore}. */
export interface CasStoreOptions {
  backend: CasBackend
  /** Prefix of every key written. @default 'rk' */
  prefix?: string
  /** Attempts when a concurrent writer wins the compare-and-set, before failing with `ERR_RK_STORE`. @default 16 */
  maxAttempts?: number
}

const KNOWN = { backend: true, prefix: true, maxAttempts: true } as const

/**
 * Turns any key-value store with versioned reads and an atomic multi-key compare-and-set into a
 * ratekeeper {@link Store}, running the same step functions as the memory store (no algorithm
 * is re-implemented). Each decision reads the request's keys, decides, and commits the new
 * states if nobody wrote them meanwhile, retrying otherwise.
 *
 * @example
 * const store = casStore({ backend: myEtcdBackend })
 * const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 10, window: '1s' })] })
 */
export function casStore(options: CasStoreOptions): Store {
  const where = 'casStore()'
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, KNOWN)
  const backend = options.backend
  if (
    typeof backend !== 'object' ||
    backend === null ||
    typeof backend.get !== 'function' ||
    typeof backend.commit !== 'function' ||
    typeof backend.delete !== 'function'
  ) {
    invalid(where, 'backend', 'must have get(keys), commit(writes) and delete(keys)', backend)
  }
  const prefix = options.prefix ?? 'rk'
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 64)
    invalid(where, 'prefix', 'must be a string of 1-64 characters', prefix)
  const maxAttempts = options.maxAttempts === undefined ? 16 : checkInteger(where, 'maxAttempts', options.maxAttempts, 1, 1000)
  let closed = false

  // The policy id has no newline, so `id \n subject` never collides for different pairs.
  const storageKey = (policy: Policy, subject: string) => `${prefix}:${policy.id}\n${subject}`

  const read = async (request: StoreRequest) => {
    if (closed) throw new StoreError('ERR_RK_CLOSED', 'casStore: used after close()')
    const keys = request.policies.map((p, i) => storageKey(p, request.keys[i]))
    const found = await backend.get(keys)
    const states = found.map((v, i) => (v === undefined ? undefined : decodeState(request.policies[i], v.value)))
    return { keys, found, states }
  }

  const toWrites = (plan: StepPlan, keys: readonly string[], found: readonly (Versioned | undefined)[]): CasWrite[] =>
    plan.writes.map((w) => ({
      key: keys[w.index],
      expected: found[w.index]?.version,
      value: w.state === undefined ? undefined : encodeState(w.state),
      ttlMs: w.ttlMs,
    }))

  const decide = async (request: StoreRequest, charge: boolean): Promise<StoreResult> => {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const { keys, found, states } = await read(request)
      const plan = planDecision(request, states, charge, request.now)
      if (plan.writes.length > 0 && !(await backend.commit(toWrites(plan, keys, found)))) continue
      const answer: StoreResult = { allowed: plan.allowed, now: request.now, results: plan.results }
      return plan.reason === undefined ? answer : { ...answer, reason: plan.reason }
    }
    throw new StoreError('ERR_RK_STORE', `casStore: gave up after ${maxAttempts} compare-and-set conflicts`)
  }

  /** A refund or a charge: every check's state changed by `apply`, which always admits. */
  const adjust = async (
    request: StoreRequest,
    apply: (policy: Policy, state: PolicyState | undefined, out: StepOutcome) => void,
  ): Promise<StoreResult> => {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const { keys, found, states } = await read(request)
      const plan = planAdjust(request.policies, states, apply)
      if (plan.writes.length === 0 || (await backend.commit(toWrites(plan, keys, found))))
        return { allowed: true, now: request.now, results: plan.results }
    }
    throw new StoreError('ERR_RK_STORE', `casStore: gave up after ${maxAttempts} compare-and-set conflicts`)
  }

  return {
    consume: (request) => decide(request, true),
    peek: (request) => decide(request, false),
    refund: (request: StoreRefundRequest) =>
      adjust(request, (policy, state, out) =>
        policy.refund(state, request.cost, request.chargedAt, request.now, out, request.lease, request.charged),
      ),
    charge: (request) => adjust(request, (policy, state, out) => policy.charge(state, request.cost, request.now, out)),
    reset: async (request) => {
      if (closed) throw new StoreError('ERR_RK_CLOSED', 'casStore: used after close()')
      await backend.delete(request.policies.map((p, i) => storageKey(p, request.keys[i])))
    },
    close: async () => {
      closed = true
      await backend.close?.()
    },
  }
}
