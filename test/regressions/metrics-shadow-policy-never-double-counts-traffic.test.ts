// A shadow policy's verdicts are counted on its own series. Those it would have admitted were
// counted as outcome="allowed", beside the same request's count on its headline policy: with one
// shadow policy in a rollout, every admitted request was counted twice as "allowed", so the
// documented traffic panel doubled and the documented RateLimitedShareHigh alert
// (limited ÷ allowed|limited) read about half the true share and stayed silent. They are now
// outcome="shadow-allowed", so allowed|limited counts each request once.
import { Registry } from 'prom-client'
import { expect, it } from 'vitest'
import { parsePromText } from '../../scripts/prom-text.js'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { prometheusMetrics } from '../../src/metrics/index.js'

it('allowed and limited count each request once while a shadow policy rolls out', async () => {
  const limiter = createLimiter({
    policies: [
      tokenBucket({ name: 'enforced', limit: 6, window: '1h' }),
      tokenBucket({ name: 'trial', limit: 3, window: '1h', shadow: true }),
    ],
    now: () => Date.UTC(2026, 0, 1),
  })
  const registry = new Registry()
  prometheusMetrics(limiter, { registry })
  let limited = 0
  for (let i = 0; i < 10; i++) if (!(await limiter.consume('k')).allowed) limited++
  expect(limited).toBe(4)

  const m = parsePromText(await registry.metrics())
  const sum = (outcome: string) =>
    m.find('ratekeeper_decisions_total').reduce((total, s) => total + (s.labels.outcome === outcome ? s.value : 0), 0)
  // sum(rate(ratekeeper_decisions_total{outcome=~"allowed|limited"})): the requests, once each.
  expect(sum('allowed') + sum('limited')).toBe(10)
  expect(sum('limited') / (sum('allowed') + sum('limited'))).toBe(0.4)
  // The rollout query still reads the shadow policy's verdicts on its own series.
  expect(m.value('ratekeeper_decisions_total', { policy: 'trial', outcome: 'shadow-allowed' })).toBe(3)
  expect(m.value('ratekeeper_decisions_total', { policy: 'trial', outcome: 'shadow-limited' })).toBe(7)
})

it('a limiter of shadow policies alone counts each request once too, on the series without a policy', async () => {
  const limiter = createLimiter({
    policies: [
      tokenBucket({ name: 'trial', limit: 3, window: '1h', shadow: true }),
      tokenBucket({ name: 'trial-day', limit: 5, window: '1d', shadow: true }),
    ],
    now: () => Date.UTC(2026, 0, 1),
  })
  const registry = new Registry()
  prometheusMetrics(limiter, { registry })
  for (let i = 0; i < 10; i++) expect((await limiter.consume('k')).allowed).toBe(true)
  const m = parsePromText(await registry.metrics())
  const counted = m.find('ratekeeper_decisions_total').filter((s) => s.labels.outcome === 'allowed' || s.labels.outcome === 'limited')
  expect(counted.map((s) => [s.labels.policy, s.labels.outcome, s.value])).toEqual([[undefined, 'allowed', 10]])
  expect(m.value('ratekeeper_decisions_total', { policy: 'trial', outcome: 'shadow-allowed' })).toBe(3)
})
