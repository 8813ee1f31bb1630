import { LRUCache } from 'lru-cache'
import type { Policy, PolicyState, StepOutcome } from '../../limiter/policy.js'
import type { Store, StoreRefundRequest, StoreRequest, StoreResult } from '../../limiter/store.js'
import { decodeState, encodeState, planAdjust, planDecision, type StepPlan } from '../step-plan.js'
import { DatabaseClock } from './clock.js'
import * as fail from './failures.js'
import { KeyLocks } from './key-locks.js'
import { type PostgresClock, type PostgresPool, type PostgresStoreOptions, resolveOptions } from './options.js'
import { type DecideReply, parseDecideReply } from './reply.js'
import { APPLIED, schemaSql, sqlNames } from './sql.js'

/** A state as this process last saw it stored (`text` null: absent). */
interface Known {
  readonly text: string | null
  readonly expiresAt: number
}

/** One call's deadline, `performance.now()` ms; `expired` once its timer fired. */
interface Deadline {
  readonly expires: number
  expired: boolean
}

/** How a call plans its writes from the states it assumes, decided at `at`. */
type Planner = (states: readonly (PolicyState | undefined)[], at: number) => StepPlan

/** Decisions in a row that may find their states changed before one gives up (each is one round trip). */
const MAX_ATTEMPTS = 32
/** States remembered, to guess the stored ones (a wrong guess costs one more round trip, never a wrong answer). */
const KNOWN_STATES = 10_000
/** One write in this many carries a cleanup sweep of `cleanupPages` rows. */
const SWEEP_EVERY = 16
/** Most batches one sweep makes up for (writes made while the previous sweep was in flight). */
const SWEEP_CATCH_UP = 8

/**
 * Keeps limiter state in PostgreSQL, on a `pg` pool.
 *
 * - One round trip per decision, whatever the number of policies: the policies' own TypeScript
 *   steps decide in Node from the states this process last saw, and one call of a PL/pgSQL
 *   function writes the result if, and only if, those are still the stored states (all checks or
 *   none), under per-key transaction locks taken in one order. When they are not, its reply carries
 *   the current states, and the decision is made again from them (one more round trip).
 * - Time from the database's `clock_timestamp()`, so app servers with skewed clocks agree.
 * - Every row has an expiry; every 16th write also sweeps a heap page (about 60 rows) and deletes
 *   its expired rows, so the table stays bounded with no cron to remember.
 * - Every call has a deadline (`timeoutMs`), locks are waited for no longer, and a call the
 *   database only reaches after its deadline writes nothing. The store never decides to allow:
 *   failures reject with a `StoreError` and the limiter applies its `onStoreError`.
 *
 * @example
 * import pg from 'pg'
 * const store = new PostgresStore({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) })
 * await store.createSchema()
 * const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 100, window: '1m' })] })
 */
export class PostgresStore implements Store {
  readonly pool: PostgresPool
  readonly table: string
  readonly timeoutMs: number
  readonly clock: PostgresClock
  readonly cleanupPages: number
  readonly extraTtlMs: number
  readonly #decideSql: string
  readonly #resetSql: string
  readonly #statement: string
  readonly #known = new LRUCache<string, Known>({ max: KNOWN_STATES })
  readonly #locks = new KeyLocks()
  readonly #dbClock = new DatabaseClock()
  /** Writes since the last cleanup sweep was sent. */
  #unswept = 0
  /** A sweep is in flight: the next starts where it ends, so two never look at the same rows. */
  #sweeping = false
  /** The heap page the next sweep starts at. */
  #sweepFrom = 0
  #closed = false

  constructor(options: PostgresStoreOptions) {
    const settings = resolveOptions(options)
    this.pool = settings.pool
    this.table = settings.table
    this.timeoutMs = settings.timeoutMs
    this.clock = settings.clock
    this.cleanupPages = settings.cleanupPages
    this.extraTtlMs = settings.extraTtlMs
    const names = sqlNames(this.table)
    this.#decideSql = `SELECT * FROM ${names.decide}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
    this.#resetSql = `SELECT ${names.reset}($1, $2)`
    this.#statement = `rk_decide_${this.table}`
  }

  /** The SQL that creates the table and its functions (idempotent): what `createSchema()` runs. */
  schemaSql(): string {
    return schemaSql(this.table)
  }

  /** Creates the table and its functions if missing (idempotent; needs CREATE on the schema). */
  async createSchema(): Promise<void> {
    await this.pool.query({ text: schemaSql(this.table) })
  }

  consume(request: StoreRequest): Promise<StoreResult> {
    return this.#run(request, (states, at) => planDecision(request, states, true, at))
  }

  peek(request: StoreRequest): Promise<StoreResult> {
    return this.#run(request, (states, at) => planDecision(request, states, false, at))
  }

  refund(request: StoreRefundRequest): Promise<StoreResult> {
    const { cost, chargedAt, lease, charged } = request
    return this.#adjust(request, (policy, state, at, out) => policy.refund(state, cost, chargedAt, at, out, lease, charged))
  }

  /** Charges `cost` to every check whatever its state (debt allowed), admitting always: `limiter.settle`'s extra. */
  charge(request: StoreRequest): Promise<StoreResult> {
    return this.#adjust(request, (policy, state, at, out) => policy.charge(state, request.cost, at, out))
  }

  reset(request: StoreRequest): Promise<void> {
    return this.#deadlined(async (deadline) => {
      const keys = this.#keysOf(request)
      const release = await this.#locks.acquire(keys)
      try {
        if (deadline.expired) return
        await this.#query(this.#resetSql, [keys, this.#lockMs(deadline)])
        for (const key of keys) this.#known.set(key, { text: null, expiresAt: 0 })
      } finally {
        release()
      }
    })
  }

  /** Stops using the pool (which stays open: it is yours). Calls after close reject with `ERR_RK_CLOSED`. */
  close(): void {
    this.#closed = true
    this.#known.clear()
  }

  #adjust(
    request: StoreRequest,
    apply: (policy: Policy, state: PolicyState | undefined, at: number, out: StepOutcome) => void,
  ): Promise<StoreResult> {
    return this.#run(request, (states, at) => planAdjust(request.policies, states, (p, s, out) => apply(p, s, at, out)))
  }

  #keysOf(request: StoreRequest): string[] {
    // The policy id has no newline, so `id \n subject` never collides for different pairs.
    return request.policies.map((policy, i) => `${policy.id}\n${request.keys[i]}`)
  }

  #lockMs(deadline: Deadline): number {
    return Math.max(1, Math.ceil(deadline.expires - performance.now()))
  }

  /** Runs `work` under the store's deadline: rejects with `ERR_RK_STORE_TIMEOUT` when it passes. */
  #deadlined<T>(work: (deadline: Deadline) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(fail.closed())
    return new Promise<T>((resolve, reject) => {
      const deadline: Deadline = { expires: performance.now() + this.timeoutMs, expired: false }
      const timer = setTimeout(() => {
        deadline.expired = true
        reject(fail.noAnswerWithin(this.timeoutMs))
      }, this.timeoutMs)
      work(deadline).then(
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

  async #query(text: string, values: unknown[], name?: string): Promise<unknown[]> {
    try {
      return (await this.pool.query(name === undefined ? { text, values } : { name, text, values })).rows
    } catch (error) {
      throw fail.callFailed(error, this.table)
    }
  }

  #run(request: StoreRequest, plan: Planner): Promise<StoreResult> {
    return this.#deadlined(async (deadline) => {
      const keys = this.#keysOf(request)
      const release = await this.#locks.acquire(keys)
      try {
        return await this.#decide(request, keys, plan, deadline)
      } finally {
        release()
      }
    })
  }

  async #decide(request: StoreRequest, keys: readonly string[], plan: Planner, deadline: Deadline): Promise<StoreResult> {
    const n = keys.length
    const caller = this.clock === 'caller'
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      if (deadline.expired) throw fail.noAnswerWithin(this.timeoutMs)
      const wall = Date.now()
      const dbNow = this.#dbClock.now(wall)
      const at = caller ? request.now : dbNow
      const expected: (string | null)[] = []
      const states: (PolicyState | undefined)[] = []
      for (let i = 0; i < n; i++) {
        const known = this.#known.get(keys[i])
        const text = known === undefined || known.text === null || known.expiresAt <= at ? null : known.text
        expected.push(text)
        states.push(text === null ? undefined : decodeState(request.policies[i], text))
      }
      // Without the database's time yet, the first call only reads it (and the states).
      const planned = at < 0 ? undefined : plan(states, at)
      const write: boolean[] = new Array(n).fill(false)
      const next: (string | null)[] = new Array(n).fill(null)
      const ttls: number[] = new Array(n).fill(0)
      for (const w of planned?.writes ?? []) {
        write[w.index] = true
        next[w.index] = w.state === undefined ? null : encodeState(w.state)
        ttls[w.index] = w.ttlMs + this.extraTtlMs
      }
      const sweep = planned !== undefined && planned.writes.length > 0 ? this.#sweepSize() : 0
      const lockMs = this.#lockMs(deadline)
      const values = [keys, expected, write, next, ttls, at, caller, dbNow < 0 ? 0 : dbNow + lockMs, lockMs, this.#sweepFrom, sweep]
      let rows: unknown[]
      try {
        rows = await this.#query(this.#decideSql, values, this.#statement)
      } finally {
        if (sweep > 0) this.#sweeping = false
      }
      const swept = sweep > 0 && rows.length === 1 && (rows[0] as { applied?: unknown }).applied === APPLIED.done
      // A sweep that did not run (the call was refused) is owed by the next write.
      if (sweep > 0 && !swept) this.#unswept += (sweep / this.cleanupPages) * SWEEP_EVERY
      const reply = parseDecideReply(rows, n)
      if (reply === undefined) throw fail.unexpectedReply()
      this.#dbClock.sample(reply.nowMs, Date.now(), reply.applied === APPLIED.clock && at >= 0)
      // The database reached the call after its deadline (a pool that had no free connection).
      if (reply.applied === APPLIED.late) throw fail.noAnswerWithin(this.timeoutMs)
      if (reply.applied === APPLIED.done && planned !== undefined) {
        if (sweep > 0) this.#sweepFrom = reply.sweptTo ?? 0
        for (let i = 0; i < n; i++) if (write[i]) this.#known.set(keys[i], { text: next[i], expiresAt: at + ttls[i] })
        return { allowed: planned.allowed, now: at, results: planned.results }
      }
      this.#learn(keys, reply)
    }
    throw fail.gaveUp(MAX_ATTEMPTS)
  }

  /**
   * Heap pages the sweep this write carries looks at (0: none): `cleanupPages` per 16 writes since
   * the last sweep, one sweep in flight at a time, so the rows looked at keep pace with the writes.
   */
  #sweepSize(): number {
    this.#unswept++
    if (this.cleanupPages === 0 || this.#sweeping || this.#unswept < SWEEP_EVERY) return 0
    this.#sweeping = true
    const batches = Math.min(SWEEP_CATCH_UP, Math.floor(this.#unswept / SWEEP_EVERY))
    this.#unswept -= batches * SWEEP_EVERY
    return this.cleanupPages * batches
  }

  /** Remembers the stored states a refused call answered with. */
  #learn(keys: readonly string[], reply: DecideReply): void {
    const { states, expires } = reply
    if (states === null || expires === null) return
    for (let i = 0; i < keys.length; i++) this.#known.set(keys[i], { text: states[i], expiresAt: expires[i] ?? 0 })
  }
}
