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
import type { Variant } from './http-server.js'
import { median, num, progress, table, verdict } from './stats.js'
import type { BenchSection } from './types.js'

/** Requests before counting starts: enough for V8 to optimise the hot paths of every variant. */
const WARMUP = Number(process.env.RK_BENCH_INSTR_WARMUP ?? 20_000)
/** Requests per counted run; each variant is counted in RUNS runs (after one thrown away) and the median is reported. */
const REQUESTS = Number(process.env.RK_BENCH_INSTR_REQUESTS ?? 4_000)
const RUNS = Number(process.env.RK_BENCH_INSTR_RUNS ?? 3)
/** Only the groups whose title contains one of these words (comma-separated), e.g. `Koa,Fastify`. */
const ONLY = (process.env.RK_BENCH_INSTR_ONLY ?? '').split(',').filter(Boolean)
const CONNECTIONS = 10
/** Variants counted at the same time (each valgrind keeps one core busy). */
const PARALLEL = 2

interface Contender {
  readonly variant: Variant
  readonly label: string
}

interface Group {
  readonly title: string
  readonly bare: Contender
  readonly others: readonly Contender[]
  /** `floor`: the reference server that only writes the same output, a floor for any limiter. */
  readonly targets: readonly { readonly variant: Variant; readonly what: string; readonly max: number; readonly floor: Variant }[]
}

const GROUPS: readonly Group[] = [
  {
    title: 'Express 5, memory store',
    bare: { variant: 'express-bare', label: 'bare Express 5' },
    others: [
      { variant: 'express-sync-noop', label: 'an empty middleware (reference)' },
      { variant: 'express-async-noop', label: 'an empty `async` middleware (reference)' },
      { variant: 'express-headers', label: "a middleware that only sets ratekeeper's five headers (reference)" },
      { variant: 'express-ratekeeper', label: 'ratekeeper' },
      { variant: 'express-peer', label: 'express-rate-limit' },
    ],
    targets: [{ variant: 'express-ratekeeper', what: 'Express 5, one memory policy', max: 1.1, floor: 'express-headers' }],
  },
  {
    title: 'Fastify 5, memory store',
    bare: { variant: 'fastify-bare', label: 'bare Fastify 5' },
    others: [
      { variant: 'fastify-headers', label: "an `onRequest` hook that only sets ratekeeper's five headers (reference)" },
      { variant: 'fastify-ratekeeper', label: 'ratekeeper' },
      { variant: 'fastify-peer', label: '@fastify/rate-limit' },
      {
        variant: 'fastify-429',
        label: "an `onRequest` hook that only sends ratekeeper's 429 (seven headers and the problem body) to every request (reference)",
      },
      { variant: 'fastify-redis-ratekeeper-limited', label: 'ratekeeper `RedisStore`, every client already limited (deny cache on)' },
      { variant: 'fastify-redis-peer-limited', label: '@fastify/rate-limit, Redis, every client already limited' },
    ],
    targets: [
      { variant: 'fastify-ratekeeper', what: 'Fastify 5, one memory policy', max: 1.05, floor: 'fastify-headers' },
      { variant: 'fastify-redis-ratekeeper-limited', what: 'Fastify 5 on Redis, client already limited', max: 1.1, floor: 'fastify-429' },
    ],
  },
  {
    title: 'Koa 3, memory store',
    bare: { variant: 'koa-bare', label: 'bare Koa 3' },
    others: [
      { variant: 'koa-headers', label: "a middleware that only sets ratekeeper's five headers (reference)" },
      { variant: 'koa-ratekeeper', label: 'ratekeeper' },
      { variant: 'koa-peer', label: 'koa-ratelimit (memory driver)' },
    ],
    targets: [{ variant: 'koa-ratekeeper', what: 'Koa 3, one memory policy', max: 1.05, floor: 'koa-headers' }],
  },
]

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
  const variants = [...new Set(groups.flatMap((g) => [g.bare, ...g.others].map((c) => c.variant)))]
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
    const bare = median((counted.get(group.bare.variant) as Counted).perRequest)
    const rows = [group.bare, ...group.others].map((c) => {
      const runs = (counted.get(c.variant) as Counted).perRequest
      const value = median(runs)
      const spread = (Math.max(...runs) - Math.min(...runs)) / value
      return { c, value, spread, ratio: value / bare }
    })
    parts.push(
      `### ${group.title}\n\n${table(
        ['server', 'instructions per request', 'spread of runs', 'over bare', '÷ bare'],
        rows.map((r) => [
          r.c.label,
          num(r.value),
          `${(r.spread * 100).toFixed(1)}%`,
          r.c === group.bare ? '' : num(r.value - bare),
          num(r.ratio, 3),
        ]),
        ['l', 'r', 'r', 'r', 'r'],
      )}`,
    )
    for (const target of group.targets) {
      const row = rows.find((r) => r.c.variant === target.variant)
      const floor = rows.find((r) => r.c.variant === target.floor)
      if (row !== undefined) {
        const alone = floor === undefined ? '' : `${floor.ratio.toFixed(3)}×`
        verdicts.push([target.what, `≤ ${target.max.toFixed(2)}×`, `${row.ratio.toFixed(3)}×`, alone, verdict(row.ratio <= target.max)])
      }
    }
  }
  parts.push(
    `### Targets, counted in instructions\n\n${table(['case', 'target (÷ bare)', 'counted', 'the same output alone (reference)', ''], verdicts)}`,
  )
  return { title: 'HTTP: instructions per request', markdown: parts.join('\n\n') }
}
