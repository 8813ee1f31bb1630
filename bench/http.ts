// HTTP section: Express 5, Fastify 5 and Koa 3, each bare, with ratekeeper (one memory policy,
// headers on) and with its usual peer limiter; a concurrency policy against a rate policy (Express
// and Fastify, the rate row standing for "bare" in those groups); and Fastify 5 on Redis, including runs where every
// request comes from a client that is already limited. Each server runs in a process of its own
// (bench/http-server.ts); autocannon loads it from this process over loopback. Rounds are
// interleaved (every variant once per round, in rotating order) and each figure is reported as a
// ratio to the bare framework measured in the same round; the tables give medians over rounds.
// Server CPU time per request (process.cpuUsage of the server) is the steadier figure on 2 cores,
// where the load generator often saturates first.

import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { LABELS, type Variant } from './http-server.js'
import { median, num, progress, table, verdict } from './stats.js'
import type { BenchSection } from './types.js'

const SECONDS = Number(process.env.RK_BENCH_HTTP_SECONDS ?? 3)
const ROUNDS = Number(process.env.RK_BENCH_HTTP_ROUNDS ?? 5)
const CONNECTIONS = 50
/** Only the groups whose title contains one of these words (comma-separated), e.g. `Koa,Redis`. */
const ONLY = (process.env.RK_BENCH_HTTP_ONLY ?? '').split(',').filter(Boolean)
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A target of the issue, for one server: CPU (and req/s) per request as ratios to bare. */
export interface Target {
  readonly variant: Variant
  readonly what: string
  /** Most CPU per request, as a ratio to bare. */
  readonly cpu: number
  /** Least req/s, as a ratio to bare. */
  readonly rps?: number
  /** The reference server that only writes the same output: its CPU/req is a floor for any limiter. */
  readonly floor?: Variant
}

/** Servers measured together, each as a ratio to `bare`; labels are in {@link LABELS}. */
export interface Group {
  readonly title: string
  readonly bare: Variant
  readonly others: readonly Variant[]
  readonly targets: readonly Target[]
  readonly redis?: boolean
}

export const GROUPS: readonly Group[] = [
  {
    title: 'Express 5, memory store',
    bare: 'express-bare',
    others: ['express-async-noop', 'express-headers', 'express-ratekeeper', 'express-peer'],
    targets: [{ variant: 'express-ratekeeper', what: 'Express 5, one memory policy', cpu: 1.1, floor: 'express-headers' }],
  },
  {
    title: 'Fastify 5, memory store',
    bare: 'fastify-bare',
    others: ['fastify-headers', 'fastify-ratekeeper', 'fastify-peer'],
    targets: [{ variant: 'fastify-ratekeeper', what: 'Fastify 5, one memory policy', cpu: 1.05, floor: 'fastify-headers' }],
  },
  {
    title: 'Koa 3, memory store',
    bare: 'koa-bare',
    others: ['koa-headers', 'koa-ratekeeper', 'koa-peer'],
    targets: [{ variant: 'koa-ratekeeper', what: 'Koa 3, one memory policy', cpu: 1.05, floor: 'koa-headers' }],
  },
  {
    // Ratios here are to ratekeeper without metrics: what exporting them costs (the issue's target: 1.03×).
    title: 'Fastify 5, metrics on vs off',
    bare: 'fastify-ratekeeper',
    others: ['fastify-metrics-prometheus', 'fastify-metrics-otel', 'fastify-metrics-otel-ratio'],
    targets: [
      { variant: 'fastify-metrics-prometheus', what: 'Fastify 5, with metrics (Prometheus) ÷ without', cpu: 1.03 },
      { variant: 'fastify-metrics-otel', what: 'Fastify 5, with metrics (OpenTelemetry) ÷ without', cpu: 1.03 },
    ],
  },
  {
    // Ratios here are to ratekeeper with one rate policy: what a concurrency policy adds (a lease taken, released at the response end).
    title: 'Express 5, concurrency policy vs rate policy',
    bare: 'express-ratekeeper',
    others: ['express-concurrency-floor', 'express-concurrency'],
    targets: [
      { variant: 'express-concurrency', what: 'Express 5, concurrency ÷ rate policy', cpu: 1.05, floor: 'express-concurrency-floor' },
    ],
  },
  {
    title: 'Fastify 5, concurrency policy vs rate policy',
    bare: 'fastify-ratekeeper',
    others: ['fastify-concurrency-floor', 'fastify-concurrency'],
    targets: [
      { variant: 'fastify-concurrency', what: 'Fastify 5, concurrency ÷ rate policy', cpu: 1.05, floor: 'fastify-concurrency-floor' },
    ],
  },
  {
    title: 'Fastify 5, Redis store',
    redis: true,
    bare: 'fastify-bare',
    others: [
      'fastify-redis-ratekeeper',
      'fastify-redis-peer',
      'fastify-429',
      'fastify-redis-ratekeeper-limited',
      'fastify-redis-peer-limited',
    ],
    targets: [
      { variant: 'fastify-redis-ratekeeper', what: 'Fastify 5 on Redis', cpu: 1.5, rps: 0.65 },
      { variant: 'fastify-redis-ratekeeper-limited', what: 'Fastify 5 on Redis, client already limited', cpu: 1.1, floor: 'fastify-429' },
    ],
  },
]

interface Server {
  readonly child: ChildProcess
  readonly port: number
  cpu(): Promise<number>
  stop(): void
}

const serverFile = fileURLToPath(new URL('./http-server.ts', import.meta.url))

function start(variant: Variant, prefix: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = fork(serverFile, [variant, prefix], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    const pending: ((cpu: number) => void)[] = []
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`${variant} server exited with ${code} before it was ready`)))
    child.on('message', (message: { port?: number; cpu?: number }) => {
      if (message.port !== undefined) {
        child.removeAllListeners('exit')
        resolve({
          child,
          port: message.port,
          cpu: () =>
            new Promise((done) => {
              pending.push(done)
              child.send('cpu')
            }),
          stop: () => {
            child.send('exit')
          },
        })
      } else if (message.cpu !== undefined) {
        pending.shift()?.(message.cpu)
      }
    })
  })
}

interface AutocannonResult {
  requests: { total: number }
  duration: number
  errors: number
  timeouts: number
}
type Autocannon = (options: { url: string; connections: number; duration: number }) => Promise<AutocannonResult>

interface Sample {
  /** Requests per second. */
  rps: number
  /** Server CPU µs per request. */
  cpuUs: number
}

async function measure(autocannon: Autocannon, server: Server): Promise<Sample> {
  const before = await server.cpu()
  const result = await autocannon({ url: `http://127.0.0.1:${server.port}/`, connections: CONNECTIONS, duration: SECONDS })
  const after = await server.cpu()
  const total = result.requests.total
  if (total === 0 || result.errors > 0)
    throw new Error(`load run failed: ${total} requests, ${result.errors} errors, ${result.timeouts} timeouts`)
  return { rps: total / result.duration, cpuUs: (after - before) / total }
}

interface Row {
  variant: Variant
  rps: number
  cpuUs: number
  rpsRatio: number
  cpuRatio: number
}

async function runGroup(autocannon: Autocannon, group: Group, prefix: string): Promise<Row[]> {
  const all = [group.bare, ...group.others]
  const servers = new Map<Variant, Server>()
  try {
    for (const v of all) servers.set(v, await start(v, prefix))
    const samples = new Map<Variant, Sample[]>(all.map((v) => [v, []]))
    const ratios = new Map<Variant, { rps: number[]; cpu: number[] }>(all.map((v) => [v, { rps: [], cpu: [] }]))
    // Round 0 warms every server up (JIT, connections, the limited clients' first denial) and is not counted.
    for (let round = 0; round <= ROUNDS; round++) {
      progress(`${group.title}: round ${round}/${ROUNDS}${round === 0 ? ' (warm-up)' : ''}`)
      const got = new Map<Variant, Sample>()
      for (let j = 0; j < all.length; j++) {
        const v = all[(round + j) % all.length]
        got.set(v, await measure(autocannon, servers.get(v) as Server))
      }
      if (round === 0) continue
      const bare = got.get(group.bare) as Sample
      for (const v of all) {
        const s = got.get(v) as Sample
        samples.get(v)?.push(s)
        ratios.get(v)?.rps.push(s.rps / bare.rps)
        ratios.get(v)?.cpu.push(s.cpuUs / bare.cpuUs)
      }
    }
    return all.map((v) => {
      const s = samples.get(v) ?? []
      const r = ratios.get(v) ?? { rps: [], cpu: [] }
      return {
        variant: v,
        rps: median(s.map((x) => x.rps)),
        cpuUs: median(s.map((x) => x.cpuUs)),
        rpsRatio: median(r.rps),
        cpuRatio: median(r.cpu),
      }
    })
  } finally {
    for (const server of servers.values()) server.stop()
  }
}

/** Deletes this run's keys (and only them). Never FLUSHALL on a shared Redis. */
async function cleanRedis(prefix: string): Promise<void> {
  const client = new Redis(REDIS_URL)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.unlink(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}

async function redisReachable(): Promise<boolean> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
    return true
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

export async function run(): Promise<BenchSection> {
  const loaded = (await import(String('autocannon'))) as { default: Autocannon }
  const autocannon = loaded.default
  const prefix = `rk-bench-http-${process.pid}-${Date.now()}`
  const parts: string[] = [
    `autocannon (${CONNECTIONS} connections, ${SECONDS} s per run) in the bench process; each server in a process of its own on loopback. ` +
      `${ROUNDS} interleaved rounds after a warm-up round; medians. Ratios are to the bare framework measured in the same round. ` +
      'Every limiter keeps its library defaults (headers on), with one policy whose limit is never reached, except in the ' +
      '"already limited" runs, where the one client admitted its single request of the hour during warm-up and every measured request is denied (429). ' +
      'The "reference" rows are not limiters: a hook or middleware that only writes ratekeeper\'s five default headers, or only sends its 429 (seven headers and the problem body, pre-rendered), shows what the framework charges for that output alone. ' +
      'On Redis, ratekeeper and @fastify/rate-limit each get an ioredis 5 client with the same options (`enableAutoPipelining: true`), on the shared Redis with keys of their own.',
  ]
  const verdicts: string[][] = []
  for (const group of GROUPS) {
    if (ONLY.length > 0 && !ONLY.some((word) => group.title.includes(word))) continue
    if (group.redis === true && !(await redisReachable())) {
      parts.push(`### ${group.title}\n\nSkipped: Redis is not reachable at ${REDIS_URL}.`)
      continue
    }
    let rows: Row[]
    try {
      rows = await runGroup(autocannon, group, prefix)
    } finally {
      if (group.redis === true) await cleanRedis(prefix)
    }
    parts.push(
      `### ${group.title}\n\n${table(
        ['server', 'req/s', 'server CPU µs/req', 'req/s ÷ bare', 'CPU/req ÷ bare'],
        rows.map((r) => [LABELS[r.variant], num(r.rps), num(r.cpuUs, 1), num(r.rpsRatio, 2), num(r.cpuRatio, 2)]),
        ['l', 'r', 'r', 'r', 'r'],
      )}`,
    )
    for (const target of group.targets) {
      const row = rows.find((r) => r.variant === target.variant)
      if (row === undefined) continue
      const ok = row.cpuRatio <= target.cpu && (target.rps === undefined || row.rpsRatio >= target.rps)
      const goal = `CPU/req ≤ ${target.cpu.toFixed(2)}×${target.rps === undefined ? '' : `, req/s ≥ ${target.rps.toFixed(2)}×`}`
      const got = `${row.cpuRatio.toFixed(2)}×${target.rps === undefined ? '' : `, ${row.rpsRatio.toFixed(2)}×`}`
      const floor = target.floor === undefined ? undefined : rows.find((r) => r.variant === target.floor)
      verdicts.push([target.what, goal, got, floor === undefined ? '' : `${floor.cpuRatio.toFixed(2)}×`, verdict(ok)])
    }
  }
  parts.push(
    `### Targets\n\n${table(['case', 'target (÷ bare)', 'measured', 'CPU/req of the same output alone (reference)', ''], verdicts)}`,
  )
  return { title: 'HTTP: adapters under load', markdown: parts.join('\n\n') }
}
