// A registry serving OpenMetrics (prom-client's Registry.OPENMETRICS_CONTENT_TYPE) renames each
// counter family in place at every scrape: `ratekeeper_decisions_total` becomes
// `ratekeeper_decisions`, still registered under its first name. close() looked the families up
// by their current name, so after one scrape it left the three counters registered for good:
// scraped as empty families ever after, their names taken from the application's own metrics,
// and a later export reused them while believing them its own.
import { type OpenMetricsContentType, Registry } from 'prom-client'
import { expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { prometheusMetrics } from '../../src/metrics/index.js'

it('close() after an OpenMetrics scrape removes every metric it registered', async () => {
  const registry = new Registry<OpenMetricsContentType>()
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
  const limiter = createLimiter({ policies: [tokenBucket({ name: 'p', limit: 5, window: '1m' })], now: () => 1_000 })
  const exported = prometheusMetrics(limiter, { registry })
  await limiter.consume('k')
  expect(await registry.metrics()).toContain('ratekeeper_decisions_total{policy="p",outcome="allowed"} 1')
  exported.close()
  expect(registry.getMetricsAsArray()).toEqual([])
  expect(registry.getSingleMetric('ratekeeper_decisions_total')).toBeUndefined()
})
