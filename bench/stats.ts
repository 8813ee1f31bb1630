// Helpers shared by the benchmark sections: interleaved timing rounds, operations in flight, medians,
// Markdown tables.

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** One thing being timed: `batch(n)` performs `n` operations (synchronously or not). */
export interface Contender {
  readonly name: string
  batch(n: number): void | Promise<void>
}

export interface RoundsOptions {
  /** Operations per batch (one batch per contender per round). */
  readonly ops: number
  /** Measured rounds; the median is reported. */
  readonly rounds: number
  /** Unmeasured rounds first, to let the JIT settle. @default 1 */
  readonly warmup?: number
  /**
   * `'cpu'`: this process's CPU time (user + system) per batch — on a shared, loaded machine
   * it counts only the time the process actually ran. `'wall'`: elapsed time. @default 'cpu'
   */
  readonly clock?: 'cpu' | 'wall'
}

/** Nanoseconds since an arbitrary origin, on the chosen clock. */
function clockNs(clock: 'cpu' | 'wall'): number {
  if (clock === 'wall') return Number(process.hrtime.bigint())
  const { user, system } = process.cpuUsage()
  return (user + system) * 1000
}

/**
 * Times every contender in interleaved rounds — each round runs all of them once, in an order
 * that rotates from round to round — so that noise from a shared machine spreads over all of
 * them rather than landing on one. Returns the median ns per operation of each contender
 * (CPU time by default, see {@link RoundsOptions.clock}).
 */
export async function timeRounds(contenders: readonly Contender[], options: RoundsOptions): Promise<Map<string, number>> {
  const { ops, rounds, warmup = 1, clock = 'cpu' } = options
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
  for (let round = 0; round < warmup + rounds; round++) {
    for (let j = 0; j < contenders.length; j++) {
      const contender = contenders[(round + j) % contenders.length]
      const started = clockNs(clock)
      const pending = contender.batch(ops)
      if (pending !== undefined) await pending
      const elapsed = clockNs(clock) - started
      if (round >= warmup) samples.get(contender.name)?.push(elapsed / ops)
    }
  }
  return new Map([...samples].map(([name, values]) => [name, median(values)]))
}

/**
 * Runs `n` operations with `outstanding` of them in flight at any time: that many loops, each
 * starting the next operation (`op(i)`, `i` counting from 0) as soon as its last one settled.
 */
export async function inFlight(n: number, outstanding: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let started = 0
  const worker = async () => {
    while (started < n) await op(started++)
  }
  await Promise.all(Array.from({ length: outstanding }, worker))
}

/** A Markdown table; cells are written as given. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string {
  const rule = headers.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : '---'))
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(headers), line(rule), ...rows.map(line)].join('\n')
}

/** Formats a number with thousands separators and at most `digits` decimals. */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '—'
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** ✅/❌ with the word, for target tables. */
export function verdict(ok: boolean): string {
  return ok ? '✅ pass' : '❌ fail'
}

/** A target row: what is measured, ratekeeper's figure, the target, and whether it was met. */
export type TargetRow = readonly [measure: string, value: string, target: string, ok: boolean]

/** The "Targets" table of a section: one row per target, with its verdict. */
export function targetsTable(targets: readonly TargetRow[]): string {
  return table(
    ['measure', 'ratekeeper', 'target', 'result'],
    targets.map(([measure, value, target, ok]) => [measure, value, target, verdict(ok)]),
    ['l', 'r', 'r', 'l'],
  )
}

/** Progress line on stderr, so stdout stays the report. */
export function progress(message: string): void {
  process.stderr.write(`  … ${message}\n`)
}

/** A seeded PRNG (mulberry32): the same numbers in [0, 1) every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
