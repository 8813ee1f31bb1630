// Redis section: ratekeeper's RedisStore against rate-limit-redis (express-rate-limit's store),
// rate-limiter-flexible's RateLimiterRedis and @fastify/rate-limit's Redis store, on one
// dedicated redis-server started for the run (so INFO commandstats can be reset freely), with
// 64 requests in flight on one connection per contender, interleaved rounds.

import { createRequire } from 'node:module'
import { Redis } from 'ioredis'
import { RedisStore as RlrStore } from 'rate-limit-redis'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { concurrency, createLimiter, fixedWindow, type Limiter, slidingWindow, tokenBucket } from 'ratekeeper'
import { RedisStore } from 'ratekeeper/redis'
import { hasRedisServer, type RedisServer, startRedisServer } from '../test/helpers/redis-servers.js'
import { type Contender, inFlight, num, progress, table, targetsTable, timeRounds } from './stats.js'
import type { BenchSection } from './types.js'

const IN_FLIGHT = 64
const KEYS = 10_000
const OPS = Number(process.env.RK_BENCH_REDIS_OPS ?? 20_000)
const ROUNDS = Number(process.env.RK_BENCH_ROUNDS ?? 9)
const HUGE = 1_000_000_000
const PEER_TARGET = 1.1
const MULTI_TARGET = 0.9
/** A concurrency decision (acquire + release: two store calls) against one rate decision. */
const CONCURRENCY_TARGET = 0.7

const RK1 = 'ratekeeper `consume`, 1 policy (tokenBucket)'
const RK3 = 'ratekeeper `consume`, 3 policies (tokenBucket + fixedWindow + slidingWindow)'
const RKC = 'ratekeeper `consume` + `release`, 1 policy (concurrency: a lease taken and given back, as a server does)'
const RKC_AWAITED = 'the same, each caller awaiting its release before its next request'
const RLR = 'rate-limit-redis `increment` (express-rate-limit)'
const RLF = 'rate-limiter-flexible `RateLimiterRedis.consume`'
const FST = '@fastify/rate-limit Redis store `incr`'
const PEERS = [RLR, RLF, FST] as const

/** @fastify/rate-limit's store has no type declarations: the part used here. */
interface FastifyRedisStore {
  incr(key: string, cb: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number, max: number): void
}
type FastifyRedisStoreClass = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string) => FastifyRedisStore

/** A client per contender, all with the same options: one connection, auto-pipelining on. */
function newClient(server: RedisServer): Redis {
  return new Redis(server.url, { enableAutoPipelining: true })
}

interface Setup {
  contenders: Contender[]
  /** One operation of a contender, for the command counts. */
  one: Map<string, () => Promise<unknown>>
  /** Store errors (deadline misses and failures) by error code. */
  storeErrors: () => Map<string, number>
  close: () => void
}

async function setup(server: RedisServer): Promise<Setup> {
  const clients: Redis[] = []
  const client = () => {
    const c = newClient(server)
    clients.push(c)
    return c
  }
  const limiters: Limiter[] = []
  const storeErrors = new Map<string, number>()
  const limiter = (policies: Parameters<typeof createLimiter>[0]['policies']) => {
    const created = createLimiter({ store: new RedisStore({ client: client(), prefix: `rk${limiters.length}` }), policies })
    created.on('store-error', ({ error }) => {
      const code = (error as { code?: string } | undefined)?.code ?? 'unknown'
      storeErrors.set(code, (storeErrors.get(code) ?? 0) + 1)
    })
    limiters.push(created)
    return created
  }
  const rk1 = limiter([tokenBucket({ name: 'tb', limit: HUGE, window: '1h' })])
  const rk3 = limiter([
    tokenBucket({ name: 'tb', limit: HUGE, window: '1h' }),
    fixedWindow({ name: 'fw', limit: HUGE, window: '1d' }),
    slidingWindow({ name: 'sw', limit: HUGE, window: '1h' }),
  ])
  const rkc = limiter([concurrency({ name: 'cc', limit: 1000, leaseMs: '1m' })])
  const rlrClient = client()
  const rlr = new RlrStore({
    sendCommand: (command: string, ...args: string[]) => rlrClient.call(command, ...args) as never,
    prefix: 'rlr:',
  })
  rlr.init({ windowMs: 3_600_000 } as Parameters<RlrStore['init']>[0])
  const rlf = new RateLimiterRedis({ storeClient: client(), points: HUGE, duration: 3600, keyPrefix: 'rlf' })
  const FastifyStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore.js') as FastifyRedisStoreClass
  const fst = new FastifyStore(false, false, client(), 'fst:')
  await Promise.all(clients.map((c) => c.ping()))

  const keyed = (f: (key: string) => Promise<unknown>) => {
    let cursor = 0
    return () => f(`client-${cursor++ % KEYS}`)
  }
  const one = new Map<string, () => Promise<unknown>>([
    [RK1, keyed((key) => rk1.consume(key))],
    [RK3, keyed((key) => rk3.consume(key))],
    [
      RKC,
      keyed(async (key) => {
        const d = await rkc.consume(key)
        if (!d.allowed) throw new Error(`bench: concurrency denied (${d.reason})`)
        await rkc.release(d)
      }),
    ],
    [RKC_AWAITED, keyed(async (key) => rkc.release(await rkc.consume(key)))],
    [RLR, keyed((key) => rlr.increment(key))],
    [RLF, keyed((key) => rlf.consume(key))],
    [
      FST,
      keyed(
        (key) =>
          new Promise((resolve, reject) => fst.incr(key, (error, result) => (error ? reject(error) : resolve(result)), 3_600_000, HUGE)),
      ),
    ],
  ])
  /**
   * The concurrency contender timed as a server runs it: a request's release goes out when its
   * response ends, and no request waits for another's release (the adapters never await it); the
   * batch ends when every release has been answered, so each pair counts whole.
   */
  const leasesAsAServer = async (n: number): Promise<void> => {
    const releases: Promise<void>[] = []
    await inFlight(
      n,
      IN_FLIGHT,
      keyed(async (key) => {
        const d = await rkc.consume(key)
        if (!d.allowed) throw new Error(`bench: concurrency denied (${d.reason})`)
        releases.push(rkc.release(d))
      }),
    )
    await Promise.all(releases)
  }
  return {
    contenders: [...one].map(([name, op]) => ({
      name,
      batch: (n: number) => (name === RKC ? leasesAsAServer(n) : inFlight(n, IN_FLIGHT, op)),
    })),
    one,
    storeErrors: () => storeErrors,
    close: () => {
      for (const c of clients) c.disconnect()
    },
  }
}

/** Sum of INFO commandstats calls, top-level script calls (EVALSHA/EVAL) apart. */
async function commandStats(admin: Redis): Promise<{ all: number; scripts: number; byCommand: Map<string, number> }> {
  const info = await admin.info('commandstats')
  const byCommand = new Map<string, number>()
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) byCommand.set(match[1], Number(match[2]))
  // Our own INFO and CONFIG calls don't count (Redis 7 names them e.g. `config|resetstat`).
  for (const command of [...byCommand.keys()]) if (/^(info|config)\b/.test(command)) byCommand.delete(command)
  let all = 0
  for (const calls of byCommand.values()) all += calls
  const scripts = (byCommand.get('evalsha') ?? 0) + (byCommand.get('eval') ?? 0)
  return { all, scripts, byCommand }
}

async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu')
  return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1])
}

interface PerDecision {
  commands: number
  roundTrips: number
  redisCpuUs: number
  detail: string
}

/** Commands, round trips and Redis CPU per operation of each contender, one at a time. */
async function perDecision(admin: Redis, one: Map<string, () => Promise<unknown>>): Promise<Map<string, PerDecision>> {
  const out = new Map<string, PerDecision>()
  const n = 20_000
  for (const [name, op] of one) {
    await inFlight(1000, IN_FLIGHT, op) // keys exist already: measure the steady state
    await admin.config('RESETSTAT')
    const cpu0 = await redisCpuSeconds(admin)
    await inFlight(n, IN_FLIGHT, op)
    const cpu1 = await redisCpuSeconds(admin)
    const stats = await commandStats(admin)
    const detail = [...stats.byCommand]
      .filter(([, calls]) => calls > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([command, calls]) => `${command.toUpperCase()} ${num(calls / n, 2)}`)
      .join(', ')
    out.set(name, { commands: stats.all / n, roundTrips: stats.scripts / n, redisCpuUs: ((cpu1 - cpu0) / n) * 1e6, detail })
  }
  return out
}

/** A client hammering a key that is already denied, with the deny cache on. */
async function denyCacheHammer(
  server: RedisServer,
  admin: Redis,
): Promise<{ commands: number; decisionsPerSecond: number; denied: number }> {
  const client = newClient(server)
  await client.ping()
  const limiter = createLimiter({
    store: new RedisStore({ client, prefix: 'rkdeny', denyCache: true }),
    policies: [tokenBucket({ name: 'tiny', limit: 5, window: '1h' })],
  })
  for (let i = 0; i < 6; i++) await limiter.consume('abuser')
  await admin.config('RESETSTAT')
  const n = 200_000
  let denied = 0
  const started = process.hrtime.bigint()
  await inFlight(n, IN_FLIGHT, async () => {
    const d = await limiter.consume('abuser')
    if (!d.allowed) denied++
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const stats = await commandStats(admin)
  client.disconnect()
  return { commands: stats.all, decisionsPerSecond: n / seconds, denied }
}

export async function run(): Promise<BenchSection> {
  if (!hasRedisServer()) throw new Error('bench/redis.ts starts its own redis-server: install Redis (redis-server on the PATH)')
  const server = await startRedisServer()
  const admin = new Redis(server.url)
  try {
    const { contenders, one, storeErrors, close } = await setup(server)
    progress(`decisions/s, ${IN_FLIGHT} in flight on one connection each: ${ROUNDS} rounds of ${num(OPS)} per contender`)
    const nsPerOp = await timeRounds(contenders, { ops: OPS, rounds: ROUNDS })
    const rate = (name: string) => 1e9 / (nsPerOp.get(name) ?? Number.NaN)
    progress('Redis commands and CPU per decision (INFO commandstats, INFO cpu)')
    const per = await perDecision(admin, one)
    progress('deny cache: hammering a denied key')
    const deny = await denyCacheHammer(server, admin)
    const errorCodes = storeErrors()
    const errors = [...errorCodes.values()].reduce((sum, count) => sum + count, 0)
    const errorDetail =
      errors === 0 ? '0' : `${num(errors)} (${[...errorCodes].map(([code, count]) => `${code} ${num(count)}`).join(', ')})`
    close()

    const bestPeer = PEERS.reduce((best, name) => (rate(name) > rate(best) ? name : best), PEERS[0])
    const perOf = (name: string) => per.get(name) ?? { commands: Number.NaN, roundTrips: Number.NaN, redisCpuUs: Number.NaN, detail: '' }
    const targets = [
      [
        'decisions/s, 1 policy',
        num(rate(RK1)),
        `≥ ${PEER_TARGET} × ${num(rate(bestPeer))} (best peer) = ${num(PEER_TARGET * rate(bestPeer))}`,
        rate(RK1) >= PEER_TARGET * rate(bestPeer),
      ],
      ['decisions/s, 3 policies ÷ 1 policy', num(rate(RK3) / rate(RK1), 2), `≥ ${MULTI_TARGET}`, rate(RK3) / rate(RK1) >= MULTI_TARGET],
      ['round trips per decision, 1 policy', num(perOf(RK1).roundTrips, 2), '≤ 1', perOf(RK1).roundTrips <= 1],
      ['round trips per decision, 3 policies', num(perOf(RK3).roundTrips, 2), '≤ 1', perOf(RK3).roundTrips <= 1],
      [
        'concurrency decisions/s (acquire + release) ÷ 1 rate decision',
        num(rate(RKC) / rate(RK1), 2),
        `≥ ${CONCURRENCY_TARGET}`,
        rate(RKC) / rate(RK1) >= CONCURRENCY_TARGET,
      ],
      ['round trips per concurrency acquire + release', num(perOf(RKC).roundTrips, 2), '≤ 2 (1 each)', perOf(RKC).roundTrips <= 2],
      ['Redis commands while a denied client hammers (deny cache on)', num(deny.commands), '0', deny.commands === 0],
      ['store errors during the run (deadline misses: `timeoutMs` 100)', errorDetail, '0', errors === 0],
    ] as const

    const rows = [RK1, RK3, RKC, RKC_AWAITED, ...PEERS].map((name) => [
      name,
      num(rate(name)),
      name === RK1 ? '1.00' : num(rate(name) / rate(RK1), 2),
      num(perOf(name).roundTrips, 2),
      num(perOf(name).commands, 2),
      num(perOf(name).redisCpuUs, 1),
      perOf(name).detail,
    ])

    const markdown = [
      '### Targets',
      '',
      targetsTable(targets),
      '',
      `### Decisions per second, ${IN_FLIGHT} in flight on one connection (median of ${ROUNDS} interleaved rounds of ${num(OPS)})`,
      '',
      table(
        ['contender', 'decisions/s', '÷ ratekeeper 1 policy', 'round trips', 'Redis commands', 'Redis CPU µs', 'commands per decision'],
        rows,
        ['l', 'r', 'r', 'r', 'r', 'r', 'l'],
      ),
      '',
      `Deny cache: a client hammering a key that is already denied got ${num(deny.denied)} denials at ${num(deny.decisionsPerSecond)} decisions/s, with ${num(deny.commands)} Redis commands.`,
      '',
      'How these are measured (`bench/redis.ts`):',
      '',
      '- A dedicated `redis-server` (no persistence) is started for the run, so that `CONFIG RESETSTAT`',
      '  never touches a shared server. Every contender has its own ioredis 5 client with the same',
      '  options (`enableAutoPipelining: true`, one connection) and its own keys; 10,000 keys are',
      '  used round-robin. Limits are 10⁹ per hour: every request is admitted and written.',
      '- ratekeeper is the whole limiter (`await limiter.consume(key)`: validation, the store call',
      '  with its deadline, the `Decision`) with the default `timeoutMs: 100` and the Redis clock',
      '  (`TIME` in the script). The peers are their Redis stores alone (`increment`, `consume`,',
      '  `incr`), without their middleware.',
      "- Decisions per second are per second of this Node process's CPU time (user + system), not",
      '  of elapsed time: what each contender costs the process that calls Redis, on a machine whose',
      "  load moves elapsed times by ±20%. Redis's own CPU is the column beside it; the ratios of the",
      '  targets (3 policies, concurrency) are ratios of that CPU time too.',
      '- Rounds rotate the order of contenders after one warm-up round; medians are reported. The',
      '  Node process and Redis share the machine (and its other load): compare rows of one run.',
      '  A stall of either process beyond 100 ms (a loaded machine) makes every call in flight miss',
      '  its deadline at once (64 at a time): they are reported here, a negligible share of the decisions timed.',
      '- Commands per decision: `INFO commandstats` after `CONFIG RESETSTAT`, over 20,000 decisions per',
      '  contender run alone; commands that scripts issue count (`EVALSHA 0.02, TIME 0.02, …`). Round',
      '  trips are the top-level `EVALSHA`/`EVAL` calls per decision. Redis CPU is `used_cpu_user + used_cpu_sys`.',
      "- ratekeeper's store batches: requests made while its script call is in flight wait for it and go",
      '  together in the next one (at most 128 per call), each still decided on its own, atomically, in',
      '  order. With 64 in flight, one `EVALSHA` (and one `TIME`) decides most of them, hence round trips well',
      '  below 1 per decision. Per request the script runs a read (`GET`/`MGET`) and one `PSETEX` per',
      '  policy: the state written back whole with its TTL, where the counters of the peers run',
      '  `INCR` and `PTTL` inside one script call per request.',
      '- The concurrency row is one decision of a concurrency limit: `consume` takes a lease (a sorted',
      '  set per key; with no lease held `EXISTS`, `ZADD`, `PEXPIRE`) and `release` gives it back (`ZREM`,',
      '  `ZCARD`; more while other leases are held): two store calls, each one request of a batch.',
      '  A release is queued (`Store.queueRelease`): no promise of its own, those of one tick share one.',
      '  Its figures per decision count both. It is timed as a server runs it: a request does not wait',
      "  for an earlier request's release (no adapter awaits one), and a batch ends when every release",
      '  it sent has been answered. The commands and round trips are counted with each release awaited.',
    ].join('\n')
    return { title: 'Redis store', markdown }
  } finally {
    admin.disconnect()
    await server.stop()
  }
}
