// Requests the allow and deny lists answer are never decided, yet counted: outcome
// `allow-listed` / `deny-listed`, on the series without a policy, in a real prom-client registry
// and the real OpenTelemetry SDK.
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { Registry } from 'prom-client'
import { createLimiter, fixedWindow } from 'ratekeeper'
import { createHttpLimiter, type HttpRequestInfo } from 'ratekeeper/http'
import { openTelemetryMetrics, prometheusMetrics } from 'ratekeeper/metrics'
import { describe, expect, it } from 'vitest'
import { parsePromText } from '../../scripts/prom-text.js'

const T0 = Date.UTC(2026, 0, 1)
const info = (ip: string, key?: string): HttpRequestInfo<object> => ({
  method: 'GET',
  route: '/',
  path: '/',
  ip,
  headers: { get: (n) => (n === 'x-api-key' ? key : undefined) },
  raw: {},
})

function app() {
  const limiter = createLimiter({ policies: [fixedWindow({ name: 'per-minute', limit: 5, window: '1m' })], now: () => T0 })
  const http = createHttpLimiter<object>('rateLimit()', {
    limiter,
    key: (_raw, i) => (i.headers.get('x-api-key') === undefined ? undefined : `key:${i.headers.get('x-api-key')}`),
    allow: { ips: ['10.0.0.0/8'], keys: ['key:vip'] },
    deny: { ips: ['203.0.113.0/24'], keys: ['key:bad'] },
  })
  const traffic = async () => {
    for (const i of [
      info('10.0.0.1'),
      info('10.0.0.2'),
      info('192.0.2.1', 'vip'),
      info('203.0.113.1'),
      info('192.0.2.1', 'bad'),
      info('192.0.2.1'),
    ]) {
      await http.handle(i)
    }
  }
  return { limiter, traffic }
}

describe('allow- and deny-listed requests in the metrics', () => {
  it('Prometheus: counted by outcome on the series without a policy, beside the decided ones', async () => {
    const { limiter, traffic } = app()
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    await traffic()
    const m = parsePromText(await registry.metrics())
    expect(m.value('ratekeeper_decisions_total', { outcome: 'allow-listed' })).toBe(3)
    expect(m.value('ratekeeper_decisions_total', { outcome: 'deny-listed' })).toBe(2)
    expect(m.value('ratekeeper_decisions_total', { policy: 'per-minute', outcome: 'allowed' })).toBe(1)
    expect(m.find('ratekeeper_decisions_total', { outcome: 'allow-listed' })[0].labels.policy).toBeUndefined()
  })

  it('OpenTelemetry: the same outcomes', async () => {
    const { limiter, traffic } = app()
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
    const provider = new MeterProvider({ readers: [reader] })
    openTelemetryMetrics(limiter, { meter: provider.getMeter('test') })
    await traffic()
    await reader.forceFlush()
    const metrics = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
    const points = metrics.find((x) => x.descriptor.name === 'ratekeeper.decisions')?.dataPoints ?? []
    const of = (outcome: string) => points.find((p) => p.attributes.outcome === outcome)?.value
    expect([of('allow-listed'), of('deny-listed'), of('allowed')]).toEqual([3, 2, 1])
    await provider.shutdown()
  })

  it('the limiter announces a `listed` event per listed request', async () => {
    const { limiter, traffic } = app()
    const seen: string[] = []
    limiter.on('listed', (e) => seen.push(`${e.list} by ${e.by}`))
    await traffic()
    expect(seen).toEqual(['allow by ip', 'allow by ip', 'allow by key', 'deny by ip', 'deny by key'])
  })
})
