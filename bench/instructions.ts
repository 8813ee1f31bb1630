// Instructions section (`npm run bench -- instructions`, not part of the default run: it needs
// valgrind and takes about ten minutes). The HTTP section's CPU time per request moves by ±20%
// from run to run on a shared 2-core machine, which is wider than the margins its targets leave.
// This section counts instead: each server of bench/http-server.ts runs under valgrind's
// callgrind, is warmed up with instrumentation off, and then every instruction the server
// process executes (all its threads, user space: JavaScript, V8, libuv, Node
// internals) is counted while autocannon sends it a fixed number of requests. The count per
// request repeats within a few percent from run to run (after one run thrown away), which settles
// differences the timed runs cannot.
//
// What it leaves out: kernel time (the same socket reads and writes for every variant of a
// framework here, since none of these talks to Redis once warm) and time spent waiting.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GROUPS as HTTP_GROUPS, type Target } from './http.js'
import { LABELS, type Variant } from './http-server.js'
import { median, num, progress, table, verdict } from './stats.js'
import type { BenchSection } from './types.js'

/** Requests before counting starts: enough for V8 to optimise the hot paths of every variant. */
const WARMUP = Number(process.env.RK_BENCH_INSTR_WARMUP ?? 20_000)
/** Requests per counted run; each variant is counted in RUNS runs (after one thrown away) and the median is reported. */
const REQUESTS = Number(process.env.RK_BENCH_INSTR_REQUESTS ?? 4_000)
const RUNS = Number(process.env.RK_BENCH_INSTR_RUNS ?? 3)
/** Only the groups whose title contains one of these words (comma-separated), e.g. `Koa,Fastify`. */
const ONLY = (process.env.RK_BENCH_INSTR_ONLY ?? '').split(',').filter(Boolean)
/** Connections autocannon keeps open (one: every request arrives alone, whatever the machine's load). */
const CONNECTIONS = Number(process.env.RK_BENCH_INSTR_CONNECTIONS ?? 10)
/** Variants counted at the same time (each valgrind keeps one core busy). */
const PARALLEL = 2

/** Servers counted together, each as a ratio to `bare`; labels are in {@link LABELS}. */
interface Group {
  readonly title: string
  readonly bare: Variant
  readonly others: readonly Variant[]
}

/**
 * The HTTP section's groups, with an empty plain middleware for Express, and Fastify's "already
 * limited" runs next to its memory runs: once warm they talk to Redis no more (the deny cache
 * answers), so their counts hold. The Redis runs that admit requests are not counted: under
 * valgrind a script call carries about 4 requests instead of about 17, which says little.
 */
const GROUPS: readonly Group[] = [
  {
    title: 'Express 5, memory store',
    bare: 'express-bare',
    others: ['express-sync-noop', 'express-async-noop', 'express-headers', 'express-ratekeeper', 'express-peer'],
  },
  {
    title: 'Fastify 5, memory store',
    bare: 'fastify-bare',
    others: [
      'fastify-headers',
      'fastify-ratekeeper',
      'fastify-peer',
      'fastify-429',
      'fastify-redis-ratekeeper-limited',
      'fastify-redis-peer-limited',
    ],
  },
  { title: 'Koa 3, memory store', bare: 'koa-bare', others: ['koa-headers', 'koa-ratekeeper', 'koa-peer'] },
  // Ratios to ratekeeper with a rate policy, beside the floor: a rate policy plus an in-flight count lowered at the response end.
  { title: 'Express 5, concurrency policy', bare: 'express-ratekeeper', others: ['express-concurrency-floor', 'express-concurrency'] },
  { title: 'Fastify 5, concurrency policy', bare: 'fastify-ratekeeper', others: ['fastify-concurrency-floor', 'fastify-concurrency'] },
]

/** The HTTP section's targets on CPU per request, for the servers counted here. */
const targetsOf = (group: Group): Target[] =>
  // Only the group's other servers: its bare one may be another group's subject (ratekeeper with a rate policy is the concurrency groups' bare).
  HTTP_GROUPS.flatMap((g) => g.targets).filter((t) => group.others.includes(t.variant))

interface AutocannonResult {
  requests: { total: number }
  errors: number
  non2xx: number
}
type Autocannon = (options: { url: string; connections: number; amount: number; timeout: number }) => Promise<AutocannonResult>

const serverFile = fileURLToPath(new URL('./http-server.ts', import.meta.url))

function control(pid: number, ...args: string[]): void {
  execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'ignore' })
}

interface Counted {
  /** Instructions per request, one figure per counted run. */
  readonly perRequest: number[]
}

/** Starts one server under callgrind, warms it up, counts RUNS runs and stops it. */
async function count(autocannon: Autocannon, variant: Variant, prefix: string, dir: string): Promise<Counted> {
  const out = join(dir, variant)
  const child: ChildProcess = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      `--callgrind-out-file=${out}.%p`,
      process.execPath,
      '--import',
      'tsx',
      serverFile,
      variant,
      prefix,
    ],
    { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] },
  )
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', (code) => reject(new Error(`${variant} under valgrind exited with ${code} before it was ready`)))
      child.on('message', (message: { port?: number }) => {
        if (message.port !== undefined) resolve(message.port)
      })
    })
    const pid = child.pid as number
    const load = async (amount: number): Promise<void> => {
      const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, amount, timeout: 60 })
      if (result.errors > 0 || result.requests.total !== amount)
        throw new Error(`${variant}: ${result.requests.total} of ${amount} requests, ${result.errors} errors`)
    }
    await load(WARMUP)
    const perRequest: number[] = []
    // Run 0 is counted but thrown away: the first run after instrumentation is switched on comes
    // out about twice as high as the ones after it, which agree within a few percent.
    for (let run = 0; run <= RUNS; run++) {
      control(pid, '-z')
      control(pid, '-i', 'on')
      await load(REQUESTS)
      control(pid, '-i', 'off')
      control(pid, '-d')
      const dumps = readdirSync(dir)
        .filter((name) => name.startsWith(`${variant}.${pid}.`))
        .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()))
      const text = readFileSync(join(dir, dumps[dumps.length - 1] as string), 'utf8')
      const totals = /^totals:\s+(\d+)/m.exec(text) ?? /^summary:\s+(\d+)/m.exec(text)
      if (totals === null) throw new Error(`${variant}: no totals in callgrind's dump`)
      if (run > 0) perRequest.push(Number(totals[1]) / REQUESTS)
    }
    return { perRequest }
  } finally {
    child.kill('SIGKILL')
  }
}

/** Runs `work` over `items` with at most `limit` in flight, keeping the results in order. */
async function pooled<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

export async function run(): Promise<BenchSection> {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
  } catch {
    throw new Error('the instructions section needs valgrind (Debian: apt-get install valgrind)')
  }
  const autocannon = ((await import(String('autocannon'))) as { default: Autocannon }).default
  const prefix = `rk-bench-instr-${process.pid}-${Date.now()}`
  const dir = mkdtempSync(join(tmpdir(), 'rk-callgrind-'))
  const groups = GROUPS.filter((g) => ONLY.length === 0 || ONLY.some((word) => g.title.includes(word)))
  const variants = [...new Set(groups.flatMap((g) => [g.bare, ...g.others]))]
  let done = 0
  const counted = new Map<Variant, Counted>()
  try {
    const results = await pooled(variants, PARALLEL, async (variant) => {
      const result = await count(autocannon, variant, prefix, dir)
      progress(`instructions: ${++done}/${variants.length} (${variant}: ${result.perRequest.map((n) => num(n)).join(', ')})`)
      return result
    })
    for (const [i, variant] of variants.entries()) counted.set(variant, results[i] as Counted)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }

  const parts = [
    `Every instruction the server process executes in user space (JavaScript, V8, Node, libuv; all threads), counted by valgrind's callgrind ` +
      `while autocannon sends ${num(REQUESTS)} requests over ${CONNECTIONS} connections, after ${num(WARMUP)} uncounted requests of warm-up; ` +
      `median of ${RUNS} counted runs per server (after one run thrown away). Same servers and options as the HTTP section. Unlike CPU time, these counts repeat within a few percent ` +
      'from run to run, so they settle differences that the timed runs cannot. Kernel time is not counted: it is the same for every server of a framework here ' +
      "(none of them talks to Redis once warm), and it is a large share of a bare server's CPU time (socket writes are over half of bare Fastify's CPU profile), " +
      'so a ratio of instructions overstates the same ratio of CPU time: read it as an upper bound, and the difference between two rows as the user-space work one adds. ' +
      'The "reference" rows are not limiters: they show what a framework charges for one more middleware, or for ' +
      "writing ratekeeper's five default headers (`X-RateLimit-Limit`, `-Remaining`, `-Reset`, `RateLimit-Policy`, `RateLimit`) and doing nothing else.",
  ]
  const verdicts: string[][] = []
  for (const group of groups) {
    const bare = median((counted.get(group.bare) as Counted).perRequest)
    const rows = [group.bare, ...group.others].map((variant) => {
      const runs = (counted.get(variant) as Counted).perRequest
      const value = median(runs)
      const spread = (Math.max(...runs) - Math.min(...runs)) / value
      return { variant, value, spread, ratio: value / bare }
    })
    parts.push(
      `### ${group.title}\n\n${table(
        ['server', 'instructions per request', 'spread of runs', 'over bare', '÷ bare'],
        rows.map((r) => [
          LABELS[r.variant],
          num(r.value),
          `${(r.spread * 100).toFixed(1)}%`,
          r.variant === group.bare ? '' : num(r.value - bare),
          num(r.ratio, 3),
        ]),
        ['l', 'r', 'r', 'r', 'r'],
      )}`,
    )
    for (const target of targetsOf(group)) {
      const row = rows.find((r) => r.variant === target.variant)
      const floor = rows.find((r) => r.variant === target.floor)
      if (row !== undefined) {
        const alone = floor === undefined ? '' : `${floor.ratio.toFixed(3)}×`
        verdicts.push([target.what, `≤ ${target.cpu.toFixed(2)}×`, `${row.ratio.toFixed(3)}×`, alone, verdict(row.ratio <= target.cpu)])
      }
    }
  }
  parts.push(
    `### Targets, counted in instructions\n\n${table(['case', 'target (÷ bare)', 'counted', 'the same output alone (reference)', ''], verdicts)}`,
  )
  return { title: 'HTTP: instructions per request', markdown: parts.join('\n\n') }
}
