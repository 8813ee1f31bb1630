// prometheusMetrics, openTelemetryMetrics and topLimited used their first argument without
// checking it. Given something that is not a limiter (an HTTP middleware, a limiter's options,
// an undefined import), prometheusMetrics registered its seven families and then failed with a
// TypeError, leaving them in the registry for good (a later export under that prefix then
// joined families nobody fed); openTelemetryMetrics kept the name it had taken. Each now refuses
// it first, with a ConfigurationError naming `limiter`.
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { Registry } from 'prom-client'
import { afterEach, expect, it } from 'vitest'
import { createLimiter, type Limiter, tokenBucket } from '../../src/index.js'
import { openTelemetryMetrics, prometheusMetrics, topLimited } from '../../src/metrics/index.js'

const providers: MeterProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) await p.shutdown()
})

const notLimiters: unknown[] = [undefined, { policies: [tokenBucket({ limit: 5, window: '1m' })] }, () => undefined]
const refused = expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'limiter' })

it('prometheusMetrics refuses it and registers nothing', () => {
  const registry = new Registry()
  for (const value of notLimiters) expect(() => prometheusMetrics(value as Limiter, { registry })).toThrow(refused)
  expect(registry.getMetricsAsArray()).toEqual([])
})

it('openTelemetryMetrics refuses it and keeps the name free', () => {
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  })
  const provider = new MeterProvider({ readers: [reader] })
  providers.push(provider)
  const meter = provider.getMeter('ratekeeper')
  for (const value of notLimiters) expect(() => openTelemetryMetrics(value as Limiter, { meter, name: 'api' })).toThrow(refused)
  expect(() =>
    openTelemetryMetrics(createLimiter({ policies: [tokenBucket({ limit: 5, window: '1m' })] }), { meter, name: 'api' }),
  ).not.toThrow()
})

it('topLimited refuses it', () => {
  for (const value of notLimiters) expect(() => topLimited(value as Limiter)).toThrow(refused)
})
