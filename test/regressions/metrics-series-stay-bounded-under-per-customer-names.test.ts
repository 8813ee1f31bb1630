// An exporter kept one series per policy / layer / class / tier combination, without bound: a
// limiter whose per-call policies (or classes, or tiers) are named per customer grew the process's
// figures and the backend's series with every new customer. Now at most `maxSeries` are kept apart.
import { Registry } from 'prom-client'
import { createLimiter, tokenBucket } from 'ratekeeper'
import { prometheusMetrics } from 'ratekeeper/metrics'
import { describe, expect, it } from 'vitest'
import { parsePromText } from '../../scripts/prom-text.js'
import { clock } from '../helpers/clock.js'

const T0 = 1_700_000_000_000
const scrape = async (registry: Registry) => parsePromText(await registry.metrics())

describe('metrics series under names made per customer', () => {
  it('keeps at most maxSeries label sets: policies named per customer fold into one overflow series, with one warning', async () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 5, window: '1m' })], now: clock(T0).now })
    const warnings: string[] = []
    limiter.on('warn', (w) => warnings.push(w.code))
    const registry = new Registry()
    prometheusMetrics(limiter, { registry, maxSeries: 2 })
    for (let i = 0; i < 50; i++) {
      await limiter.consume('k', { policies: [tokenBucket({ name: `customer-${i}`, limit: 5, window: '1m' })] })
    }
    const m = await scrape(registry)
    const series = m.find('ratekeeper_decisions_total')
    expect(series.map((s) => s.labels.policy ?? `overflow=${s.labels.overflow}`)).toEqual(['customer-0', 'customer-1', 'overflow=true'])
    expect(m.value('ratekeeper_decisions_total', { overflow: 'true', outcome: 'allowed' })).toBe(48)
    expect(warnings).toEqual(['RK_METRICS_SERIES_CAPPED'])
    expect(() => prometheusMetrics(limiter, { registry: new Registry(), maxSeries: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'maxSeries' }),
    )
  })
})
