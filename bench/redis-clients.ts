// Redis clients section: ratekeeper's RedisStore on every client library it takes (ioredis 5 and
// 6, iovalkey, node-redis 4, 5 and 6), beside rate-limiter-flexible's RateLimiterRedis and a bare
// PING, on one dedicated redis-server started for the run. Two loads: one request in flight (what
// most API processes see most of the time: latency, sequential) and 64 in flight on one
// connection (throughput). Token bucket, 1,000 keys round-robin, every request admitted.

import { Redis as Redis5 } from 'ioredis'
import { Redis as Redis6 } from 'ioredis6'
import { Valkey } from 'iovalkey'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { createLimiter, fixedWindow, tokenBucket } from 'ratekeeper'
import { type NodeRedisClient, type RedisClient, RedisStore } from 'ratekeeper/redis'
import { createClient as createClient6 } from 'redis'
import { createClient as createClient4 } from 'redis4'
import { createClient as createClient5 } from 'redis5'
import { hasRedisServer, startRedisServer } from '../test/helpers/redis-servers.js'
import { type Contender, inFlight, num, prng, progress, table, targetsTable, timeRounds } from './stats.js'
import type { BenchSection } from './types.js'

const KEYS = 1000
const IN_FLIGHT = 64
const SEQ_OPS = Number(process.env.RK_BENCH_SEQ_OPS ?? 5000)
const OPS = Number(process.env.RK_BENCH_REDIS_OPS ?? 20_000)
const ROUNDS = Number(process.env.RK_BENCH_ROUNDS ?? 9)
const HUGE = 1_000_000_000

const rlfOn = (library: string) => `rate-limiter-flexible \`RateLimiterRedis.consume\`, ${library}`
const RLF = rlfOn('ioredis 5')
const PING = 'bare `PING` (ioredis 5)'
const FLOOR = 'floor: a script doing only what a token bucket on the Redis clock must (`TIME`, `GET`, `PSETEX`), bare `EVALSHA` (ioredis 5)'
const RK_FW = 'ratekeeper `consume`, fixed window (the algorithm rate-limiter-flexible runs), ioredis 5'
const RK_SCRIPT = "ratekeeper's script alone: the call a lone `consume` sends, bare `EVALSHA` (ioredis 5)"
const RLF_SCRIPT = "rate-limiter-flexible's script alone, bare `EVALSHA` (ioredis 5)"
const MIN = 'a minimal exact token bucket on the Redis clock (`TIME`, `GET`, the arithmetic, `PSETEX`), bare `EVALSHA` (ioredis 5)'

/** The floor script: the three commands a token bucket on the Redis clock needs, and a reply of the same size; no arithmetic. */
const FLOOR_SCRIPT = `local t = redis.call('TIME')
local raw = redis.call('GET', KEYS[1])
redis.call('PSETEX', KEYS[1], '3600000', ARGV[1])
return { 1, tonumber(t[1]), 1, 0, 0, 0 }`

/**
 * The least any exact token bucket on the Redis clock can do: the floor's three commands and the
 * step's arithmetic on a packed state (the limit's numbers written in), nothing else: no deadline,
 * no parsing of the policy, no guard against a key of another type.
 */
const MIN_SCRIPT = `local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local cap, tpm, tt = 1024000000000, 1024, 4096
local raw = redis.call('GET', KEYS[1])
local nowT = now * tpm
local tat = raw and struct.unpack('<d', raw) or nowT
if tat < nowT then tat = nowT end
local nxt = tat + tt
local resetAt = math.ceil(nxt / tpm)
redis.call('PSETEX', KEYS[1], string.format('%d', resetAt - now), struct.pack('<d', nxt))
return { 1, now, 1, math.floor((cap - (nxt - nowT)) / tt), resetAt, 0 }`

/** A connected client of one library, and how to close it. */
interface Made {
  readonly client: RedisClient | NodeRedisClient
  close(): void
}

type NodeRedis = { connect(): Promise<unknown>; on(e: string, l: () => void): unknown; destroy?(): void; disconnect?(): Promise<void> }

async function nodeRedis(raw: unknown): Promise<Made> {
  const c = raw as NodeRedis
  c.on('error', () => {})
  await c.connect()
  return { client: raw as NodeRedisClient, close: () => (c.destroy ? c.destroy() : void c.disconnect?.()) }
}

async function ioredisLike(client: Redis5): Promise<Made> {
  await client.ping()
  return { client, close: () => client.disconnect() }
}

/** Every library with its defaults (one connection, no auto-pipelining). */
const LIBRARIES: readonly { name: string; make: (url: string) => Promise<Made> }[] = [
  { name: 'ioredis 5', make: (url) => ioredisLike(new Redis5(url)) },
  { name: 'ioredis 6', make: (url) => ioredisLike(new Redis6(url) as unknown as Redis5) },
  { name: 'iovalkey', make: (url) => ioredisLike(new Valkey(url) as unknown as Redis5) },
  { name: 'node-redis 4', make: (url) => nodeRedis(createClient4({ url })) },
  { name: 'node-redis 5', make: (url) => nodeRedis(createClient5({ url })) },
  { name: 'node-redis 6', make: (url) => nodeRedis(createClient6({ url })) },
]

/** Sorted copy's value at quantile `q`. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]
}

/**
 * Latency at one request in flight: `n` iterations, each running every contender's op once, in an
 * order shuffled afresh for every iteration (seeded), awaited one at a time; each op timed on its
 * own (µs), so that the machine's noise lands on every contender alike. Shuffled, not rotated: in
 * a fixed cyclic order each contender always runs right after the same one, and a contender that
 * follows another on the same client library finds that library's code (and the socket's paths)
 * warm in the CPU's caches while the other finds it cold: 2-6 µs of a 25 µs decision, measured,
 * in favour of whichever of the pair came second.
 */
async function latencies(ops: readonly { name: string; op: (i: number) => Promise<unknown> }[], n: number): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>(ops.map((o) => [o.name, []]))
  const random = prng(20_261_206)
  const order = ops.map((_, k) => k)
  for (let i = 0; i < n; i++) {
    for (let k = order.length - 1; k > 0; k--) {
      const r = Math.floor(random() * (k + 1))
      const t = order[k]
      order[k] = order[r]
      order[r] = t
    }
    for (const k of order) {
      const { name, op } = ops[k]
      const started = process.hrtime.bigint()
      await op(i)
      times.get(name)?.push(Number(process.hrtime.bigint() - started) / 1000)
    }
  }
  for (const list of times.values()) list.sort((a, b) => a - b)
  return times
}

/**
 * Each limiter's script called bare on a client of its own (ioredis 5), and the minimal token
 * bucket: the Redis part of a decision without the Node part. ratekeeper's arguments are those of
 * a real lone `consume` (caught once on a client of their own), its deadline moved far ahead and
 * its key moved round the keys; rate-limiter-flexible's script is read from a limiter.
 */
async function scriptsAlone(url: string, closers: (() => void)[]): Promise<{ name: string; op: (i: number) => Promise<unknown> }[]> {
  const clients = [new Redis5(url), new Redis5(url), new Redis5(url), new Redis5(url)]
  closers.push(...clients.map((c) => () => c.disconnect()))
  const [spy, mine, theirs, min] = clients
  let sent: unknown[] | undefined
  const evalsha = spy.evalsha.bind(spy) as (...args: unknown[]) => Promise<unknown>
  ;(spy as unknown as { evalsha: unknown }).evalsha = (...args: unknown[]) => {
    if (sent === undefined && Number(args[1]) === 1) sent = args // not the store's clock reads (no key)
    return evalsha(...args)
  }
  const spyStore = new RedisStore({ client: spy, prefix: 'rkspy' })
  const probe = createLimiter({ store: spyStore, policies: [tokenBucket({ name: 'tb', limit: HUGE, window: '1h' })] })
  await probe.consume('k0') // the store loads its script into Redis (NOSCRIPT, then the text), for every connection
  spyStore.close()
  if (sent?.length !== 5 || typeof sent[2] !== 'string' || !sent[2].includes('{k0}'))
    throw new Error(
      `bench/redis-clients.ts: a lone consume sent ${JSON.stringify(sent)}, not the compact call (sha, 1, key, deadline, head) this bench replays`,
    )
  const [sha, , key, , head] = sent as [string, number, string, string, string]
  const [before, after] = key.replace('rkspy', 'rkalone').split('{k0}')
  // The deadline: the first call may go before the store knows Redis's clock (-1: none); a real
  // one is compared, as every later call's is, so a far one is sent.
  const far = '9999999999999' // Redis ms, in the year 2286
  const peer = new RateLimiterRedis({ storeClient: theirs, points: HUGE, duration: 3600, keyPrefix: 'rlfalone' })
  await peer.consume('k0')
  const peerScript = (peer as unknown as { _incrTtlLuaScript?: unknown })._incrTtlLuaScript
  if (typeof peerScript !== 'string')
    throw new Error('bench/redis-clients.ts: rate-limiter-flexible no longer keeps its script as _incrTtlLuaScript')
  const peerSha = String(await theirs.script('LOAD', peerScript))
  const minSha = String(await min.script('LOAD', MIN_SCRIPT))
  const reply = (await mine.evalsha(sha, 1, `${before}{k0}${after}`, far, head)) as unknown[]
  if (reply[0] !== 1 || reply[2] !== 1)
    throw new Error(`bench/redis-clients.ts: ratekeeper's script, replayed, answered ${JSON.stringify(reply)}, not an admitted decision`)
  return [
    { name: RK_SCRIPT, op: (i) => mine.evalsha(sha, 1, `${before}{k${i % KEYS}}${after}`, far, head) },
    { name: RLF_SCRIPT, op: (i) => theirs.evalsha(peerSha, 1, `rlfalone:k${i % KEYS}`, '1', '3600', String(HUGE), '3600') },
    { name: MIN, op: (i) => min.evalsha(minSha, 1, `min:{k${i % KEYS}}`) },
  ]
}

/** `op` run `n` times, one at a time. */
async function sequential(n: number, op: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i++) await op(i)
}

const rk = (name: string) => `ratekeeper \`consume\`, ${name}`

export async function run(): Promise<BenchSection> {
  if (!hasRedisServer()) throw new Error('bench/redis-clients.ts starts its own redis-server: install Redis (redis-server on the PATH)')
  const server = await startRedisServer()
  const closers: (() => void)[] = []
  try {
    const ops: { name: string; op: (i: number) => Promise<unknown> }[] = []
    for (const library of LIBRARIES) {
      const made = await library.make(server.url)
      closers.push(() => made.close())
      const limiter = createLimiter({
        store: new RedisStore({ client: made.client, prefix: `rkc${ops.length}` }),
        policies: [tokenBucket({ name: 'tb', limit: HUGE, window: '1h' })],
      })
      ops.push({ name: rk(library.name), op: (i) => limiter.consume(`k${i % KEYS}`) })
      // The peer on the same client library, with its own connection (node-redis: its `useRedisPackage` mode).
      const peerClient = await library.make(server.url)
      closers.push(() => peerClient.close())
      const peer = new RateLimiterRedis({
        storeClient: peerClient.client,
        useRedisPackage: library.name.startsWith('node-redis'),
        points: HUGE,
        duration: 3600,
        keyPrefix: `rlf${ops.length}`,
      })
      ops.push({ name: rlfOn(library.name), op: (i) => peer.consume(`k${i % KEYS}`) })
    }
    const pingClient = new Redis5(server.url)
    closers.push(() => pingClient.disconnect())
    const fwClient = new Redis5(server.url)
    const floorClient = new Redis5(server.url)
    closers.push(
      () => fwClient.disconnect(),
      () => floorClient.disconnect(),
    )
    const fixed = createLimiter({
      store: new RedisStore({ client: fwClient, prefix: 'rkfw' }),
      policies: [fixedWindow({ name: 'fw', limit: HUGE, window: '1h' })],
    })
    ops.push({ name: RK_FW, op: (i) => fixed.consume(`k${i % KEYS}`) })
    const floorSha = String(await floorClient.script('LOAD', FLOOR_SCRIPT))
    ops.push({ name: FLOOR, op: (i) => floorClient.evalsha(floorSha, 1, `floor:k${i % KEYS}`, 'abcdefgh') })
    ops.push(...(await scriptsAlone(server.url, closers)))
    ops.push({ name: PING, op: () => pingClient.ping() })
    for (const { op } of ops) await sequential(200, op)

    const contenders = (load: (n: number, op: (i: number) => Promise<unknown>) => Promise<void>): Contender[] =>
      ops.map(({ name, op }) => ({ name, batch: (n) => load(n, op) }))
    progress(`latency, 1 in flight: ${num(SEQ_OPS)} decisions per contender, interleaved one by one`)
    const seq = await latencies(ops, SEQ_OPS)
    progress('Redis CPU per decision (INFO commandstats)')
    const redisUs = new Map<string, number>()
    const admin = new Redis5(server.url)
    closers.push(() => admin.disconnect())
    for (const { name, op } of ops) {
      await admin.config('RESETSTAT')
      await sequential(2000, op)
      const stats = await admin.info('commandstats')
      let usec = 0
      for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=\d+,usec=(\d+)/gm)) if (!m[1].startsWith('config')) usec += Number(m[2])
      redisUs.set(name, usec / 2000)
    }
    progress(`decisions/s, ${IN_FLIGHT} in flight: ${ROUNDS} interleaved rounds of ${num(OPS)} per contender`)
    const par = await timeRounds(
      contenders((n, op) => inFlight(n, IN_FLIGHT, op)).filter((c) => c.name !== PING),
      { ops: OPS, rounds: ROUNDS, clock: 'wall' },
    )

    const at = (name: string, q: number) => quantile(seq.get(name) ?? [], q)
    const us = (name: string) => at(name, 0.5)
    const rate = (name: string) => 1e9 / (par.get(name) ?? Number.NaN)
    const targets = [
      ...LIBRARIES.map(
        ({ name }) =>
          [
            `median latency at 1 in flight, ${name}`,
            `${num(us(rk(name)), 1)} µs`,
            `≤ ${num(us(rlfOn(name)), 1)} µs (rate-limiter-flexible, same client)`,
            us(rk(name)) <= us(rlfOn(name)),
          ] as const,
      ),
      ...LIBRARIES.map(
        ({ name }) =>
          [
            `decisions/s at ${IN_FLIGHT} in flight, ${name}`,
            num(rate(rk(name))),
            `> ${num(rate(rlfOn(name)))} (rate-limiter-flexible, same client)`,
            rate(rk(name)) > rate(rlfOn(name)),
          ] as const,
      ),
    ]
    const rows = [...LIBRARIES.flatMap(({ name }) => [rk(name), rlfOn(name)]), RK_FW, RK_SCRIPT, RLF_SCRIPT, MIN, FLOOR, PING].map(
      (name) => [
        name,
        num(us(name), 1),
        num(at(name, 0.9), 1),
        num(us(name) - us(PING), 1),
        num(redisUs.get(name) ?? Number.NaN, 1),
        name === PING ? '—' : num(rate(name)),
        name === PING ? '—' : num(rate(name) / rate(RLF), 2),
      ],
    )
    const markdown = [
      '### Targets',
      '',
      targetsTable(targets),
      '',
      `### Every client: latency at 1 in flight, decisions/s at ${IN_FLIGHT} in flight (decisions/s: medians of ${ROUNDS} interleaved rounds)`,
      '',
      table(
        [
          'contender',
          'µs, 1 in flight (median)',
          'p90',
          'median − PING',
          'Redis CPU µs',
          `decisions/s, ${IN_FLIGHT} in flight`,
          '÷ rate-limiter-flexible on ioredis 5',
        ],
        rows,
        ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
      'How these are measured (`bench/redis-clients.ts`):',
      '',
      '- A dedicated `redis-server` (no persistence) started for the run. Every contender has its own',
      "  client with the library's defaults (one connection, no auto-pipelining) and its own keys;",
      `  ${num(KEYS)} keys round-robin, a token bucket of 10⁹ per hour (every request admitted and written).`,
      '- 1 in flight: each decision awaited before the next starts, each timed on its own (wall clock);',
      `  the contenders take turns decision by decision (${num(SEQ_OPS)} each), so the machine's noise lands on`,
      '  all alike, in an order shuffled for every turn (a fixed order let the second of two contenders on',
      "  one client library find that library's code warm: 2-6 µs in its favour). Median and 90th percentile.",
      '  Redis CPU: `INFO commandstats` over 2,000 decisions of',
      `  each contender alone. ${IN_FLIGHT} in flight: ${IN_FLIGHT} loops sharing ${num(OPS)} decisions, elapsed time,`,
      '  median of interleaved rounds that rotate the order of contenders after one warm-up round.',
      '- ratekeeper is the whole limiter (`await limiter.consume(key)`) with the default `timeoutMs: 100`',
      '  and the Redis clock; rate-limiter-flexible is its Redis limiter alone, on each client library',
      '  (node-redis in its `useRedisPackage` mode, which sends the script whole with `EVAL`). A bare `PING` is the floor',
      '  of one round trip on the same client library. The floor is no limiter: a script of the three',
      '  commands any token bucket on the Redis clock needs (read the clock, read the state, write it),',
      '  without the arithmetic, called bare; what a limiter adds to it is its own cost. The scripts',
      "  alone are each limiter's Redis part without its Node part: ratekeeper's as a lone `consume`",
      "  sends it (its arguments taken from a real call), rate-limiter-flexible's (its text, read from",
      '  a limiter) as it calls it, and a minimal token bucket: the floor plus the arithmetic, the',
      '  least any exact token bucket on the Redis clock does.',
      "- Redis CPU counts every command in `INFO commandstats`: a script's own commands are counted both",
      '  in its `evalsha` line and in their own, so figures compare only with each other.',
    ].join('\n')
    return { title: 'Redis clients', markdown }
  } finally {
    for (const close of closers) close()
    await server.stop()
  }
}
