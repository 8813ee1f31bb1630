// The exporters checked only some of the methods they call on what they are given. A meter
// without createObservableUpDownCounter (an old or partial API, a wrapper) failed with a
// TypeError from inside openTelemetryMetrics after the export had started listening and taken
// its name, so a corrected retry under that name was refused; a registry without
// removeSingleMetric was accepted and made close() throw. Both are now refused up front with a
// ConfigurationError naming the option.
import { Registry } from 'prom-client'
import { expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { type OpenTelemetryMeter, openTelemetryMetrics, type PrometheusRegistry, prometheusMetrics } from '../../src/metrics/index.js'

const limiterOf = () => createLimiter({ policies: [tokenBucket({ name: 'p', limit: 5, window: '1m' })], now: () => 1_000 })
const observable = () => ({ addCallback: () => undefined, removeCallback: () => undefined })

it('openTelemetryMetrics refuses a meter missing a method it calls, and keeps the name free', () => {
  const partial = { createHistogram: () => ({ record: () => undefined }), createObservableCounter: observable }
  const limiter = limiterOf()
  expect(() => openTelemetryMetrics(limiter, { meter: partial as unknown as OpenTelemetryMeter })).toThrow(
    expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'meter' }),
  )
  const whole = { ...partial, createObservableUpDownCounter: observable }
  expect(() => openTelemetryMetrics(limiter, { meter: whole as unknown as OpenTelemetryMeter })).not.toThrow()
})

it('prometheusMetrics refuses a registry without removeSingleMetric', () => {
  const real = new Registry()
  const partial = { registerMetric: real.registerMetric.bind(real), getSingleMetric: real.getSingleMetric.bind(real) }
  expect(() => prometheusMetrics(limiterOf(), { registry: partial as unknown as PrometheusRegistry })).toThrow(
    expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'registry' }),
  )
  expect(real.getMetricsAsArray()).toEqual([])
})
