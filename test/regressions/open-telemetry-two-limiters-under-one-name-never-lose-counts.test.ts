// Two limiters exported through one OpenTelemetry meter under the same name (or both unnamed)
// observed the same attribute sets; the SDK keeps one observation per set and collection, so one
// limiter's counts silently replaced the other's (3 + 5 decisions exported as 5). prometheusMetrics
// refused this; openTelemetryMetrics now does too, and frees the name on close().
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { afterEach, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { openTelemetryMetrics } from '../../src/metrics/index.js'

const providers: MeterProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) await p.shutdown()
})

function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  providers.push(provider)
  const decisions = async () => {
    exporter.reset()
    await reader.forceFlush()
    const points: [Record<string, unknown>, unknown][] = []
    for (const r of exporter.getMetrics())
      for (const s of r.scopeMetrics)
        for (const m of s.metrics)
          if (m.descriptor.name === 'ratekeeper.decisions') for (const p of m.dataPoints) points.push([p.attributes, p.value])
    return points
  }
  return { meter: provider.getMeter('ratekeeper'), decisions }
}

const limiterOf = () => createLimiter({ policies: [tokenBucket({ name: 'p', limit: 100, window: '1m' })], now: () => 1_000 })

it('a second export under the same name on one meter is refused', () => {
  const { meter } = sdk()
  openTelemetryMetrics(limiterOf(), { meter })
  expect(() => openTelemetryMetrics(limiterOf(), { meter })).toThrow(
    expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'name' }),
  )
  openTelemetryMetrics(limiterOf(), { meter, name: 'b' })
  expect(() => openTelemetryMetrics(limiterOf(), { meter, name: 'b' })).toThrow(expect.objectContaining({ option: 'name' }))
})

it('every decision of two named limiters is exported, and close() frees the name', async () => {
  const { meter, decisions } = sdk()
  const a = limiterOf()
  const b = limiterOf()
  const metricsA = openTelemetryMetrics(a, { meter, name: 'a' })
  openTelemetryMetrics(b, { meter, name: 'b' })
  for (let i = 0; i < 3; i++) await a.consume('k')
  for (let i = 0; i < 5; i++) await b.consume('k')
  const total = (await decisions()).reduce((sum, [, v]) => sum + (v as number), 0)
  expect(total).toBe(8)
  metricsA.close()
  expect(() => openTelemetryMetrics(limiterOf(), { meter, name: 'a' }).close()).not.toThrow()
})
