import { checkKnownOptions, checkNotGivenBare, checkOptionsObject, invalid } from '../limiter/errors.js'
import type { Limiter } from '../limiter/types.js'
import { OUTCOMES } from './outcome.js'
import type { LimiterMetrics } from './prometheus.js'
import {
  type Attributes,
  BATCH_BOUNDS,
  baseAttributes,
  checkLimiter,
  checkMaxSeries,
  LATENCY_BOUNDS,
  MetricsRecorder,
  type PolicySeries,
  RATIO_BOUNDS,
} from './recorder.js'

/** What an observable instrument's callback observes through. */
export interface OpenTelemetryObservation {
  observe(value: number, attributes?: Attributes): void
}

/** The part of an OpenTelemetry observable instrument the exporter uses. */
export interface OpenTelemetryObservable {
  addCallback(callback: (result: OpenTelemetryObservation) => void): void
  removeCallback(callback: (result: OpenTelemetryObservation) => void): void
}

/** Options of an OpenTelemetry instrument, as the exporter passes them. */
export interface OpenTelemetryInstrumentOptions {
  description?: string
  unit?: string
  advice?: { explicitBucketBoundaries?: number[] }
}

/**
 * The part of an OpenTelemetry `Meter` (`@opentelemetry/api`) the exporter uses: pass
 * `metrics.getMeter('ratekeeper')`. ratekeeper never imports the OpenTelemetry API itself.
 */
export interface OpenTelemetryMeter {
  createHistogram(name: string, options?: OpenTelemetryInstrumentOptions): { record(value: number, attributes?: Attributes): void }
  createObservableCounter(name: string, options?: OpenTelemetryInstrumentOptions): OpenTelemetryObservable
  createObservableUpDownCounter(name: string, options?: OpenTelemetryInstrumentOptions): OpenTelemetryObservable
}

/** Options of {@link openTelemetryMetrics}. */
export interface OpenTelemetryMetricsOptions {
  /** The meter the instruments are created on (e.g. `metrics.getMeter('ratekeeper')` from `@opentelemetry/api`). Required. */
  meter: OpenTelemetryMeter
  /** A `limiter` attribute on every data point, to tell several limiters apart. @default none */
  name?: string
  /**
   * Record `ratekeeper.remaining_ratio` too. OpenTelemetry has no observable histogram, so this
   * instrument would be recorded per policy and decision, and the SDK hashes the attributes of
   * every record (about 0.3 µs with one attribute, 1 µs with four): on Fastify that is more than
   * the 3% of CPU per request the other instruments stay within, so it is off unless asked for.
   * Everything else is read at collection and costs what it costs with Prometheus.
   * @default false
   */
  remainingRatio?: boolean
  /**
   * Most attribute sets (policy, layer, class, tier) kept apart; past it, new ones are counted in
   * one series with `overflow: 'true'`, and the limiter warns once (`RK_METRICS_SERIES_CAPPED`).
   * @default 1000
   */
  maxSeries?: number
}

/** Per meter, the name of each export: two alike observe the same attribute sets, and the SDK keeps one. */
const exported = new WeakMap<OpenTelemetryMeter, Set<string>>()

const WHERE = 'openTelemetryMetrics()'
const KNOWN: { readonly [K in keyof Required<OpenTelemetryMetricsOptions>]: true } = {
  meter: true,
  name: true,
  remainingRatio: true,
  maxSeries: true,
}

/**
 * Exports a limiter's metrics through an OpenTelemetry meter: the counters and the in-flight
 * gauge are observable instruments read from figures kept in process at each collection; the
 * histograms (store call duration, Redis batch size, and with `remainingRatio: true` the
 * remaining ratio) record each value, as OpenTelemetry has no observable histogram (see
 * docs/observability.md).
 *
 * @example
 * import { metrics } from '@opentelemetry/api'
 * openTelemetryMetrics(limiter, { meter: metrics.getMeter('ratekeeper') })
 */
export function openTelemetryMetrics(limiter: Limiter, options: OpenTelemetryMetricsOptions): LimiterMetrics {
  checkLimiter(WHERE, limiter)
  checkNotGivenBare(WHERE, options, (o) => typeof o.createCounter === 'function', 'openTelemetryMetrics(limiter, { meter })')
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const { meter, name, remainingRatio = false, maxSeries } = options
  checkMaxSeries(WHERE, maxSeries)
  if (
    typeof meter !== 'object' ||
    meter === null ||
    typeof meter.createHistogram !== 'function' ||
    typeof meter.createObservableCounter !== 'function' ||
    typeof meter.createObservableUpDownCounter !== 'function'
  ) {
    invalid(WHERE, 'meter', "must be an OpenTelemetry Meter (e.g. metrics.getMeter('ratekeeper') from '@opentelemetry/api')", meter)
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) invalid(WHERE, 'name', 'must be a non-empty string', name)
  if (typeof remainingRatio !== 'boolean') invalid(WHERE, 'remainingRatio', 'must be a boolean', remainingRatio)
  let names = exported.get(meter)
  if (names === undefined) exported.set(meter, (names = new Set()))
  const slot = name ?? ''
  if (names.has(slot)) invalid(WHERE, 'name', 'must differ from the name of every other limiter exported through this meter', name)
  const taken = names

  const ratio = !remainingRatio
    ? undefined
    : meter.createHistogram('ratekeeper.remaining_ratio', {
        description: "Each policy's remaining allowance at decision time, as a fraction of its capacity (0: spent)",
        unit: '1',
        advice: { explicitBucketBoundaries: [...RATIO_BOUNDS] },
      })
  const latency = meter.createHistogram('ratekeeper.store.call.duration', {
    description: 'Store calls that answered with a promise (Redis, custom stores), from call to answer or failure',
    unit: 's',
    advice: { explicitBucketBoundaries: [...LATENCY_BOUNDS] },
  })
  const batch = meter.createHistogram('ratekeeper.store.batch_size', {
    description: 'Requests per Redis script call',
    unit: '{request}',
    advice: { explicitBucketBoundaries: [...BATCH_BOUNDS] },
  })
  taken.add(slot)
  const base = baseAttributes(name)
  const recorder = new MetricsRecorder(
    limiter,
    base,
    {
      ...(ratio === undefined ? {} : { ratio: (series: PolicySeries, value: number) => ratio.record(value, series.attributes) }),
      latency: (series, seconds) => latency.record(seconds, series.attributes),
      batch: (size) => batch.record(size, base),
    },
    maxSeries,
  )

  const observed: [OpenTelemetryObservable, (result: OpenTelemetryObservation) => void][] = []
  const observe = (instrument: OpenTelemetryObservable, callback: (result: OpenTelemetryObservation) => void) => {
    instrument.addCallback(callback)
    observed.push([instrument, callback])
  }
  const decisions = meter.createObservableCounter('ratekeeper.decisions', {
    description:
      "Decisions by outcome (allowed, limited, shadow-limited, store-error/allowed, store-error/denied, fallback, allow-listed, deny-listed), counted on the headline policy; a shadow policy's own verdicts (shadow-allowed, shadow-limited) on its series",
    unit: '{decision}',
  })
  observe(decisions, (result) => {
    for (const s of recorder.series) {
      for (let o = 0; o < OUTCOMES.length; o++) if (s.decisions[o] > 0) result.observe(s.decisions[o], s.byOutcome[o])
    }
  })
  const inFlight = meter.createObservableUpDownCounter('ratekeeper.concurrency.in_flight', {
    description: 'Leases of concurrency policies held by requests this process admitted, not yet released',
    unit: '{request}',
  })
  observe(inFlight, (result) => {
    for (const s of recorder.series) if (s.concurrency) result.observe(s.inFlight, s.attributes)
  })
  const mainStore = Object.freeze({ ...base, store: 'main' })
  const fallbackStore = Object.freeze({ ...base, store: 'fallback' })
  const misses = meter.createObservableCounter('ratekeeper.store.deadline_misses', {
    description: 'Store calls that missed their deadline (ERR_RK_STORE_TIMEOUT)',
    unit: '{call}',
  })
  observe(misses, (result) => {
    result.observe(recorder.deadlineMisses.main, mainStore)
    if (recorder.deadlineMisses.fallback > 0) result.observe(recorder.deadlineMisses.fallback, fallbackStore)
  })
  const hits = meter.createObservableCounter('ratekeeper.deny_cache.hits', {
    description: "Requests the Redis store's local deny cache answered without Redis",
    unit: '{request}',
  })
  observe(hits, (result) => result.observe(recorder.denyCacheHits, base))

  return {
    close: () => {
      if (!taken.delete(slot)) return
      recorder.close()
      for (const [instrument, callback] of observed.splice(0)) instrument.removeCallback(callback)
    },
  }
}
