// Leases section (on request: `npm run bench -- leases`): the discrete-event simulation of
// bench/lease-sim.ts — 10 to 1,000 servers sharing one global limit on a store 1-3 ms away, Zipf
// traffic, servers leaving and crashing — run with and without `lease`. Virtual time: the figures
// do not depend on this machine's speed. Writes the table here and two pictures into docs/img/.

import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { fixedWindow, type Policy, tokenBucket } from 'ratekeeper'
import { BLUE, esc, FAINT, fmt, frame, GREEN, GREY, INK, RED } from '../scripts/svg.js'
import { hasRedisServer, startRedisServer } from '../test/helpers/redis-servers.js'
import { type Scenario, type SimResult, simulate } from './lease-sim.js'
import { num, progress, table } from './stats.js'
import type { BenchSection } from './types.js'

const LIMIT = 200_000
const WINDOW_MS = 10_000
const RATE = LIMIT / (WINDOW_MS / 1_000) // per second
const DURATION_MS = 30_000
/** Demand: half the limit, then 1.5x (overload), then 0.8x. */
const demand = (t: number) => (t < 10_000 ? 0.5 : t < 20_000 ? 1.5 : 0.8) * RATE
const FIXED_LEASE = { size: 500, ttlMs: '5s' } as const
const BUCKET_LEASE = { size: 500, ttlMs: '5s' } as const

const fixed = (leased: boolean): Policy =>
  fixedWindow({ name: 'global', limit: LIMIT, window: WINDOW_MS, ...(leased ? { lease: FIXED_LEASE } : {}) })
const bucket = (leased: boolean): Policy =>
  tokenBucket({ name: 'global', limit: LIMIT, window: WINDOW_MS, ...(leased ? { lease: BUCKET_LEASE } : {}) })

const scenario = (servers: number, policy: Policy): Scenario => ({
  servers,
  policy,
  limitPerWindow: LIMIT,
  windowMs: WINDOW_MS,
  demand,
  durationMs: DURATION_MS,
  zipf: 1,
  leavePerSecond: 0.01,
  crashPerSecond: 0.005,
  rttMs: [1, 3],
  seed: 20_261_204,
})

interface Row {
  readonly kind: 'fixed window' | 'token bucket'
  readonly servers: number
  readonly plain: SimResult
  readonly leased: SimResult
}

const admittedOf = (r: SimResult) => r.windows.reduce((n, w) => n + w.admitted, 0)
const perSecond = (r: SimResult) => r.storeOps / (DURATION_MS / 1_000)

/** The most a window admitted beyond its bound: the limit (fixed window: leases end with their window), else burst + refill + units held at its start. */
function overBound(row: Row): number {
  let worst = Number.NEGATIVE_INFINITY
  for (const w of row.leased.windows) {
    const bound = row.kind === 'fixed window' ? LIMIT : 2 * LIMIT + w.heldAtStart
    worst = Math.max(worst, w.admitted - bound)
  }
  return worst
}

/** Fixed window: requests denied in windows that ended with budget left (capped by that budget). */
function underAdmitted(r: SimResult): number {
  return r.windows.reduce((n, w) => n + Math.min(w.denied, Math.max(0, LIMIT - w.admitted)), 0)
}

export async function run(): Promise<BenchSection> {
  const rows: Row[] = []
  const cases: [Row['kind'], number][] = [
    ['fixed window', 10],
    ['fixed window', 100],
    ['fixed window', 1_000],
    ['token bucket', 1_000],
  ]
  for (const [kind, servers] of cases) {
    const policy = kind === 'fixed window' ? fixed : bucket
    progress(`leases: ${kind}, ${servers} servers`)
    const plain = await simulate(scenario(servers, policy(false)))
    const leased = await simulate(scenario(servers, policy(true)))
    rows.push({ kind, servers, plain, leased })
  }
  for (const row of rows.filter((r) => r.servers === 1_000)) writePicture(row)
  const real = hasRedisServer() ? await realRun() : 'Skipped: no `redis-server` on this machine.'

  const body = rows.map((row) => {
    const { plain, leased } = row
    const under = row.kind === 'fixed window' ? `${num(underAdmitted(leased))} (without: ${num(underAdmitted(plain))})` : '—'
    return [
      row.kind,
      num(row.servers),
      num(leased.decisions / (DURATION_MS / 1_000)),
      num(perSecond(plain)),
      num(perSecond(leased)),
      `${num(perSecond(plain) / perSecond(leased), 1)}×`,
      num(leased.meanWaitMs, 2),
      `${num((100 * admittedOf(leased)) / admittedOf(plain), 1)} %`,
      under,
      overBound(row) <= 0 ? `none (worst margin ${num(-overBound(row))})` : `❌ ${num(overBound(row))}`,
      `${leased.leaves} / ${leased.crashes}`,
    ]
  })
  const markdown = [
    `Simulated, in virtual time (deterministic, seeded): N servers enforce one global limit of ${num(LIMIT)} per ${WINDOW_MS / 1_000} s`,
    `on one key, against a store ${'1-3 ms'} away (a \`MemoryStore\` behind a round trip). Demand ${num(RATE / 2)}/s for 10 s, then`,
    `${num(RATE * 1.5)}/s (overload), then ${num(RATE * 0.8)}/s; each request goes to a server drawn with Zipf(1) weights; every second 1 % of`,
    'the servers leave (closed: leases given back) and 0.5 % crash (dropped: leases lost), each replaced by a new one. The real',
    `limiter runs every decision: fixed window \`lease: { size: ${FIXED_LEASE.size}, ttlMs: '${FIXED_LEASE.ttlMs}' }\`, token bucket`,
    `\`lease: { size: ${BUCKET_LEASE.size}, ttlMs: '${BUCKET_LEASE.ttlMs}' }\`. "Store ops" counts every call (consume, refund).`,
    '',
    table(
      [
        'policy',
        'servers',
        'decisions/s',
        'store ops/s without lease',
        'store ops/s with lease',
        'fewer ops',
        'mean wait (ms)',
        'admitted vs without',
        'under-admitted (fixed window)',
        'over the bound',
        'left / crashed',
      ],
      body,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r'],
    ),
    '',
    '"Over the bound": a fixed window never admits more than its limit in a window; a token bucket no more than',
    'burst + refill + the units live servers held when the window began (docs/algorithms.md, "Leases"). "Under-admitted":',
    'requests denied in a window that ended with budget left. "Mean wait": arrival to decision, virtual ms (0 for a',
    'local decision, a round trip when the server had to ask the store). Without leases every decision is one round trip.',
    '',
    '![Admitted per second with and without leases, fixed window, 1,000 servers](img/lease-sim-fixed-window.svg)',
    '',
    '![Admitted per second with and without leases, token bucket, 1,000 servers](img/lease-sim-token-bucket.svg)',
    '',
    '### A real run: several processes on one Redis',
    '',
    real,
  ].join('\n')
  return { title: 'Leases: a simulated fleet of 10 to 1,000 servers', markdown }
}

/** Admitted per second, with and without leases, against demand and the limit's rate. */
function writePicture(row: Row): void {
  const file = row.kind === 'fixed window' ? 'lease-sim-fixed-window.svg' : 'lease-sim-token-bucket.svg'
  const W = 760
  const H = 330
  const left = 70
  const top = 70
  const plotW = W - left - 30
  const plotH = H - top - 60
  const secs = DURATION_MS / 1_000
  const max = 1.6 * RATE
  const x = (s: number) => left + (s / secs) * plotW
  const y = (v: number) => top + plotH - (Math.min(v, max) / max) * plotH
  const line = (values: number[], colour: string, dash = '') =>
    `<path d="${values.map((v, i) => `${i === 0 ? 'M' : 'L'}${fmt(x(i + 0.5))} ${fmt(y(v))}`).join('')}" fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`
  const code = `${row.kind === 'fixed window' ? 'fixedWindow' : 'tokenBucket'}({ limit: ${LIMIT}, window: '10s', lease: { size: 500, ttlMs: '5s' } }), ${row.servers} servers`
  const out = frame(W, H, left, `Admitted per second, ${row.kind}: with and without leases`, code)
  for (let v = 0; v <= max; v += RATE / 2) {
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${fmt(y(v))}" y2="${fmt(y(v))}" stroke="${FAINT}"/>`)
    out.push(`<text x="${left - 8}" y="${fmt(y(v) + 4)}" text-anchor="end" fill="${GREY}">${num(v)}</text>`)
  }
  for (let s = 0; s <= secs; s += 5)
    out.push(`<text x="${fmt(x(s))}" y="${top + plotH + 18}" text-anchor="middle" fill="${GREY}">${s} s</text>`)
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${fmt(y(RATE))}" y2="${fmt(y(RATE))}" stroke="${RED}" stroke-dasharray="6 4"/>`)
  out.push(
    line(
      row.plain.seconds.map((s) => s.demand),
      GREY,
      '3 3',
    ),
  )
  out.push(
    line(
      row.plain.seconds.map((s) => s.admitted),
      BLUE,
    ),
  )
  out.push(
    line(
      row.leased.seconds.map((s) => s.admitted),
      GREEN,
      '8 3',
    ),
  )
  const legend: [string, string][] = [
    [GREY, 'demand'],
    [BLUE, `without lease: ${num(perSecond(row.plain))} store ops/s`],
    [GREEN, `with lease: ${num(perSecond(row.leased))} store ops/s`],
    [RED, `limit's average rate (${num(RATE)}/s)`],
  ]
  legend.forEach(([colour, text], i) => {
    const lx = left + i * 180
    out.push(`<rect x="${lx}" y="${H - 28}" width="12" height="4" fill="${colour}"/>`)
    out.push(`<text x="${lx + 16}" y="${H - 22}" fill="${INK}">${esc(text)}</text>`)
  })
  out.push('</svg>')
  writeFileSync(new URL(`../docs/img/${file}`, import.meta.url), `${out.join('\n')}\n`)
}

const WORKERS = 4
const REAL_MS = 5_000

/** Calls of every command but our own INFO/CONFIG (INFO commandstats). */
async function commandCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats')
  let all = 0
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (!/^(info|config)\b/.test(m[1])) all += Number(m[2])
  return all
}

/** WORKERS processes (bench/lease-worker.ts) on one dedicated redis-server, without and with leases. */
async function realRun(): Promise<string> {
  const server = await startRedisServer()
  const admin = new Redis(server.url)
  const worker = fileURLToPath(new URL('./lease-worker.ts', import.meta.url))
  const rows: string[][] = []
  try {
    for (const leased of [false, true]) {
      progress(`leases: real run, ${WORKERS} processes, ${leased ? 'with' : 'without'} lease`)
      const before = await commandCalls(admin)
      const start = Date.now() + 1_500 // time for the processes to start
      const outputs = await Promise.all(
        Array.from({ length: WORKERS }, () => {
          const args = ['--import', 'tsx', worker, server.url, `rkl${leased ? 1 : 0}`, leased ? '1' : '0', String(start), String(REAL_MS)]
          return new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
            let out = ''
            child.stdout.on('data', (chunk) => {
              out += chunk
            })
            child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`lease worker exited with ${code}`))))
          })
        }),
      )
      const calls = (await commandCalls(admin)) - before
      const counts = outputs.map((o) => JSON.parse(o) as { decisions: number; admitted: number })
      const decisions = counts.reduce((n, c) => n + c.decisions, 0)
      const seconds = REAL_MS / 1_000
      rows.push([
        leased ? "`lease: { size: 500, ttlMs: '1s' }`" : 'no lease',
        num(decisions / seconds),
        num(calls / seconds),
        num(calls / decisions, 4),
      ])
    }
  } finally {
    admin.disconnect()
    await server.stop()
  }
  return [
    `${WORKERS} Node processes on this machine (2 cores, shared with the Redis server and whatever else runs), each with 64`,
    `decisions in flight on one global key for ${REAL_MS / 1_000} s: \`tokenBucket({ limit: 1_000_000, window: '1s' })\` on one`,
    'dedicated `redis-server`, through `RedisStore` (ioredis, auto-pipelining). Redis commands counted with INFO',
    'commandstats (every command but our own INFO; the commands a script runs count too, so a decision without a lease is',
    'its EVALSHA and what the script calls). Processes compete for the same two cores, so decisions per second are what this',
    'machine gives, not what a fleet would; with leases, Redis is no longer what limits them.',
    '',
    table(['', 'decisions/s (all processes)', 'Redis commands/s', 'commands per decision'], rows, ['l', 'r', 'r', 'r']),
  ].join('\n')
}
