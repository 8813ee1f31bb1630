import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { concurrency, createLimiter, MemoryStore, tokenBucket } from 'ratekeeper'
import { openTelemetryMetrics } from 'ratekeeper/metrics'
import { afterEach, describe, expect, it } from 'vitest'
import { clock } from '../helpers/clock.js'
import { failingStore } from './helpers.js'

const T0 = Date.UTC(2026, 0, 1)
const providers: MeterProvider[] = []

/** A meter on the SDK, read through its in-memory exporter. */
function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  providers.push(provider)
  return {
    meter: provider.getMeter('ratekeeper-test'),
    /** Collects and exports once; the metrics of that export, by name. */
    collect: async (): Promise<Map<string, MetricData>> => {
      exporter.reset()
      await reader.forceFlush()
      const out = new Map<string, MetricData>()
      for (const resource of exporter.getMetrics())
        for (const scope of resource.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m)
      return out
    },
  }
}

afterEach(async () => {
  for (const provider of providers.splice(0)) await provider.shutdown()
})

/** The value of the data point whose attributes include `attributes`. */
function point(metric: MetricData | undefined, attributes: Record<string, string>): unknown {
  const found = (metric?.dataPoints ?? []).filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
  if (found.length !== 1) throw new Error(`${found.length} points of ${metric?.descriptor.name} match ${JSON.stringify(attributes)}`)
  return found[0].value
}

describe('openTelemetryMetrics (the real OpenTelemetry SDK, in-memory exporter)', () => {
  it('exports decisions by outcome as a monotonic sum, without the key', async () => {
    const { meter, collect } = sdk()
    const limiter = createLimiter({ policies: [tokenBucket({ name: 'per-minute', limit: 2, window: '1m' })], now: clock(T0).now })
    openTelemetryMetrics(limiter, { meter, name: 'api' })
    for (let i = 0; i < 5; i++) await limiter.consume('sk_live_secret')
    const metrics = await collect()
    const decisions = metrics.get('ratekeeper.decisions')
    expect(decisions?.dataPointType).toBe(DataPointType.SUM)
    expect(decisions !== undefined && 'isMonotonic' in decisions && decisions.isMonotonic).toBe(true)
    expect(point(decisions, { policy: 'per-minute', outcome: 'allowed', limiter: 'api' })).toBe(2)
    expect(point(decisions, { policy: 'per-minute', outcome: 'limited' })).toBe(3)
    expect(JSON.stringify([...metrics.values()].map((m) => m.dataPoints))).not.toContain('sk_live_secret')
  })

  it('records the remaining ratio as a histogram with the documented buckets, when asked to', async () => {
    const { meter, collect } = sdk()
    const limiter = createLimiter({ policies: [tokenBucket({ name: 'b', limit: 4, window: '1m' })], now: clock(T0).now })
    openTelemetryMetrics(limiter, { meter, remainingRatio: true })
    for (let i = 0; i < 5; i++) await limiter.consume('k')
    const ratio = (await collect()).get('ratekeeper.remaining_ratio')
    expect(ratio?.dataPointType).toBe(DataPointType.HISTOGRAM)
    const h = point(ratio, { policy: 'b' }) as { buckets: { boundaries: number[]; counts: number[] }; count: number; sum: number }
    expect(h.buckets.boundaries).toEqual([0, 0.1, 0.25, 0.5, 0.75, 0.9, 1])
    // 0, 0 (denied), 0.25, 0.5, 0.75: per bucket (≤ 0, ≤ 0.1, ≤ 0.25, ≤ 0.5, ≤ 0.75, …).
    expect(h.buckets.counts).toEqual([2, 0, 1, 1, 1, 0, 0, 0])
    expect(h.count).toBe(5)
    expect(h.sum).toBeCloseTo(1.5)
  })

  it('tells store errors and fallback decisions apart, and reports concurrency in flight', async () => {
    const { meter, collect } = sdk()
    const quiet = { warn: () => {} }
    const allow = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1m' })], store: failingStore(), logger: quiet })
    const fallback = createLimiter({
      policies: [tokenBucket({ limit: 1, window: '1m' })],
      store: failingStore(),
      onStoreError: 'fallback',
      fallback: new MemoryStore(),
      logger: quiet,
    })
    const leases = createLimiter({ policies: [concurrency({ name: 'in-flight', limit: 3 })] })
    openTelemetryMetrics(allow, { meter, name: 'allow' })
    openTelemetryMetrics(fallback, { meter, name: 'fallback' })
    openTelemetryMetrics(leases, { meter, name: 'leases' })
    await allow.consume('k')
    await fallback.consume('k')
    await fallback.consume('k')
    const held = await leases.consume('k')
    await leases.consume('k')
    await leases.release(held)
    const metrics = await collect()
    expect(point(metrics.get('ratekeeper.decisions'), { limiter: 'allow', outcome: 'store-error/allowed' })).toBe(1)
    expect(point(metrics.get('ratekeeper.decisions'), { limiter: 'fallback', outcome: 'fallback' })).toBe(2)
    const inFlight = metrics.get('ratekeeper.concurrency.in_flight')
    expect(inFlight?.dataPointType).toBe(DataPointType.SUM)
    expect(inFlight !== undefined && 'isMonotonic' in inFlight && inFlight.isMonotonic).toBe(false)
    expect(point(inFlight, { limiter: 'leases', policy: 'in-flight' })).toBe(1)
  })

  it('records no remaining ratio by default (it would be the one record per decision)', async () => {
    const { meter, collect } = sdk()
    const limiter = createLimiter({ policies: [tokenBucket({ name: 'p', limit: 5, window: '1m' })] })
    openTelemetryMetrics(limiter, { meter })
    await limiter.consume('k')
    const metrics = await collect()
    expect(metrics.has('ratekeeper.remaining_ratio')).toBe(false)
    expect(point(metrics.get('ratekeeper.decisions'), { outcome: 'allowed' })).toBe(1)
  })

  it('close() stops listening and observing (a cumulative exporter keeps the last value)', async () => {
    const { meter, collect } = sdk()
    const limiter = createLimiter({ policies: [tokenBucket({ name: 'p', limit: 5, window: '1m' })] })
    const exported = openTelemetryMetrics(limiter, { meter })
    await limiter.consume('k')
    expect(point((await collect()).get('ratekeeper.decisions'), { outcome: 'allowed' })).toBe(1)
    exported.close()
    await limiter.consume('k')
    await limiter.consume('k')
    expect(point((await collect()).get('ratekeeper.decisions'), { outcome: 'allowed' })).toBe(1)
  })

  it('rejects a missing meter with a ConfigurationError naming it', () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 5, window: '1m' })] })
    expect(() => openTelemetryMetrics(limiter, {} as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'meter' }),
    )
  })
})
