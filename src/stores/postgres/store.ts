import { LRUCache } from 'lru-cache'
import { afterPendingIo, withDeadline } from '../../limiter/deadline.js'
import { checkInteger } from '../../limiter/errors.js'
import type { Policy, PolicyState, StepOutcome } from '../../limiter/policy.js'
import type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from '../../limiter/store.js'
import { decodeState, planAdjust, planDecision } from '../step-plan.js'
import { type Batch, type Member, type Planner, settle } from './batch.js'
import { DatabaseClock } from './clock.js'
import { Dispatcher } from './dispatcher.js'
import * as fail from './failures.js'
import { type PostgresClock, type PostgresPool, type PostgresStoreOptions, resolveOptions } from './options.js'
import { connectionErrorCode, unwatchPool, watchPool } from './pool-watch.js'
import { type DecideReply, parseDecideReply } from './reply.js'
import { APPLIED, schemaSql, sqlNames, storedKey } from './sql.js'

/** A state as this process last saw it stored (`text` null: absent). */
interface Known {
  readonly text: string | null
  readonly expiresAt: number
}

/** Attempts that may find their states changed before a decision gives up (each is one round trip; the deadline bounds them too). */
const MAX_ATTEMPTS = 256
/** States remembered, to guess the stored ones (a wrong guess costs one more round trip, never a wrong answer). */
const KNOWN_STATES = 10_000
/** Every this many writes, the cleanup sweeps `cleanupPages` heap pages. */
const SWEEP_EVERY = 16
/** Most sweeps' worth of pages one call carries. */
const SWEEP_MOST = 32
/**
 * How long past its deadline a database call may stay unanswered before pg drops its connection,
 * ms. Long enough that an event-loop stall never fails a call whose answer is waiting unread (pg's
 * timer, unlike the deadline, runs before the socket is read), short beside a failover.
 */
const UNANSWERED_GRACE_MS = 5000
/** Deadline of `createSchema()`, ms: far above what it takes, even behind other processes starting. */
const SCHEMA_TIMEOUT_MS = 10_000

/**
 * Keeps limiter state in PostgreSQL, on a `pg` pool.
 *
 * - One round trip per decision, whatever the number of policies: the policies' own TypeScript
 *   steps decide in Node from the states this process last saw, and one call of a PL/pgSQL
 *   function writes the result if, and only if, those are still the stored states (all checks or
 *   none), under per-key transaction locks taken in one order. When they are not, its reply carries
 *   the current states, and the decision is made again from them (one more round trip).
 * - As many calls at once as the pool has connections; requests that wait meanwhile go together
 *   in the next call (decided one after the other, applied all or none), never two calls in
 *   flight on one key while a request waits on the first.
 * - Time from the database's `clock_timestamp()`, so app servers with skewed clocks agree.
 * - Every row has an expiry; per 16 writes a call also sweeps a heap page (about 60 rows) and
 *   deletes its expired rows, so the table stays bounded with no cron to remember.
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
  readonly #known = new LRUCache<string, Known>({ max: KNOWN_STATES })
  readonly #dispatcher: Dispatcher
  readonly #dbClock = new DatabaseClock()
  /** Writes since the last cleanup sweep was sent. */
  #unswept = 0
  /** The heap page the next sweep starts at (moved on when a sweep is sent: two never overlap). */
  #sweepFrom = 0
  #closed = false
  #events: StoreEvents | undefined
  /** A lost connection was reported, and no call has been answered since. */
  #connectionLost = false
  readonly #onPoolError = (error: unknown): void => {
    if (this.#connectionLost || this.#closed) return
    this.#connectionLost = true
    const code = 'RK_POSTGRES_CONNECTION'
    const message = `PostgresStore: a connection of the pool lost PostgreSQL (${connectionErrorCode(error)}); the pool opens another when needed, and the limiter applies onStoreError to calls that fail meanwhile`
    if (this.#events?.warn === undefined) process.emitWarning(message, { code })
    else this.#events.warn({ code, message })
  }

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
    // As many database calls at once as the pool has connections (pg's default: 10).
    const poolMax = (this.pool as { options?: { max?: unknown } }).options?.max
    this.#dispatcher = new Dispatcher({
      maxCalls: typeof poolMax === 'number' && poolMax >= 1 ? Math.min(poolMax, 64) : 10,
      sameNow: this.clock === 'caller',
      send: (batch, now) => this.#send(batch, now),
    })
    // Without an 'error' listener, a pool whose idle connection loses PostgreSQL ends the process.
    watchPool(this.pool, this.#onPoolError)
  }

  attach(events: StoreEvents): void {
    this.#events = events
  }

  /** The SQL that creates the table and its functions (idempotent): what `createSchema()` runs. */
  schemaSql(): string {
    return schemaSql(this.table)
  }

  /**
   * Creates the table and its functions if missing (idempotent; needs CREATE on the schema).
   * Rejects with `ERR_RK_STORE_TIMEOUT` when not done within `timeoutMs` (PostgreSQL gives up then
   * too), so a startup never hangs on a frozen database or a lock held elsewhere.
   * @param options.timeoutMs - deadline, ms (default 10,000)
   */
  async createSchema(options: { timeoutMs?: number } = {}): Promise<void> {
    const where = 'store.createSchema()'
    const given = options?.timeoutMs
    const ms = given === undefined ? SCHEMA_TIMEOUT_MS : checkInteger(where, 'timeoutMs', given, 1, 600_000)
    // One statement list runs as one transaction: the lock makes processes that start together
    // create the schema one after the other (concurrent CREATE … IF NOT EXISTS can collide).
    // Each statement, and each lock wait, ends at the deadline in PostgreSQL too.
    const text = `SET LOCAL lock_timeout = ${ms}; SET LOCAL statement_timeout = ${ms};
SELECT pg_advisory_xact_lock(hashtext('ratekeeper schema'));\n${schemaSql(this.table)}`
    const query = this.pool.query({ text, query_timeout: ms + UNANSWERED_GRACE_MS })
    try {
      await withDeadline(query, ms)
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code
      if (code === 'ERR_RK_STORE_TIMEOUT') throw fail.schemaNotCreatedWithin(ms)
      if (code === '55P03' || code === '57014') throw fail.schemaNotCreatedWithin(ms, error)
      throw error
    }
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

  async reset(request: StoreRequest): Promise<void> {
    // Deletes every check's row, through the same compare-and-set as a decision.
    await this.#run(request, (states) => ({
      allowed: true,
      results: [],
      writes: states.map((_, index) => ({ index, state: undefined, ttlMs: 1 })),
    }))
  }

  /** Stops using the pool (which stays open: it is yours). Calls after close reject with `ERR_RK_CLOSED`. */
  close(): void {
    this.#closed = true
    unwatchPool(this.pool, this.#onPoolError)
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
    return request.policies.map((policy, i) => storedKey(`${policy.id}\n${request.keys[i]}`))
  }

  // Unnamed: a pooler in transaction mode (PgBouncer) can't follow a named statement between its
  // server connections. The text is one short SELECT; the function's plans are cached anyway.
  async #query(text: string, values: unknown[]): Promise<unknown[]> {
    // A call still unanswered well past its deadline (a connection whose network is gone) holds a
    // connection and a call slot for nothing: pg gives up on it (and closes that connection).
    const query_timeout = this.timeoutMs + UNANSWERED_GRACE_MS
    try {
      return (await this.pool.query({ text, values, query_timeout })).rows
    } catch (error) {
      throw fail.callFailed(error, this.table)
    }
  }

  #run(request: StoreRequest, plan: Planner): Promise<StoreResult> {
    if (this.#closed) return Promise.reject(fail.closed())
    return new Promise<StoreResult>((resolve, reject) => {
      // Past the poll phase: an answer read in this turn settles the member first (see afterPendingIo).
      const timer = setTimeout(
        () =>
          afterPendingIo(member.expires, () => {
            settle(member, undefined, fail.noAnswerWithin(this.timeoutMs))
            this.#dispatcher.expired(member)
          }),
        this.timeoutMs,
      )
      const member: Member = {
        keys: this.#keysOf(request),
        policies: request.policies,
        plan,
        now: request.now,
        expires: performance.now() + this.timeoutMs,
        done: false,
        batch: undefined,
        resolve: (result) => {
          clearTimeout(timer)
          resolve(result)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      }
      this.#dispatcher.enqueue(member)
    })
  }

  async #send(batch: Batch, callerNow: number): Promise<void> {
    try {
      await this.#decide(batch, callerNow)
    } catch (error) {
      for (const member of batch.members) settle(member, undefined, error)
    }
  }

  async #decide(batch: Batch, callerNow: number): Promise<void> {
    const { keys } = batch
    const n = keys.length
    const caller = this.clock === 'caller'
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const members = batch.members.filter((m) => !m.done)
      if (members.length === 0) return
      const wall = Date.now()
      const dbNow = this.#dbClock.now(wall)
      // Whole ms: the database takes the time as bigint (a caller's clock may tell fractions).
      const at = caller ? Math.floor(callerNow) : dbNow
      const expected: (string | null)[] = []
      const states: (PolicyState | undefined)[] = []
      for (let i = 0; i < n; i++) {
        const known = this.#known.get(keys[i])
        const text = known === undefined || known.text === null || known.expiresAt <= at ? null : known.text
        expected.push(text)
        states.push(text === null ? undefined : decodeState(batch.policies[i], text))
      }
      // Without the database's time yet, the first call only reads it (and the states).
      const planned = at < 0 ? undefined : batch.plan(states, at, this.extraTtlMs)
      const write = planned?.write ?? new Array<boolean>(n).fill(false)
      const sweep = planned !== undefined && planned.writes > 0 ? this.#sweepSize(planned.writes) : 0
      const sweepFrom = this.#sweepFrom
      this.#sweepFrom += sweep
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
        sweepFrom,
        sweep,
      ]
      let rows: unknown[]
      try {
        rows = await this.#query(this.#decideSql, values)
      } catch (error) {
        this.#notApplied(sweep, planned?.writes ?? 0)
        // Under REPEATABLE READ or SERIALIZABLE (a database's or role's default) the call's
        // snapshot predates the key locks it waited for: a write made meanwhile fails it. It wrote
        // nothing, so it is decided again, as a call that finds its states changed.
        if (fail.isSerializationFailure(error)) continue
        throw error
      }
      this.#connectionLost = false
      const reply = parseDecideReply(rows, n)
      if (reply?.applied !== APPLIED.done) this.#notApplied(sweep, planned?.writes ?? 0)
      if (reply === undefined) throw fail.unexpectedReply()
      this.#dbClock.sample(reply.nowMs, Date.now(), reply.applied === APPLIED.clock && at >= 0)
      if (reply.applied === APPLIED.done && planned !== undefined) {
        // Past the table's last page: start over.
        if (sweep > 0 && reply.sweptTo === 0) this.#sweepFrom = 0
        for (let i = 0; i < n; i++) if (write[i]) this.#known.set(keys[i], { text: planned.next[i], expiresAt: at + planned.ttls[i] })
        for (const { member, plan } of planned.planned)
          settle(
            member,
            plan.reason === undefined
              ? { allowed: plan.allowed, now: at, results: plan.results }
              : { allowed: plan.allowed, now: at, results: plan.results, reason: plan.reason },
          )
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
   * Heap pages the sweep a call with `writes` writes carries looks at (0: none): `cleanupPages`
   * per 16 writes since the last sweep, so the rows looked at keep pace with the writes.
   */
  #sweepSize(writes: number): number {
    this.#unswept += writes
    if (this.cleanupPages === 0 || this.#unswept < SWEEP_EVERY) return 0
    const batches = Math.min(SWEEP_MOST, Math.floor(this.#unswept / SWEEP_EVERY))
    this.#unswept -= batches * SWEEP_EVERY
    return this.cleanupPages * batches
  }

  /** A call that wrote nothing: the sweep it carried is owed by the next write, and its writes are counted again when it is sent again. */
  #notApplied(sweep: number, writes: number): void {
    if (sweep > 0) this.#unswept += (sweep / this.cleanupPages) * SWEEP_EVERY
    this.#unswept -= writes
  }

  /** Remembers the stored states a refused call answered with. */
  #learn(keys: readonly string[], reply: DecideReply): void {
    const { states, expires } = reply
    if (states === null || expires === null) return
    for (let i = 0; i < keys.length; i++) this.#known.set(keys[i], { text: states[i], expiresAt: expires[i] ?? 0 })
  }
}
