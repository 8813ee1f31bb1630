import { LOOK } from '../limiter/algorithms/concurrency.js'
import { blockReasonOf } from '../limiter/algorithms/penalty-box.js'
import { checkInteger, checkKnownOptions, checkOptionsObject, invalid, StoreError } from '../limiter/errors.js'
import type { Policy, PolicyState, StepOutcome } from '../limiter/policy.js'
import { newOutcome } from '../limiter/policy.js'
import type { Store, StoreRefundRequest, StoreRequest, StoreResult } from '../limiter/store.js'

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

function encodeState(state: PolicyState): string {
  return typeof state === 'number' ? String(state) : state.join(',')
}

function decodeState(policy: Policy, text: string): PolicyState {
  return policy.kind === 'token-bucket' ? Number(text) : text.split(',').map(Number)
}

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

  const decide = async (request: StoreRequest, charge: boolean): Promise<StoreResult> => {
    const { policies, cost, now } = request
    const n = policies.length
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const { keys, found, states } = await read(request)
      const outs: StepOutcome[] = policies.map(() => newOutcome())
      // Shadow checks never deny; they are written only when every check, shadow ones too, admits.
      let allowed = true
      let boxed = false
      let shadowsAdmit = true
      for (let i = 0; i < n; i++) {
        policies[i].step(states[i], cost, now, outs[i], request.lease ?? (charge ? undefined : LOOK))
        if (!outs[i].allowed) {
          if (policies[i].shadow) shadowsAdmit = false
          else if (policies[i].offence !== undefined) boxed = true
          else allowed = false
        }
      }
      // Denied by a policy other than a penalty box: an offence for every box that admitted.
      const offended = charge && !allowed && cost > 0
      allowed &&= !boxed
      const results = new Array<number>(3 * n)
      // A consume with a lease writes its concurrency checks whatever the cost (a slot is not a cost).
      if (charge && allowed && (cost > 0 || request.lease !== undefined)) {
        const writes: CasWrite[] = []
        for (let i = 0; i < n; i++) {
          const out = outs[i]
          if (policies[i].shadow && !shadowsAdmit) {
            // Not charged: report its uncharged state, as an admitting check of a denial does.
            if (out.allowed) policies[i].step(states[i], 0, now, out)
            continue
          }
          if (cost === 0 && policies[i].kind !== 'concurrency') continue
          writes.push({
            key: keys[i],
            expected: found[i]?.version,
            value: out.state === undefined ? undefined : encodeState(out.state),
            ttlMs: Math.max(1, out.ttlMs),
          })
        }
        if (!(await backend.commit(writes))) continue
      } else {
        const writes: CasWrite[] = []
        for (let i = 0; i < n; i++) {
          const offence = policies[i].offence
          if (offended && outs[i].allowed && offence !== undefined) {
            offence(states[i], now, outs[i])
            const state = outs[i].state
            writes.push({
              key: keys[i],
              expected: found[i]?.version,
              value: state === undefined ? undefined : encodeState(state),
              ttlMs: Math.max(1, outs[i].ttlMs),
            })
          } else if (outs[i].allowed && (cost > 0 || request.lease !== undefined)) policies[i].step(states[i], 0, now, outs[i])
        }
        if (writes.length > 0 && !(await backend.commit(writes))) continue
      }
      let reason: string | undefined
      for (let i = 0; i < n; i++) {
        results[3 * i] = outs[i].remaining
        results[3 * i + 1] = outs[i].resetAt
        results[3 * i + 2] = outs[i].allowed ? 0 : outs[i].retryAfterMs
        // A box that denied with a block by hand: its reason (the state read; a denial writes no such block).
        if (reason === undefined && !outs[i].allowed && policies[i].kind === 'penalty-box' && !policies[i].shadow)
          reason = blockReasonOf(states[i], now)
      }
      return reason === undefined ? { allowed, now, results } : { allowed, now, results, reason }
    }
    throw new StoreError('ERR_RK_STORE', `casStore: gave up after ${maxAttempts} compare-and-set conflicts`)
  }

  /** A refund or a charge: every check's state changed by `apply`, which always admits. */
  const adjust = async (
    request: StoreRequest,
    apply: (policy: Policy, state: PolicyState | undefined, out: StepOutcome) => void,
  ): Promise<StoreResult> => {
    const { policies, now } = request
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const { keys, found, states } = await read(request)
      const results: number[] = []
      const writes: CasWrite[] = []
      for (let i = 0; i < policies.length; i++) {
        const out = newOutcome()
        apply(policies[i], states[i], out)
        results.push(out.remaining, out.resetAt, 0)
        if (found[i] !== undefined || out.state !== undefined) {
          writes.push({
            key: keys[i],
            expected: found[i]?.version,
            value: out.state === undefined ? undefined : encodeState(out.state),
            ttlMs: Math.max(1, out.ttlMs),
          })
        }
      }
      if (writes.length === 0 || (await backend.commit(writes))) return { allowed: true, now, results }
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
