// Memory section: ratekeeper's in-process path against express-rate-limit's MemoryStore and
// rate-limiter-flexible's RateLimiterMemory, in one process, interleaved.

import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { MemoryStore as ErlMemoryStore } from 'express-rate-limit'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { createLimiter, fixedWindow, type Limiter, MemoryStore, type Policy, slidingWindow, tokenBucket } from 'ratekeeper'
import { HUGE, heapContenders, KEYS } from './memory-heap.js'
import { type Contender, num, progress, table, targetsTable, timeRounds } from './stats.js'
import type { BenchSection } from './types.js'

const DISTINCT = 100_000
const OPS = 200_000
const ROUNDS = Number(process.env.RK_BENCH_ROUNDS ?? 9)
const HEAP_TARGET = 128

const ERL = 'express-rate-limit `MemoryStore.increment`'
const RLF = 'rate-limiter-flexible `RateLimiterMemory.consume`'
const RK_DECIDE = 'ratekeeper `decide`, tokenBucket'
const RK_CONSUME = 'ratekeeper `await consume`, tokenBucket'
const RK_FIXED = 'ratekeeper `decide`, fixedWindow'
const RK_SLIDING = 'ratekeeper `decide`, slidingWindow'

/** The key for operation i: one hot key, or DISTINCT keys in turn. */
type KeyOf = (i: number) => string

function contenders(keyOf: KeyOf): { list: Contender[]; close: () => void } {
  const erl = new ErlMemoryStore()
  erl.init({ windowMs: 3_600_000 } as Parameters<ErlMemoryStore['init']>[0])
  const rlf = new RateLimiterMemory({ points: HUGE, duration: 3600 })
  const limiters: Limiter[] = []
  const limiter = (policy: Policy) => {
    const created = createLimiter({ store: new MemoryStore({ maxKeys: 1_100_000 }), policies: [policy] })
    limiters.push(created)
    return created
  }
  const tb = limiter(tokenBucket({ limit: HUGE, window: '1h' }))
  const tbAsync = limiter(tokenBucket({ limit: HUGE, window: '1h' }))
  const fw = limiter(fixedWindow({ limit: HUGE, window: '1h' }))
  const sw = limiter(slidingWindow({ limit: HUGE, window: '1h' }))
  // Each contender keeps its own cursor so that successive batches continue the round-robin.
  const sync = (name: string, target: Limiter): Contender => {
    let cursor = 0
    return {
      name,
      batch: (n) => {
        for (let i = 0; i < n; i++) target.decide(keyOf(cursor++))
      },
    }
  }
  let erlCursor = 0
  let rlfCursor = 0
  let consumeCursor = 0
  const list: Contender[] = [
    {
      name: ERL,
      batch: async (n) => {
        for (let i = 0; i < n; i++) await erl.increment(keyOf(erlCursor++))
      },
    },
    {
      name: RLF,
      batch: async (n) => {
        for (let i = 0; i < n; i++) await rlf.consume(keyOf(rlfCursor++)).catch(() => undefined)
      },
    },
    sync(RK_DECIDE, tb),
    {
      name: RK_CONSUME,
      batch: async (n) => {
        for (let i = 0; i < n; i++) await tbAsync.consume(keyOf(consumeCursor++))
      },
    },
    sync(RK_FIXED, fw),
    sync(RK_SLIDING, sw),
  ]
  return {
    list,
    close: () => {
      erl.shutdown()
      for (const each of limiters) void each.close()
    },
  }
}

async function decisionCost(): Promise<{ hot: Map<string, number>; distinct: Map<string, number> }> {
  progress(`ns per decision, hot key: ${ROUNDS} rounds of ${num(OPS)} per contender`)
  const hotSet = contenders(() => 'hot-client')
  const hot = await timeRounds(hotSet.list, { ops: OPS, rounds: ROUNDS })
  hotSet.close()

  progress(`ns per decision, ${num(DISTINCT)} keys round-robin: ${ROUNDS} rounds of ${num(OPS)} per contender`)
  const keys = Array.from({ length: DISTINCT }, (_, i) => `client-${i}`)
  const distinctSet = contenders((i) => keys[i % DISTINCT])
  const distinct = await timeRounds(distinctSet.list, { ops: OPS, rounds: ROUNDS })
  distinctSet.close()
  return { hot, distinct }
}

interface HeapResult {
  name: string
  heapBytesPerKey: number
  arrayBufferBytesPerKey: number
}

function heapPerKey(): HeapResult[] {
  const script = fileURLToPath(new URL('./memory-heap.ts', import.meta.url))
  const cwd = fileURLToPath(new URL('..', import.meta.url))
  return Object.keys(heapContenders).map((name) => {
    progress(`heap per key after ${num(KEYS)} keys: ${name}`)
    const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, name], { cwd, encoding: 'utf8', timeout: 300_000 })
    if (run.status !== 0) throw new Error(`heap measurement of ${name} failed (exit ${run.status}): ${run.stderr}`)
    return JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as HeapResult
  })
}

export async function run(): Promise<BenchSection> {
  const { hot, distinct } = await decisionCost()
  const heap = heapPerKey()
  const at = (results: Map<string, number>, name: string) => results.get(name) ?? Number.NaN
  const heapOf = (name: string) => heap.find((row) => row.name === name)

  const costRows = [ERL, RLF, RK_DECIDE, RK_CONSUME, RK_FIXED, RK_SLIDING].map((name) => [
    name,
    num(at(hot, name)),
    num(at(distinct, name)),
  ])
  const heapRows = heap.map((row) => [row.name, num(row.heapBytesPerKey), num(row.heapBytesPerKey + row.arrayBufferBytesPerKey)])

  const tbHeap = heapOf('ratekeeper tokenBucket')?.heapBytesPerKey ?? Number.NaN
  const targets = [
    [
      'ns per decision, hot key',
      `${num(at(hot, RK_DECIDE))} (decide)`,
      `≤ ${num(at(hot, ERL))} (express-rate-limit)`,
      at(hot, RK_DECIDE) <= at(hot, ERL),
    ],
    [
      `ns per decision, ${num(DISTINCT)} keys`,
      `${num(at(distinct, RK_DECIDE))} (decide)`,
      `≤ ${num(at(distinct, ERL))} (express-rate-limit)`,
      at(distinct, RK_DECIDE) <= at(distinct, ERL),
    ],
    ['heap bytes per key, token bucket', num(tbHeap), `≤ ${HEAP_TARGET}`, tbHeap <= HEAP_TARGET],
  ] as const

  const markdown = [
    '### Targets',
    '',
    targetsTable(targets),
    '',
    `### CPU nanoseconds per decision (median of ${ROUNDS} interleaved rounds of ${num(OPS)})`,
    '',
    table(['contender', 'hot key', `${num(DISTINCT)} keys, round-robin`], costRows, ['l', 'r', 'r']),
    '',
    `### Heap bytes per key after ${num(KEYS)} distinct keys`,
    '',
    table(['contender', 'heap', 'heap + ArrayBuffers'], heapRows, ['l', 'r', 'r']),
    '',
    'How these are measured (`bench/memory.ts`, `bench/memory-heap.ts`):',
    '',
    '- Every contender admits every request (limits of 10⁹ per hour), so each figure is the',
    '  cost of an admitted request with its state updated. Each contender has its own store.',
    '- express-rate-limit is its store alone (`increment`, a fixed-window counter, awaited): the',
    '  middleware around it compares and sets headers on top. rate-limiter-flexible is',
    '  `consume` (awaited). ratekeeper is the whole limiter: key validation, the policy step, the',
    '  store and the `Decision` object; `decide` returns synchronously on the memory store (the',
    '  path the adapters use), `consume` wraps the same in a promise.',
    "- Time is the process's CPU time (user + system) per batch, not elapsed time, so that other",
    '  processes on a shared machine inflate it less (they still share caches and cores). Rounds',
    '  rotate the order of contenders, after one warm-up round; medians are reported. Compare',
    '  rows of one run, not figures of different runs.',
    '- Heap: a fresh process per contender with `--expose-gc`, `heapUsed` after minus before',
    `  (garbage collected both times) divided by ${num(KEYS)}. The baseline is taken before the store`,
    `  is created, so up-front allocations count: ratekeeper's \`MemoryStore({ maxKeys: 1_100_000 })\``,
    '  (lru-cache) sizes its index arrays by `maxKeys`; those typed arrays live outside the heap,',
    '  which is why the last column adds `arrayBuffers`. Key strings (`client-<i>`) are included.',
  ].join('\n')

  return { title: 'Memory store', markdown }
}
