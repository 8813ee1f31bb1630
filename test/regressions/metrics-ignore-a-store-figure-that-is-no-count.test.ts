// A custom store reports figures of itself through StoreEvents.measured(name, value). The
// metrics took every value as it came, and every name but 'deny-cache-hit' as a batch size: one
// NaN made ratekeeper_store_batch_size_sum NaN for the life of the process, a negative value
// made deny_cache_hits_total go down (read as a counter reset), and a figure of another name
// was counted as a batch. Such a figure is now left out of the metrics, and said once.
import { Registry } from 'prom-client'
import { expect, it } from 'vitest'
import { parsePromText } from '../../scripts/prom-text.js'
import { createLimiter, MemoryStore, type Store, type StoreEvents, tokenBucket } from '../../src/index.js'
import { prometheusMetrics } from '../../src/metrics/index.js'

it('a figure that is no count, or of a name the metrics do not know, is not counted, and said once', async () => {
  const memory = new MemoryStore()
  let events: StoreEvents | undefined
  const figures: [string, number][] = [
    ['batch-size', 3],
    ['batch-size', Number.NaN],
    ['queue-depth', 50],
    ['deny-cache-hit', 1],
    ['deny-cache-hit', -5],
    ['batch-size', Number.POSITIVE_INFINITY],
  ]
  const store: Store = {
    attach: (e) => {
      events = e
    },
    consume: (request) => {
      const [name, value] = figures.shift() ?? ['batch-size', 1]
      events?.measured?.(name as 'batch-size', value)
      return memory.consume(request)
    },
    peek: (request) => memory.peek(request),
    refund: (request) => memory.refund(request),
    reset: (request) => memory.reset(request),
    close: () => memory.close(),
  }
  const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 100, window: '1m' })], now: () => Date.UTC(2026, 0, 1) })
  const warnings: string[] = []
  limiter.on('warn', (w) => warnings.push(w.code))
  const registry = new Registry()
  prometheusMetrics(limiter, { registry })
  for (let i = 0; i < 6; i++) await limiter.consume('k', { cost: 1 })

  const m = parsePromText(await registry.metrics())
  expect(m.value('ratekeeper_store_batch_size_count')).toBe(1)
  expect(m.value('ratekeeper_store_batch_size_sum')).toBe(3)
  expect(m.value('ratekeeper_deny_cache_hits_total')).toBe(1)
  expect(warnings).toEqual(['RK_METRICS_FIGURE_IGNORED'])
})
