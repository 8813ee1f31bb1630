import type { Decision } from '../limiter/decision.js'
import { invalid } from '../limiter/errors.js'
import type { Policy } from '../limiter/policy.js'
import type { Limiter, LimiterEvents } from '../limiter/types.js'
import {
  headlineIndex,
  isRecord,
  LISTED_OUTCOME,
  OUTCOMES,
  outcomeIndex,
  SHADOW_ALLOWED,
  SHADOW_LIMITED,
  shadowCharged,
} from './outcome.js'

/** The attributes of a series, as exported (an attribute that does not apply is left out). */
export type Attributes = Readonly<Record<string, string>>

/** Default of the exporters' `maxSeries`: attribute sets of policies kept apart. */
export const DEFAULT_MAX_SERIES = 1000
/** Code of the warning given when an exporter's `maxSeries` is reached. */
export const METRICS_SERIES_CAPPED = 'RK_METRICS_SERIES_CAPPED'
/** Code of the warning given when a store reports a figure the metrics cannot count. */
export const METRICS_FIGURE_IGNORED = 'RK_METRICS_FIGURE_IGNORED'

/** Checks the limiter an exporter is given, before anything is registered or listened to. */
export function checkLimiter(where: string, limiter: unknown): asserts limiter is Limiter {
  if (typeof limiter !== 'object' || limiter === null || typeof (limiter as Limiter).on !== 'function') {
    invalid(where, 'limiter', 'must be a limiter made by createLimiter() (an HTTP middleware has it as .limiter)', limiter)
  }
}

/** Validates an exporter's `maxSeries` option. */
export function checkMaxSeries(where: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1_000_000)) {
    invalid(where, 'maxSeries', 'must be an integer from 1 to 1000000', value)
  }
}

/** Upper bounds of the remaining-ratio histogram (remaining ÷ capacity at decision time). */
export const RATIO_BOUNDS: readonly number[] = Object.freeze([0, 0.1, 0.25, 0.5, 0.75, 0.9, 1])
/** Upper bounds of the store call latency histogram, seconds. */
export const LATENCY_BOUNDS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1])
/** Upper bounds of the Redis batch size histogram, requests. */
export const BATCH_BOUNDS: readonly number[] = Object.freeze([1, 2, 4, 8, 16, 32, 64, 128])

/** A histogram kept locally: counts per bucket (not cumulative; the last is above every bound), sum, count. */
export class LocalHistogram {
  readonly counts: Float64Array
  sum = 0
  count = 0
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]) i++
    this.counts[i]++
    this.sum += value
    this.count++
  }
}

/** One attribute set of a policy: policy name, layer, class, tier. */
export class PolicySeries {
  /** Decisions whose headline was this policy (store errors: the series without a policy), by outcome. */
  readonly decisions = new Float64Array(OUTCOMES.length)
  readonly ratio = new LocalHistogram(RATIO_BOUNDS)
  /** Leases of this policy held by admitted requests of this process, not yet released. */
  inFlight = 0
  /** Whether the policy is a concurrency policy (its in-flight gauge is exported). */
  concurrency = false
  /** `attributes` with each outcome, built once (OpenTelemetry observes with these). */
  readonly byOutcome: readonly Attributes[]
  constructor(readonly attributes: Attributes) {
    this.byOutcome = OUTCOMES.map((outcome) => Object.freeze({ ...attributes, outcome }))
  }
}

/** One store call series: store, mode, result. */
export class CallSeries {
  readonly latency = new LocalHistogram(LATENCY_BOUNDS)
  constructor(readonly attributes: Attributes) {}
}

/** What an exporter does with each value as it comes (OpenTelemetry's histograms record them one by one). */
export interface RecorderSinks {
  ratio?(series: PolicySeries, value: number): void
  latency?(series: CallSeries, seconds: number): void
  batch?(size: number): void
}

type Nested<T> = Map<string, Map<string, Map<string, Map<string, T>>>>

function nestedGet<T>(root: Nested<T>, a: string, b: string, c: string, d: string): T | undefined {
  return root.get(a)?.get(b)?.get(c)?.get(d)
}

function nestedSet<T>(root: Nested<T>, a: string, b: string, c: string, d: string, value: T): void {
  let m1 = root.get(a)
  if (m1 === undefined) root.set(a, (m1 = new Map()))
  let m2 = m1.get(b)
  if (m2 === undefined) m1.set(b, (m2 = new Map()))
  let m3 = m2.get(c)
  if (m3 === undefined) m2.set(c, (m3 = new Map()))
  m3.set(d, value)
}

/**
 * Listens to a limiter and keeps its figures in process, aggregated per attribute set: what a
 * decision costs is a few field reads, map lookups and additions, whatever the exporter. The
 * exporters read the figures when they are collected (a scrape, an export). Attribute sets are
 * built once per combination; the key is never one of them.
 */
export class MetricsRecorder {
  readonly #policies: Nested<PolicySeries> = new Map()
  /** Every policy series, in creation order (what the exporters walk). */
  readonly series: PolicySeries[] = []
  readonly #calls = new Map<string, CallSeries>()
  readonly callSeries: CallSeries[] = []
  /** Store calls that missed their deadline, by store. */
  readonly deadlineMisses = { main: 0, fallback: 0 }
  readonly batchSizes = new LocalHistogram(BATCH_BOUNDS)
  denyCacheHits = 0
  /** Decisions holding leases, counted in `inFlight` until released. */
  readonly #holding = new WeakSet<Decision>()
  /** The attributes every series carries (`limiter`, when named). */
  readonly base: Attributes
  readonly #sinks: RecorderSinks
  readonly #off: (() => void)[]
  /** The series and ratios of the decision being counted, for the ratio sink (reused). */
  readonly #heard: PolicySeries[] = []
  readonly #ratios: number[] = []
  #last: { policy: string; layer: string | undefined; cls: string | undefined; tier: string | undefined; series: PolicySeries } | undefined

  /** Most policy series kept; past it, new attribute sets share the overflow series. */
  readonly #maxSeries: number
  #overflow: PolicySeries | undefined
  readonly #limiter: Limiter
  /** A store figure was left out already (said once). */
  #figureIgnored = false

  constructor(limiter: Limiter, base: Attributes, sinks: RecorderSinks, maxSeries = DEFAULT_MAX_SERIES) {
    this.base = base
    this.#sinks = sinks
    this.#maxSeries = maxSeries
    this.#limiter = limiter
    this.#off = [
      limiter.on('decision', (d) => this.decided(d)),
      limiter.on('released', (d) => this.released(d)),
      // Undecided, so without a policy, class or tier: on the series of the limiter alone.
      limiter.on('listed', (e) => this.seriesOf('', undefined, undefined, undefined).decisions[LISTED_OUTCOME[e.list]]++),
      limiter.on('store-call', (e) => this.called(e)),
      limiter.on('store-measure', (e) => this.measured(e)),
    ]
  }

  /**
   * A figure a store reported of itself. A custom store's figure that is no count (NaN, negative,
   * infinite) or of another name is left out, and said once: a NaN would make a sum NaN for good
   * (and prom-client writes it as `Nan`, which fails the whole scrape), a negative one would take
   * a counter down.
   */
  measured(e: LimiterEvents['store-measure']): void {
    const { name, value } = e
    if (
      (name !== 'deny-cache-hit' && name !== 'batch-size') ||
      typeof value !== 'number' ||
      !(value >= 0) ||
      value === Number.POSITIVE_INFINITY
    ) {
      if (this.#figureIgnored) return
      this.#figureIgnored = true
      this.#limiter.warn?.({
        code: METRICS_FIGURE_IGNORED,
        message: `ratekeeper metrics: the store reported a figure that is not a count >= 0 of 'batch-size' or 'deny-cache-hit'; it is not counted (said once)`,
      })
      return
    }
    if (name === 'deny-cache-hit') this.denyCacheHits += value
    else {
      this.batchSizes.observe(value)
      this.#sinks.batch?.(value)
    }
  }

  /** Stops listening (the figures stay as they are). */
  close(): void {
    for (const off of this.#off.splice(0)) off()
  }

  /** The series of a policy (name '' for the store errors' series), made on first use. */
  seriesOf(policy: string, layer: string | undefined, cls: string | undefined, tier: string | undefined): PolicySeries {
    // The last series asked for: a limiter with one policy finds it with four comparisons.
    const last = this.#last
    if (last !== undefined && last.policy === policy && last.layer === layer && last.cls === cls && last.tier === tier) return last.series
    let series = nestedGet(this.#policies, policy, layer ?? '', cls ?? '', tier ?? '')
    if (series === undefined && this.series.length >= this.#maxSeries) return this.#overflowSeries()
    if (series === undefined) {
      const attributes: Record<string, string> = { ...this.base }
      if (policy !== '') attributes.policy = policy
      if (layer !== undefined) attributes.layer = layer
      if (cls !== undefined) attributes.class = cls
      if (tier !== undefined) attributes.tier = tier
      series = new PolicySeries(Object.freeze(attributes))
      nestedSet(this.#policies, policy, layer ?? '', cls ?? '', tier ?? '', series)
      this.series.push(series)
    }
    if (last === undefined) this.#last = { policy, layer, cls, tier, series }
    else {
      last.policy = policy
      last.layer = layer
      last.cls = cls
      last.tier = tier
      last.series = series
    }
    return series
  }

  /**
   * The one series every attribute set past `maxSeries` is counted in (`overflow="true"`): names
   * made per customer (a policy, class or tier) would otherwise grow the figures, and the
   * backend's series, without bound. Said once, through the limiter's `warn`.
   */
  #overflowSeries(): PolicySeries {
    if (this.#overflow !== undefined) return this.#overflow
    const series = new PolicySeries(Object.freeze({ ...this.base, overflow: 'true' }))
    this.#overflow = series
    this.series.push(series)
    this.#limiter.warn?.({
      code: METRICS_SERIES_CAPPED,
      message: `ratekeeper metrics: more than ${this.#maxSeries} policy/layer/class/tier combinations; the rest are counted in one series labelled overflow="true". Keep policy, class and tier names a fixed set (never one per customer), or raise maxSeries.`,
    })
    return series
  }

  decided(d: Decision): void {
    const outcome = outcomeIndex(d)
    if (!isRecord(d) || d.list.length === 0) {
      this.seriesOf('', undefined, d.class, d.tier).decisions[outcome]++
      return
    }
    const list = d.list
    const head = headlineIndex(d)
    // No policy enforced (shadow ones alone): the decision is counted once all the same, without a policy.
    if (head < 0) this.seriesOf('', undefined, d.class, d.tier).decisions[outcome]++
    const holds = d.allowed && d.reason === 'ok'
    const sink = this.#sinks.ratio
    for (let i = 0; i < list.length; i++) {
      const p: Policy = list[i]
      const series = this.seriesOf(p.name, d.layerAt(i), d.class, d.tier)
      if (i === head) series.decisions[outcome]++
      // A shadow policy's own verdict, on its own series: what it would do if it enforced (never
      // `allowed`, which the headline counted already).
      else if (p.shadow) series.decisions[d.retryAt(i) === 0 ? SHADOW_ALLOWED : SHADOW_LIMITED]++
      const ratio = p.burst > 0 ? Math.min(1, d.remainingAt(i) / p.burst) : 0
      series.ratio.observe(ratio)
      if (sink !== undefined) {
        this.#heard[i] = series
        this.#ratios[i] = ratio
      }
      if (p.kind === 'concurrency') {
        series.concurrency = true
        if (holds && (!p.shadow || shadowCharged(d))) {
          series.inFlight++
          this.#holding.add(d)
        }
      }
    }
    // The meter hears each value once everything is counted: a meter that throws loses no count.
    if (sink !== undefined) for (let i = 0; i < list.length; i++) sink(this.#heard[i], this.#ratios[i])
  }

  released(d: Decision): void {
    if (!this.#holding.has(d) || !isRecord(d)) return
    this.#holding.delete(d)
    const list = d.list
    for (let i = 0; i < list.length; i++) {
      if (list[i].kind === 'concurrency' && (!list[i].shadow || shadowCharged(d)))
        this.seriesOf(list[i].name, d.layerAt(i), d.class, d.tier).inFlight--
    }
  }

  called(e: LimiterEvents['store-call']): void {
    const name = `${e.store}|${e.mode}|${e.result}`
    let series = this.#calls.get(name)
    if (series === undefined) {
      series = new CallSeries(Object.freeze({ ...this.base, store: e.store, mode: e.mode, result: e.result }))
      this.#calls.set(name, series)
      this.callSeries.push(series)
    }
    const seconds = e.durationMs / 1000
    series.latency.observe(seconds)
    if (e.result === 'timeout') this.deadlineMisses[e.store]++
    // The meter hears the value once everything is counted: a meter that throws loses no count.
    this.#sinks.latency?.(series, seconds)
  }
}

/** The attributes every series of one exporter carries: `limiter` when the exporter was given a name. */
export function baseAttributes(name: string | undefined): Attributes {
  const base: Record<string, string> = {}
  if (name !== undefined) base.limiter = name
  return Object.freeze(base)
}
