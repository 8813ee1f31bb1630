// prom-client's registry.clear() (test suites between cases, apps that rebuild their metrics)
// removed ratekeeper's metric families from the registry, but the exporter still believed them
// registered: a limiter exported afterwards was added to families nobody scraped, so its metrics
// silently never appeared, and the names of the exports made before the clear stayed taken.
import { Registry } from 'prom-client'
import { expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { prometheusMetrics } from '../../src/metrics/index.js'

const limiterOf = () => createLimiter({ policies: [tokenBucket({ name: 'p', limit: 5, window: '1m' })], now: () => 1_000 })

it('a limiter exported after registry.clear() is scraped', async () => {
  const registry = new Registry()
  prometheusMetrics(limiterOf(), { registry, name: 'before' })
  registry.clear()
  const after = limiterOf()
  prometheusMetrics(after, { registry, name: 'after' })
  await after.consume('k')
  const text = await registry.metrics()
  expect(text).toMatch(/ratekeeper_decisions_total\{limiter="after",policy="p",outcome="allowed"\} 1/)
  expect(text).not.toContain('limiter="before"')
})

it('the names of exports made before the clear are free again, and closing those touches nothing new', async () => {
  const registry = new Registry()
  const old = prometheusMetrics(limiterOf(), { registry })
  registry.clear()
  const limiter = limiterOf()
  prometheusMetrics(limiter, { registry })
  old.close()
  await limiter.consume('k')
  expect(await registry.metrics()).toMatch(/ratekeeper_decisions_total\{policy="p",outcome="allowed"\} 1/)
})
