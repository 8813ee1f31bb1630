// openTelemetryMetrics records each store call's duration on a histogram as the call settles.
// The recorder counted a deadline miss only after handing the duration to the histogram: a meter
// whose record() threw (a broken SDK or wrapper) lost every ratekeeper.store.deadline_misses
// count, the figure the store alerts watch. Every figure is now counted before the meter hears it.
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { afterEach, expect, it } from 'vitest'
import { createLimiter, type StoreResult, tokenBucket } from '../../src/index.js'
import { type OpenTelemetryMeter, openTelemetryMetrics } from '../../src/metrics/index.js'

const providers: MeterProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) await p.shutdown()
})

it('a histogram whose record() throws loses no deadline miss', async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  providers.push(provider)
  const real = provider.getMeter('ratekeeper')
  const broken = {
    createObservableCounter: real.createObservableCounter.bind(real),
    createObservableUpDownCounter: real.createObservableUpDownCounter.bind(real),
    createHistogram: () => ({
      record: () => {
        throw new Error('broken meter')
      },
    }),
  } as unknown as OpenTelemetryMeter

  const never = () => new Promise<StoreResult>(() => undefined)
  const limiter = createLimiter({
    store: { consume: never, peek: never, refund: never, reset: () => undefined, close: () => undefined },
    policies: [tokenBucket({ limit: 5, window: '1m' })],
    timeoutMs: 5,
    onStoreError: 'deny',
    now: () => Date.UTC(2026, 0, 1),
  })
  const warnings: string[] = []
  limiter.on('warn', (w) => warnings.push(w.code))
  openTelemetryMetrics(limiter, { meter: broken })
  const decisions = await Promise.all([limiter.consume('a'), limiter.consume('b')])
  expect(decisions.map((d) => d.reason)).toEqual(['store-error', 'store-error'])
  // The store-call events are emitted as the deadline fails the call, before the decisions settle.
  await new Promise((resolve) => setImmediate(resolve))

  await reader.forceFlush()
  let misses: unknown
  for (const r of exporter.getMetrics())
    for (const s of r.scopeMetrics)
      for (const m of s.metrics) if (m.descriptor.name === 'ratekeeper.store.deadline_misses') misses = m.dataPoints.map((p) => p.value)
  expect(misses).toEqual([2])
  // The broken meter said once, however many calls it failed.
  expect(warnings.sort()).toEqual(['RK_LISTENER_THREW', 'RK_STORE_OUTAGE'])
})
