import { checkInteger, checkKnownOptions, checkOptionsObject, invalid, StoreError } from '../limiter/errors.js'
import type { Policy, PolicyState, StepOutcome } from '../limiter/policy.js'
import type { Store, StoreRefundRequest, StoreRequest, StoreResult } from '../limiter/store.js'
import { decodeState, encodeState, type PlannedWrite, planAdjust, planDecision, type StepPlan } from './step-plan.js'

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

/** How long a batch in flight holds back the next batch for the same tag, ms (see `casStore`'s `running`). */
const STALL_MS = 1000

type Versioned = CasBackend.Versioned
type CasWrite = CasBackend.Write

/** A call (`consume`, `peek`, `refund`, `charge`) waiting to be decided with the others of its batch. */
interface Pending {
  readonly request: StoreRequest
  /** The storage key of each of the request's checks. */
  readonly keys: readonly string[]
  /** What the call does to the states read (as they stand after the calls before it in the batch). */
  readonly plan: (states: readonly (PolicyState | undefined)[]) => StepPlan
  readonly resolve: (answer: StoreResult) => void
  readonly reject: (error: unknown) => void
}

/** Options of {@link casStore}. */
export interface CasStoreOptions {
  backend: CasBackend
  /** Prefix of every key written. @default 'rk' */
  prefix?: string
  /**
   * Attempts when another process wins the compare-and-set, before failing with `ERR_RK_STORE`
   * (calls of this process for one subject or team are decided together and never race). @default 16
   */
  maxAttempts?: number
}

const KNOWN = { backend: true, prefix: true, maxAttempts: true } as const

/**
 * Turns any key-value store with versioned reads and an atomic multi-key compare-and-set into a
 * ratekeeper {@link Store}, running the same step functions as the memory store (no algorithm
 * is re-implemented). Each decision reads the request's keys, decides, and commits the new
 * states if nobody wrote them meanwhile, retrying otherwise; calls made together for one subject
 * or team (one placement tag) are decided in one read and one commit, one after another.
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
  if (backend.close !== undefined && typeof backend.close !== 'function')
    invalid(where, 'backend.close', 'must be a function, or be left out', backend.close)
  const prefix = options.prefix === undefined ? 'rk' : options.prefix
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 64)
    invalid(where, 'prefix', 'must be a string of 1-64 characters', prefix)
  const maxAttempts = options.maxAttempts === undefined ? 16 : checkInteger(where, 'maxAttempts', options.maxAttempts, 1, 1000)
  let closed = false

  // The policy id has no newline, so `id \n subject` never collides for different pairs.
  const storageKey = (policy: Policy, subject: string) => `${prefix}:${policy.id}\n${subject}`

  const toWrites = (writes: readonly PlannedWrite[], keys: readonly string[], found: readonly (Versioned | undefined)[]): CasWrite[] =>
    writes.map((w) => ({
      key: keys[w.index],
      expected: found[w.index]?.version,
      value: w.state === undefined ? undefined : encodeState(w.state),
      ttlMs: w.ttlMs,
    }))

  /**
   * Calls of this process that share a tag (a subject, or a team and its members: the keys one
   * request may combine), waiting for the batch in flight for that tag to end: at most one batch in
   * flight and one forming per tag. Calls made together on the same keys would otherwise conflict
   * with each other (one winner per round), and after `maxAttempts` rounds fail as a store error,
   * which `onStoreError: 'allow'` admits: a burst beyond the limit let through, or a settled cost
   * never charged.
   */
  const forming = new Map<string, Pending[]>()
  /** The batch in flight per tag: when it started (`performance.now()` ms). */
  const running = new Map<string, { readonly since: number }>()
  /** Timers that start a forming batch behind a batch in flight that has stalled. */
  const stallTimers = new Map<string, ReturnType<typeof setTimeout>>()

  const decide = (request: StoreRequest, plan: Pending['plan']): Promise<StoreResult> => {
    if (closed) return Promise.reject(new StoreError('ERR_RK_CLOSED', 'casStore: used after close()'))
    const keys = request.policies.map((p, i) => storageKey(p, request.keys[i]))
    const lane = String(request.tag)
    return new Promise<StoreResult>((resolve, reject) => {
      let batch = forming.get(lane)
      if (batch === undefined) {
        batch = []
        forming.set(lane, batch)
        const current = running.get(lane)
        // Started after this turn's other calls joined it, or when the batch in flight ends.
        if (current === undefined) queueMicrotask(() => start(lane))
        else {
          // A batch whose backend call is never answered must not hold these calls for ever:
          // after STALL_MS the next one goes ahead (compare-and-set keeps the two exact).
          const timer = setTimeout(() => start(lane), Math.max(0, current.since + STALL_MS - performance.now()))
          timer.unref?.()
          stallTimers.set(lane, timer)
        }
      }
      batch.push({ request, keys, plan, resolve, reject })
    })
  }

  /** Decides the batch formed for `lane`, then starts the next one if calls joined meanwhile. */
  const start = (lane: string): void => {
    const batch = forming.get(lane)
    forming.delete(lane)
    const timer = stallTimers.get(lane)
    if (timer !== undefined) {
      clearTimeout(timer)
      stallTimers.delete(lane)
    }
    if (batch === undefined) return
    const run = { since: performance.now() }
    running.set(lane, run)
    decideAll(batch)
      .catch((error: unknown) => {
        for (const p of batch) p.reject(error)
      })
      .finally(() => {
        // A stalled batch that ends after the next one started leaves that one alone.
        if (running.get(lane) !== run) return
        running.delete(lane)
        if (forming.has(lane)) start(lane)
      })
  }

  /**
   * Decides a batch of calls as if one after another: one read of all their keys, each call
   * planned on the states the ones before it left, one compare-and-set of the last state of each
   * key written (all of it again after a conflict with another process).
   */
  const decideAll = async (batch: readonly Pending[]): Promise<void> => {
    // Every key of the batch once, with the policy that reads its state; each call's keys by position.
    const position = new Map<string, number>()
    const keys: string[] = []
    const readers: Policy[] = []
    const slots = batch.map((p) =>
      p.keys.map((key, i) => {
        let at = position.get(key)
        if (at === undefined) {
          at = keys.length
          position.set(key, at)
          keys.push(key)
          readers.push(p.request.policies[i])
        }
        return at
      }),
    )
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (closed) throw new StoreError('ERR_RK_CLOSED', 'casStore: used after close()')
      const found = await backend.get(keys)
      const states = found.map((v, i) => (v === undefined ? undefined : decodeState(readers[i], v.value)))
      const last = new Map<number, PlannedWrite>()
      const answers: (StoreResult | Error)[] = []
      batch.forEach(({ request, plan: planOf }, j) => {
        const own = slots[j]
        let plan: StepPlan
        try {
          plan = planOf(own.map((at) => states[at]))
        } catch (error) {
          // This call alone is refused (a bad request); the others are decided as if it was not made.
          answers.push(error as Error)
          return
        }
        for (const w of plan.writes) {
          states[own[w.index]] = w.state
          last.set(own[w.index], { index: own[w.index], state: w.state, ttlMs: w.ttlMs })
        }
        const answer: StoreResult = { allowed: plan.allowed, now: request.now, results: plan.results }
        answers.push(plan.reason === undefined ? answer : { ...answer, reason: plan.reason })
      })
      const writes = [...last.values()].sort((a, b) => a.index - b.index)
      if (writes.length > 0 && !(await backend.commit(toWrites(writes, keys, found)))) continue
      batch.forEach((p, i) => {
        const answer = answers[i]
        if (answer instanceof Error) p.reject(answer)
        else p.resolve(answer)
      })
      return
    }
    throw new StoreError('ERR_RK_STORE', `casStore: gave up after ${maxAttempts} compare-and-set conflicts`)
  }

  /** A refund or a charge: every check's state changed by `apply`, which always admits. */
  const adjust = (request: StoreRequest, apply: (policy: Policy, state: PolicyState | undefined, out: StepOutcome) => void) =>
    decide(request, (states) => planAdjust(request.policies, states, apply))

  return {
    consume: (request) => decide(request, (states) => planDecision(request, states, true, request.now)),
    peek: (request) => decide(request, (states) => planDecision(request, states, false, request.now)),
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
