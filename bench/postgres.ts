// PostgreSQL section: ratekeeper's PostgresStore against rate-limiter-flexible's
// RateLimiterPostgres, on the same database (DATABASE_URL, a schema of its own, dropped after),
// 64 requests in flight per contender on a pool of 16 connections, interleaved rounds, wall-clock
// time (the database is the bottleneck, not this process). Also per decision: round trips
// (queries sent), rows written (and so row-locked until commit, from pg_stat_user_tables), and
// the hot key, from one process and from two stores racing (two processes' worth of guesses).

import { cpus, loadavg } from 'node:os'
import pg from 'pg'
import { RateLimiterPostgres } from 'rate-limiter-flexible'
import { createLimiter, fixedWindow, type Limiter, slidingWindow, tokenBucket } from 'ratekeeper'
import { PostgresStore } from 'ratekeeper/postgres'
import { type Contender, inFlight, num, progress, table, timeRounds } from './stats.js'
import type { BenchSection } from './types.js'

const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const IN_FLIGHT = 64
const POOL = 16
const KEYS = 10_000
const OPS = Number(process.env.RK_BENCH_PG_OPS ?? 3000)
const ROUNDS = Number(process.env.RK_BENCH_ROUNDS ?? 5)
const HUGE = 1_000_000_000

const RK1 = 'ratekeeper `consume`, 1 policy (tokenBucket)'
const RK3 = 'ratekeeper `consume`, 3 policies (tokenBucket + fixedWindow + slidingWindow)'
const RKH = 'ratekeeper `consume`, 1 policy, one hot key'
const RLF = 'rate-limiter-flexible `RateLimiterPostgres.consume`'
const RLFH = 'rate-limiter-flexible `RateLimiterPostgres.consume`, one hot key'

/** Counts the queries sent through `pool` (each checks a connection out: pg's 'acquire' event). */
function counting(pool: pg.Pool): pg.Pool & { count: number } {
  const counted = Object.assign(pool, { count: 0 })
  pool.on('acquire', () => counted.count++)
  return counted
}

interface Contenders {
  contenders: Contender[]
  one: Map<string, { op: () => Promise<unknown>; table: string; queries: () => number }>
  errors: () => number
}

async function setup(schema: string, pools: pg.Pool[]): Promise<Contenders> {
  const newPool = () => {
    const p = new pg.Pool({ connectionString: URL, max: POOL, idleTimeoutMillis: IDLE_MS })
    pools.push(p)
    return p
  }
  let errors = 0
  let n = 0
  const key = () => `user-${n++ % KEYS}`
  const rk = async (name: string, policies: Parameters<typeof createLimiter>[0]['policies']) => {
    const pool = counting(newPool())
    const store = new PostgresStore({ pool, table: `${schema}.${name}`, timeoutMs: 2000 })
    await store.createSchema()
    const limiter: Limiter = createLimiter({ store, policies })
    limiter.on('store-error', () => errors++)
    return { limiter, pool }
  }
  // A bucket refilling 100 an hour with a huge burst: never denies, and its state lives while
  // its key comes round again (as a real limit's does), so decisions update rows rather than
  // insert them.
  const bucket = () => tokenBucket({ name: 'tb', limit: 100, window: '1h', burst: HUGE })
  const rk1 = await rk('rk1', [bucket()])
  const rk3 = await rk('rk3', [
    bucket(),
    fixedWindow({ name: 'fw', limit: HUGE, window: '1h' }),
    slidingWindow({ name: 'sw', limit: HUGE, window: '1h' }),
  ])
  const rkh = await rk('rkh', [bucket()])
  const rlfPool = counting(newPool())
  const rlf = await new Promise<RateLimiterPostgres>((resolve, reject) => {
    const limiter: RateLimiterPostgres = new RateLimiterPostgres(
      { storeClient: rlfPool, schemaName: schema, tableName: 'rlf', points: HUGE, duration: 3600, clearExpiredByTimeout: false },
      (error?: Error) => (error ? reject(error) : resolve(limiter)),
    )
  })
  const one = new Map([
    [RK1, { op: () => rk1.limiter.consume(key()), table: 'rk1', queries: () => rk1.pool.count }],
    [RK3, { op: () => rk3.limiter.consume(key()), table: 'rk3', queries: () => rk3.pool.count }],
    [RKH, { op: () => rkh.limiter.consume('hot'), table: 'rkh', queries: () => rkh.pool.count }],
    [RLF, { op: () => rlf.consume(key()), table: 'rlf', queries: () => rlfPool.count }],
    [RLFH, { op: () => rlf.consume('hot'), table: 'rlf', queries: () => rlfPool.count }],
  ])
  const contenders = [...one].map(([name, { op }]) => ({ name, batch: (ops: number) => inFlight(ops, IN_FLIGHT, op) }))
  return { contenders, one, errors: () => errors }
}

/** Rows inserted, updated (HOT among them) and deleted in `table` so far (pg_stat_user_tables). */
async function written(admin: pg.Pool, schema: string, table: string): Promise<{ rows: number; hot: number }> {
  await admin.query('SELECT pg_stat_clear_snapshot()')
  const r = await admin.query(
    'SELECT n_tup_ins + n_tup_upd + n_tup_del AS rows, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2',
    [schema, table],
  )
  return { rows: Number(r.rows[0]?.rows ?? 0), hot: Number(r.rows[0]?.hot ?? 0) }
}

/** Pools close idle connections after this: a backend reports its table statistics when it exits. */
const IDLE_MS = 300
/** Waits until every connection of the run's pools has closed (and so reported its statistics). */
const flushStats = () => new Promise((resolve) => setTimeout(resolve, IDLE_MS + 700))

interface PerDecision {
  roundTrips: number
  rowsWritten: number
  hotShare: number
}

async function perDecision(admin: pg.Pool, schema: string, one: Contenders['one']): Promise<Map<string, PerDecision>> {
  const out = new Map<string, PerDecision>()
  const n = 3000
  for (const [name, { op, table: t, queries }] of one) {
    await flushStats()
    const w0 = await written(admin, schema, t)
    const q0 = queries()
    await inFlight(n, IN_FLIGHT, op)
    const q1 = queries()
    await flushStats()
    const w1 = await written(admin, schema, t)
    const rows = w1.rows - w0.rows
    out.set(name, { roundTrips: (q1 - q0) / n, rowsWritten: rows / n, hotShare: rows === 0 ? 0 : (w1.hot - w0.hot) / rows })
  }
  return out
}

/** Two stores (two processes' worth of state guesses) racing on one key: round trips per decision. */
async function twoStoresOnAHotKey(schema: string, pools: pg.Pool[]): Promise<{ perSecond: number; roundTrips: number; exact: boolean }> {
  const stores = [0, 1].map(() => {
    const counted = counting(new pg.Pool({ connectionString: URL, max: POOL, idleTimeoutMillis: IDLE_MS }))
    pools.push(counted)
    return { counted, store: new PostgresStore({ pool: counted, table: `${schema}.rk1`, timeoutMs: 5000 }) }
  })
  const limit = 4000
  const policies = [fixedWindow({ name: 'race', limit, window: '1h' })]
  const limiters = stores.map(({ store }) => createLimiter({ store, policies }))
  let admitted = 0
  const n = 6000
  const started = process.hrtime.bigint()
  await Promise.all(
    limiters.map((l) =>
      inFlight(n / 2, IN_FLIGHT, async () => {
        if ((await l.consume('race')).allowed) admitted++
      }),
    ),
  )
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const queries = stores.reduce((sum, s) => sum + s.counted.count, 0)
  return { perSecond: n / seconds, roundTrips: queries / n, exact: admitted === limit }
}

export async function run(): Promise<BenchSection> {
  const admin = new pg.Pool({ connectionString: URL, max: 2 })
  const version = String((await admin.query('SHOW server_version')).rows[0].server_version)
  const schema = `rk_bench_${process.pid}_${Date.now().toString(36)}`
  await admin.query(`CREATE SCHEMA "${schema}"`)
  const pools: pg.Pool[] = []
  try {
    const { contenders, one, errors } = await setup(schema, pools)
    progress(`decisions/s, ${IN_FLIGHT} in flight, pools of ${POOL}: ${ROUNDS} rounds of ${num(OPS)} per contender`)
    const nsPerOp = await timeRounds(contenders, { ops: OPS, rounds: ROUNDS, clock: 'wall' })
    const rate = (name: string) => 1e9 / (nsPerOp.get(name) ?? Number.NaN)
    progress('round trips and rows written per decision')
    const per = await perDecision(admin, schema, one)
    progress('two stores racing on one key')
    const race = await twoStoresOnAHotKey(schema, pools)
    const perOf = (name: string) => per.get(name) ?? { roundTrips: Number.NaN, rowsWritten: Number.NaN, hotShare: Number.NaN }
    const rows = [RK1, RK3, RKH, RLF, RLFH].map((name) => [
      name,
      num(rate(name)),
      num(perOf(name).roundTrips, 2),
      num(perOf(name).rowsWritten, 2),
      `${num(perOf(name).hotShare * 100)} %`,
    ])
    const markdown = [
      `PostgreSQL ${version} on the same machine (\`DATABASE_URL\`), default settings (synchronous commit). Wall-clock decisions per second with ${IN_FLIGHT} in flight per contender on a pool of ${POOL} connections, ${num(KEYS)} keys round-robin unless "hot key"; median of ${ROUNDS} interleaved rounds of ${num(OPS)}. Round trips: queries sent per decision. Rows written: rows inserted, updated or deleted per decision (pg_stat_user_tables), each row-locked until its statement commits, the cleanup's deletes of expired rows included; PostgresStore also takes one transaction-scoped advisory lock per key. A store remembers the last 10,000 states it saw: with 3 policies over 10,000 subjects (30,000 rows) a decision whose row it forgot costs a second round trip. Load average (1 min) when the section finished: ${loadavg()[0].toFixed(2)} on ${cpus().length} cores.`,
      '',
      table(['contender', 'decisions/s', 'round trips / decision', 'rows written (row locks) / decision', 'HOT updates'], rows, [
        'l',
        'r',
        'r',
        'r',
        'r',
      ]),
      '',
      `Two PostgresStores (two processes' worth of state guesses) racing on one key, ${IN_FLIGHT} in flight each: ${num(race.perSecond)} decisions/s, ${num(race.roundTrips, 2)} round trips per decision (each lost race costs one), admitted exactly the limit: ${race.exact ? 'yes' : 'NO'}. Store errors during the run: ${num(errors())}.`,
      '',
      'rate-limiter-flexible runs one `INSERT … ON CONFLICT DO UPDATE` per call: a fixed window only, one policy per call, and the clock of each app server (its expiry is computed in Node).',
    ].join('\n')
    return { title: 'PostgreSQL store', markdown }
  } finally {
    for (const p of pools) await p.end().catch(() => {})
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`).catch(() => {})
    await admin.end()
  }
}
