import { checkKnownOptions, checkNotGivenBare, checkOptionsObject, invalid } from '../limiter/errors.js'
import type { Limiter } from '../limiter/types.js'
import { OUTCOMES } from './outcome.js'
import { type Attributes, baseAttributes, checkLimiter, checkMaxSeries, type LocalHistogram, MetricsRecorder } from './recorder.js'

/**
 * The part of a prom-client `Registry` the exporter uses: pass prom-client's `register` (its
 * default registry) or a `new Registry()`. ratekeeper never imports prom-client itself.
 */
export interface PrometheusRegistry {
  registerMetric(metric: never): void
  removeSingleMetric(name: string): void
  getSingleMetric(name: string): unknown
}

/** Options of {@link prometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** The prom-client registry the metrics are registered in (e.g. `register` from `prom-client`). Required. */
  registry: PrometheusRegistry
  /** Prefix of every metric name. @default 'ratekeeper_' */
  prefix?: string
  /** A `limiter` label on every series, to tell several limiters in one registry apart. @default none */
  name?: string
  /**
   * Most label sets (policy, layer, class, tier) kept apart; past it, new ones are counted in one
   * series labelled `overflow="true"`, and the limiter warns once (`RK_METRICS_SERIES_CAPPED`).
   * @default 1000
   */
  maxSeries?: number
}

/** A limiter's metrics, exported: stop them with `close()`. */
export interface LimiterMetrics {
  /** Stops listening to the limiter and removes its series (and, once no limiter uses them, the metrics). */
  close(): void
}

interface Sample {
  labels: Attributes
  value: number
  metricName?: string
}

type Kind = 'counter' | 'gauge' | 'histogram'

/**
 * One metric family in prom-client's registry, filled from the recorders at each scrape
 * (prom-client calls `get()`): several limiters exported to one registry share it.
 */
class Family {
  readonly aggregator = 'sum'
  readonly sources = new Set<MetricsRecorder>()
  /**
   * The name the family is registered under. `name` may change: a registry serving OpenMetrics
   * strips a counter's `_total` from it at each scrape, and keeps it registered as it was.
   */
  readonly key: string
  constructor(
    public name: string,
    readonly help: string,
    readonly type: Kind,
    readonly read: (recorder: MetricsRecorder, out: Sample[], name: string) => void,
  ) {
    this.key = name
  }

  get(): { name: string; help: string; type: Kind; aggregator: string; values: Sample[] } {
    const values: Sample[] = []
    for (const recorder of this.sources) this.read(recorder, values, this.name)
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** prom-client's `registry.resetMetrics()`: the figures are the limiter's own, and are kept. */
  reset(): void {}
}

/** A local histogram as Prometheus samples: cumulative `_bucket`s with `le`, `_sum`, `_count`. */
function histogramSamples(h: LocalHistogram, labels: Attributes, out: Sample[], name: string): void {
  if (h.count === 0) return
  let cumulative = 0
  for (let i = 0; i <= h.bounds.length; i++) {
    cumulative += h.counts[i]
    const le = i < h.bounds.length ? String(h.bounds[i]) : '+Inf'
    out.push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` })
  }
  out.push({ labels, value: h.sum, metricName: `${name}_sum` })
  out.push({ labels, value: h.count, metricName: `${name}_count` })
}

const FAMILIES: readonly (readonly [string, string, Kind, Family['read']])[] = [
  [
    'decisions_total',
    "Decisions by outcome (allowed, limited, shadow-limited, store-error/allowed, store-error/denied, fallback, allow-listed, deny-listed), counted on the headline policy; a shadow policy's own verdicts (shadow-allowed, shadow-limited) on its series",
    'counter',
    (r, out) => {
      for (const s of r.series) {
        for (let o = 0; o < OUTCOMES.length; o++) if (s.decisions[o] > 0) out.push({ labels: s.byOutcome[o], value: s.decisions[o] })
      }
    },
  ],
  [
    'remaining_ratio',
    "Each policy's remaining allowance at decision time, as a fraction of its capacity (0: spent)",
    'histogram',
    (r, out, name) => {
      for (const s of r.series) histogramSamples(s.ratio, s.attributes, out, name)
    },
  ],
  [
    'concurrency_in_flight',
    'Leases of concurrency policies held by requests this process admitted, not yet released',
    'gauge',
    (r, out) => {
      for (const s of r.series) if (s.concurrency) out.push({ labels: s.attributes, value: s.inFlight })
    },
  ],
  [
    'store_call_duration_seconds',
    'Store calls that answered with a promise (Redis, custom stores), from call to answer or failure',
    'histogram',
    (r, out, name) => {
      for (const s of r.callSeries) histogramSamples(s.latency, s.attributes, out, name)
    },
  ],
  [
    'store_deadline_misses_total',
    'Store calls that missed their deadline (ERR_RK_STORE_TIMEOUT)',
    'counter',
    (r, out) => {
      const base = r.base
      out.push({ labels: { ...base, store: 'main' }, value: r.deadlineMisses.main })
      if (r.deadlineMisses.fallback > 0) out.push({ labels: { ...base, store: 'fallback' }, value: r.deadlineMisses.fallback })
    },
  ],
  [
    'store_batch_size',
    'Requests per Redis script call (RedisStore batches the requests that arrive while a call is in flight)',
    'histogram',
    (r, out, name) => histogramSamples(r.batchSizes, r.base, out, name),
  ],
  [
    'deny_cache_hits_total',
    "Requests the Redis store's local deny cache answered without Redis",
    'counter',
    (r, out) => {
      out.push({ labels: r.base, value: r.denyCacheHits })
    },
  ],
]

/** The families made per registry and prefix, shared by the limiters exported there. */
const registries = new WeakMap<PrometheusRegistry, Map<string, Family>>()
/** One limiter exported to a registry: its recorder and the families it feeds. */
interface Export {
  readonly recorder: MetricsRecorder
  readonly families: readonly Family[]
}
/** Per registry, each export by prefix and name: two alike would write the same series twice. */
const exported = new WeakMap<PrometheusRegistry, Map<string, Export>>()

/**
 * Forgets the families the registry no longer holds (prom-client's `registry.clear()`, a
 * `removeSingleMetric`), and ends the exports left without any: else a later export would join
 * families nobody scrapes, and their names would stay taken.
 */
function dropCleared(registry: PrometheusRegistry, families: Map<string, Family>, exports: Map<string, Export>): void {
  for (const [full, family] of families) if (registry.getSingleMetric(full) !== family) families.delete(full)
  for (const [slot, entry] of exports) {
    if (entry.families.some((f) => families.get(f.key) === f)) continue
    entry.recorder.close()
    exports.delete(slot)
  }
}

const WHERE = 'prometheusMetrics()'
const KNOWN: { readonly [K in keyof Required<PrometheusMetricsOptions>]: true } = {
  registry: true,
  prefix: true,
  name: true,
  maxSeries: true,
}
const PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/**
 * Exports a limiter's metrics to a prom-client registry: decisions by outcome, remaining ratio,
 * store call latency and deadline misses, Redis batch sizes, deny-cache hits and concurrency in
 * flight (see docs/observability.md). Figures are kept in process and read at each scrape, so a
 * decision costs no prom-client call.
 *
 * @example
 * import { register } from 'prom-client'
 * prometheusMetrics(limiter, { registry: register })
 * app.get('/metrics', async (_req, res) => res.type(register.contentType).send(await register.metrics()))
 */
export function prometheusMetrics(limiter: Limiter, options: PrometheusMetricsOptions): LimiterMetrics {
  checkLimiter(WHERE, limiter)
  checkNotGivenBare(WHERE, options, (o) => typeof o.registerMetric === 'function', 'prometheusMetrics(limiter, { registry })')
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const { registry, prefix = 'ratekeeper_', name, maxSeries } = options
  checkMaxSeries(WHERE, maxSeries)
  if (
    typeof registry !== 'object' ||
    registry === null ||
    typeof registry.registerMetric !== 'function' ||
    typeof registry.getSingleMetric !== 'function' ||
    typeof registry.removeSingleMetric !== 'function'
  ) {
    invalid(WHERE, 'registry', "must be a prom-client Registry (e.g. `register` from 'prom-client')", registry)
  }
  if (typeof prefix !== 'string' || (prefix !== '' && !PREFIX.test(prefix))) {
    invalid(WHERE, 'prefix', 'must be a metric name prefix: letters, digits, _ and :, not starting with a digit', prefix)
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) invalid(WHERE, 'name', 'must be a non-empty string', name)
  let names = exported.get(registry)
  if (names === undefined) exported.set(registry, (names = new Map()))
  let families = registries.get(registry)
  if (families === undefined) registries.set(registry, (families = new Map()))
  const known = families
  dropCleared(registry, known, names)
  const slot = `${prefix}\n${name ?? ''}`
  if (names.has(slot)) {
    invalid(WHERE, 'name', 'must differ from the name of every other limiter exported to this registry with this prefix', name)
  }
  const used: Family[] = []
  const added: Family[] = []
  for (const [suffix, help, type, read] of FAMILIES) {
    const full = `${prefix}${suffix}`
    let family = known.get(full)
    if (family === undefined) {
      family = new Family(full, help, type, read)
      try {
        registry.registerMetric(family as never)
      } catch {
        // All or nothing: the families registered so far would be left in the registry for good.
        for (const f of added) {
          registry.removeSingleMetric(f.key)
          known.delete(f.key)
        }
        invalid(WHERE, 'prefix', `must give names no other metric of the registry has (${full} is registered already)`, prefix)
      }
      known.set(full, family)
      added.push(family)
    }
    used.push(family)
  }
  const recorder = new MetricsRecorder(limiter, baseAttributes(name), {}, maxSeries)
  for (const family of used) family.sources.add(recorder)
  const entry: Export = { recorder, families: used }
  const exports = names
  exports.set(slot, entry)
  return {
    close: () => {
      recorder.close()
      // Ended already (closed, or its families were cleared from the registry and the name reused).
      if (exports.get(slot) !== entry) return
      exports.delete(slot)
      for (const family of used) {
        family.sources.delete(recorder)
        if (family.sources.size > 0) continue
        if (known.get(family.key) === family) known.delete(family.key)
        if (registry.getSingleMetric(family.key) === family) registry.removeSingleMetric(family.key)
      }
    },
  }
}
