// With onStoreError: 'fallback', a request whose store and fallback store both failed was
// admitted unlimited, but no `decision` event was emitted for it: the metrics counted nothing
// (no store-error/allowed), so an outage of both stores left no trace in the decision counts
// that the store-error alert watches. It is now announced like any store-error decision.
import { Registry } from 'prom-client'
import { expect, it } from 'vitest'
import { parsePromText } from '../../scripts/prom-text.js'
import { createLimiter, type Store, type StoreResult, tokenBucket } from '../../src/index.js'
import { prometheusMetrics } from '../../src/metrics/index.js'

function brokenStore(): Store {
  const fail = (): StoreResult => {
    throw new Error('down')
  }
  return { consume: fail, peek: fail, refund: fail, reset: () => undefined, close: () => undefined }
}

it('a consume that the store and the fallback both fail is counted, and announced', async () => {
  const limiter = createLimiter({
    store: brokenStore(),
    fallback: brokenStore(),
    onStoreError: 'fallback',
    policies: [tokenBucket({ name: 'p', limit: 5, window: '1m' })],
    now: () => 1_000,
    logger: { warn: () => undefined },
  })
  const registry = new Registry()
  prometheusMetrics(limiter, { registry })
  const heard: string[] = []
  limiter.on('decision', (d) => heard.push(`${d.allowed}/${d.reason}`))
  const decision = await limiter.consume('k')
  expect([decision.allowed, decision.reason]).toEqual([true, 'store-error'])
  expect(heard).toEqual(['true/store-error'])
  const m = parsePromText(await registry.metrics())
  expect(m.value('ratekeeper_decisions_total', { outcome: 'store-error/allowed' })).toBe(1)
})
