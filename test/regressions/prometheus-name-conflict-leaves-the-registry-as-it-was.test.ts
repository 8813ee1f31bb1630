// prometheusMetrics() on a registry that already held a metric with one of its names (another
// library's, a metric of your own) threw prom-client's error half-way: the families registered
// before it stayed in the registry for good (scraped as ratekeeper's, fed by nobody), and the
// export's name stayed taken, so a second try, after the clash was removed, was refused as a
// duplicate export. Now the export is all or nothing, and the error names the prefix.
import { Counter, Registry } from 'prom-client'
import { expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { prometheusMetrics } from '../../src/metrics/index.js'

it('a clash registers nothing, names the prefix, and leaves the way open for a retry', async () => {
  const registry = new Registry()
  new Counter({ name: 'ratekeeper_store_batch_size', help: 'not ours', registers: [registry] })
  const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1m' })], now: () => 1_000 })
  expect(() => prometheusMetrics(limiter, { registry })).toThrow(
    expect.objectContaining({
      code: 'ERR_RK_INVALID_OPTION',
      option: 'prefix',
      message: expect.stringContaining('ratekeeper_store_batch_size'),
    }),
  )
  expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual(['ratekeeper_store_batch_size'])

  registry.removeSingleMetric('ratekeeper_store_batch_size')
  const metrics = prometheusMetrics(limiter, { registry })
  await limiter.consume('k')
  expect(await registry.getSingleMetricAsString('ratekeeper_decisions_total')).toContain('outcome="allowed"} 1')
  metrics.close()
  expect(registry.getMetricsAsArray()).toEqual([])
})

it('a clash beside a limiter already exported keeps that export whole', async () => {
  const registry = new Registry()
  const first = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1m' })], now: () => 1_000 })
  prometheusMetrics(first, { registry, name: 'first' })
  new Counter({ name: 'other_deny_cache_hits_total', help: 'not ours', registers: [registry] })
  const second = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1m' })], now: () => 1_000 })
  expect(() => prometheusMetrics(second, { registry, prefix: 'other_' })).toThrow(expect.objectContaining({ option: 'prefix' }))
  expect(
    registry
      .getMetricsAsArray()
      .filter((m) => m.name.startsWith('other_'))
      .map((m) => m.name),
  ).toEqual(['other_deny_cache_hits_total'])
  await first.consume('k')
  expect(await registry.getSingleMetricAsString('ratekeeper_decisions_total')).toMatch(/limiter="first".*outcome="allowed"} 1/)
})
