import { LRUCache } from 'lru-cache'
import type { Policy, PolicyState, StepOutcome } from '../../limiter/policy.js'
import type { Store, StoreRefundRequest, StoreRequest, StoreResult } from '../../limiter/store.js'
import { decodeState, planAdjust, planDecision } from '../step-plan.js'
import { type Batch, type Member, type Planner, planBatch, settle } from './batch.js'
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

/** Attempts that may find their states changed before a decision gives up (each is one round trip; the deadline bounds them too). */
const MAX_ATTEMPTS = 256
/** States remembered, to guess the stored ones (a wrong guess costs one more round trip, never a wrong answer). */
const KNOWN_STATES = 10_000
/** One write in this many carries a cleanup sweep of `cleanupPages` rows. */
const SWEEP_EVERY = 16
/** Most batches one sweep makes up for (writes made while the previous sweep was in flight). */
const SWEEP_CATCH_UP = 8
/** Most calls one batch carries. */
const MAX_BATCH = 128

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
  /** Batches waiting for their keys, by the keys: calls on the same keys join them. */
  readonly #open = new Map<string, Batch>()
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
    // One statement list runs as one transaction: the lock makes processes that start together
    // create the schema one after the other (concurrent CREATE … IF NOT EXISTS can collide).
    await this.pool.query({ text: `SELECT pg_advisory_xact_lock(hashtext('ratekeeper schema'));\n${schemaSql(this.table)}` })
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
    if (this.#closed) return Promise.reject(fail.closed())
    const keys = this.#keysOf(request)
    // With the caller's clock, only calls made at the same time share a batch.
    const signature = this.clock === 'caller' ? `${keys.join('\u0000')}\u0000${request.now}` : keys.join('\u0000')
    return new Promise<StoreResult>((resolve, reject) => {
      const member: Member = { plan, expires: performance.now() + this.timeoutMs, done: false, resolve, reject }
      const timer = setTimeout(() => settle(member, undefined, fail.noAnswerWithin(this.timeoutMs)), this.timeoutMs)
      member.resolve = (result) => {
        clearTimeout(timer)
        resolve(result)
      }
      member.reject = (error) => {
        clearTimeout(timer)
        reject(error)
      }
      const open = this.#open.get(signature)
      if (open !== undefined && open.members.length < MAX_BATCH) {
        open.members.push(member)
        return
      }
      const batch: Batch = { keys, policies: request.policies, members: [member] }
      this.#open.set(signature, batch)
      this.#runBatch(batch, signature, request.now)
    })
  }

  async #runBatch(batch: Batch, signature: string, callerNow: number): Promise<void> {
    const release = await this.#locks.acquire(batch.keys)
    // From here on the batch takes no more members: the next calls on these keys start another.
    if (this.#open.get(signature) === batch) this.#open.delete(signature)
    try {
      await this.#decide(batch, callerNow)
    } catch (error) {
      for (const member of batch.members) settle(member, undefined, error)
    } finally {
      release()
    }
  }

  async #decide(batch: Batch, callerNow: number): Promise<void> {
    const { keys } = batch
    const n = keys.length
    const caller = this.clock === 'caller'
    let members = batch.members
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      members = members.filter((m) => !m.done)
      if (members.length === 0) return
      const wall = Date.now()
      const dbNow = this.#dbClock.now(wall)
      const at = caller ? callerNow : dbNow
      const expected: (string | null)[] = []
      const states: (PolicyState | undefined)[] = []
      for (let i = 0; i < n; i++) {
        const known = this.#known.get(keys[i])
        const text = known === undefined || known.text === null || known.expiresAt <= at ? null : known.text
        expected.push(text)
        states.push(text === null ? undefined : decodeState(batch.policies[i], text))
      }
      // Without the database's time yet, the first call only reads it (and the states).
      const planned = at < 0 ? undefined : planBatch(members, states, at, this.extraTtlMs)
      const write = planned?.write ?? new Array<boolean>(n).fill(false)
      const sweep = planned !== undefined && planned.writes > 0 ? this.#sweepSize() : 0
      // The earliest deadline of the batch: the database writes nothing after it.
      const earliest = Math.min(...members.map((m) => m.expires))
      const lockMs = Math.max(1, Math.ceil(earliest - performance.now()))
      const values = [
        keys,
        expected,
        write,
        planned?.next ?? new Array(n).fill(null),
        planned?.ttls ?? new Array(n).fill(0),
        at,
        caller,
        dbNow < 0 ? 0 : dbNow + lockMs,
        lockMs,
        this.#sweepFrom,
        sweep,
      ]
      let rows: unknown[]
      try {
        rows = await this.#query(this.#decideSql, values, this.#statement)
      } finally {
        if (sweep > 0) this.#sweeping = false
      }
      const reply = parseDecideReply(rows, n)
      // A sweep that did not run (the call was refused) is owed by the next write.
      if (sweep > 0 && reply?.applied !== APPLIED.done) this.#unswept += (sweep / this.cleanupPages) * SWEEP_EVERY
      if (reply === undefined) throw fail.unexpectedReply()
      this.#dbClock.sample(reply.nowMs, Date.now(), reply.applied === APPLIED.clock && at >= 0)
      if (reply.applied === APPLIED.done && planned !== undefined) {
        if (sweep > 0) this.#sweepFrom = reply.sweptTo ?? 0
        for (let i = 0; i < n; i++) if (write[i]) this.#known.set(keys[i], { text: planned.next[i], expiresAt: at + planned.ttls[i] })
        for (let j = 0; j < members.length; j++) {
          settle(members[j], { allowed: planned.plans[j].allowed, now: at, results: planned.plans[j].results })
        }
        return
      }
      // The database reached the call after the earliest deadline (a pool with no free
      // connection): those calls have failed; the others try again.
      if (reply.applied === APPLIED.late)
        for (const m of members) if (m.expires <= earliest) settle(m, undefined, fail.noAnswerWithin(this.timeoutMs))
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
