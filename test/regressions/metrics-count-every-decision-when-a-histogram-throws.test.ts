// openTelemetryMetrics with remainingRatio records each policy's ratio as the decision is counted.
// The recorder called the histogram's record() policy by policy, before it had counted the later
// policies: a meter whose record() threw (a broken SDK or wrapper) stopped every count after the
// first policy, so with the headline second ratekeeper.decisions exported nothing at all, and
// only one RK_LISTENER_THREW said anything. Every decision is now counted before any value goes to
// the meter; the request was never affected, and still is not.
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { afterEach, expect, it } from 'vitest'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { type OpenTelemetryMeter, openTelemetryMetrics } from '../../src/metrics/index.js'

const providers: MeterProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) await p.shutdown()
})

it('a histogram whose record() throws loses no decision count', async () => {
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

  const limiter = createLimiter({
    now: () => Date.UTC(2026, 0, 1),
    policies: [tokenBucket({ name: 'roomy', limit: 100, window: '1m' }), fixedWindow({ name: 'tight', limit: 3, window: '1m' })],
  })
  const warnings: string[] = []
  limiter.on('warn', (w) => warnings.push(w.code))
  openTelemetryMetrics(limiter, { meter: broken, remainingRatio: true })
  let allowed = 0
  for (let i = 0; i < 5; i++) if ((await limiter.consume('k')).allowed) allowed++
  expect(allowed).toBe(3)

  await reader.forceFlush()
  const counts: Record<string, number> = {}
  for (const r of exporter.getMetrics())
    for (const s of r.scopeMetrics)
      for (const m of s.metrics)
        if (m.descriptor.name === 'ratekeeper.decisions')
          for (const p of m.dataPoints) counts[`${p.attributes.policy}/${p.attributes.outcome}`] = p.value as number
  expect(counts).toEqual({ 'tight/allowed': 3, 'tight/limited': 2 })
  expect(warnings).toEqual(['RK_LISTENER_THREW'])
})
