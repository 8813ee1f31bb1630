import { Registry } from 'prom-client'
import { concurrency, createLimiter, MemoryStore, tokenBucket } from 'ratekeeper'
import { createHttpLimiter } from 'ratekeeper/http'
import { prometheusMetrics } from 'ratekeeper/metrics'
import { describe, expect, it } from 'vitest'
import { parsePromText } from '../../scripts/prom-text.js'
import { clock } from '../helpers/clock.js'
import { failingStore } from './helpers.js'

const T0 = Date.UTC(2026, 0, 1)

async function scrape(registry: Registry) {
  return parsePromText(await registry.metrics())
}

describe('prometheusMetrics (real prom-client registry, Prometheus text format)', () => {
  it('counts decisions by outcome on the headline policy, never with the key', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ name: 'per-minute', limit: 2, window: '1m' })], now: c.now })
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    for (let i = 0; i < 5; i++) await limiter.consume('sk_live_secret')
    const text = await registry.metrics()
    expect(text).not.toContain('sk_live_secret')
    const m = parsePromText(text)
    expect(m.types.get('ratekeeper_decisions_total')).toBe('counter')
    expect(m.value('ratekeeper_decisions_total', { policy: 'per-minute', outcome: 'allowed' })).toBe(2)
    expect(m.value('ratekeeper_decisions_total', { policy: 'per-minute', outcome: 'limited' })).toBe(3)
    expect(m.find('ratekeeper_decisions_total', { outcome: 'store-error/allowed' })).toEqual([])
  })

  it('counts a decision once, on the policy its headers report: the closest to its limit, or the violated one with the longest wait', async () => {
    const c = clock(T0)
    const limiter = createLimiter({
      policies: [tokenBucket({ name: 'minute', limit: 1, window: '1m' }), tokenBucket({ name: 'hour', limit: 2, window: '1h', burst: 1 })],
      now: c.now,
    })
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    const first = await limiter.consume('k')
    const second = await limiter.consume('k')
    expect([first.limit, second.limit, second.violated]).toEqual([1, 2, ['minute', 'hour']])
    const m = await scrape(registry)
    expect(m.value('ratekeeper_decisions_total', { policy: 'minute', outcome: 'allowed' })).toBe(1)
    expect(m.value('ratekeeper_decisions_total', { policy: 'hour', outcome: 'limited' })).toBe(1)
    expect(m.find('ratekeeper_decisions_total')).toHaveLength(2)
    expect(m.value('ratekeeper_remaining_ratio_count', { policy: 'hour' })).toBe(2)
  })

  it('observes the remaining ratio of every policy at decision time as a histogram', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ name: 'b', limit: 4, window: '1m' })], now: c.now })
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    // remaining after each: 3, 2, 1, 0, then denied at 0.
    for (let i = 0; i < 5; i++) await limiter.consume('k')
    const m = await scrape(registry)
    expect(m.types.get('ratekeeper_remaining_ratio')).toBe('histogram')
    const bucket = (le: string) => m.value('ratekeeper_remaining_ratio_bucket', { policy: 'b', le })
    expect(bucket('0')).toBe(2)
    expect(bucket('0.25')).toBe(3)
    expect(bucket('0.5')).toBe(4)
    expect(bucket('0.75')).toBe(5)
    expect(bucket('+Inf')).toBe(5)
    expect(m.value('ratekeeper_remaining_ratio_count', { policy: 'b' })).toBe(5)
    expect(m.value('ratekeeper_remaining_ratio_sum', { policy: 'b' })).toBeCloseTo(1.5)
  })

  it('tells dry-run denials, store errors allowed or denied, and fallback decisions apart', async () => {
    const registry = new Registry()
    const policies = [tokenBucket({ name: 'p', limit: 1, window: '1m' })]
    const now = clock(T0).now
    const dry = createLimiter({ policies, now, dryRun: true })
    const allow = createLimiter({ policies, now, store: failingStore(), onStoreError: 'allow', logger: { warn: () => {} } })
    const deny = createLimiter({ policies, now, store: failingStore(), onStoreError: 'deny', logger: { warn: () => {} } })
    const fallback = createLimiter({
      policies,
      now,
      store: failingStore(),
      onStoreError: 'fallback',
      fallback: new MemoryStore(),
      logger: { warn: () => {} },
    })
    prometheusMetrics(dry, { registry, name: 'dry' })
    prometheusMetrics(allow, { registry, name: 'allow' })
    prometheusMetrics(deny, { registry, name: 'deny' })
    prometheusMetrics(fallback, { registry, name: 'fallback' })
    for (const limiter of [dry, allow, deny, fallback]) for (let i = 0; i < 3; i++) await limiter.consume('k')
    const m = await scrape(registry)
    const count = (limiter: string, outcome: string) => m.value('ratekeeper_decisions_total', { limiter, outcome })
    expect([count('dry', 'allowed'), count('dry', 'shadow-limited'), count('dry', 'limited')]).toEqual([1, 2, 0])
    expect(count('allow', 'store-error/allowed')).toBe(3)
    expect(count('deny', 'store-error/denied')).toBe(3)
    // The fallback decided: one admitted there, two it denied; all three counted as fallback decisions.
    expect(count('fallback', 'fallback')).toBe(3)
    expect(count('fallback', 'allowed') + count('fallback', 'limited')).toBe(0)
    // A store error decided no policy: its series has no policy label.
    expect(m.find('ratekeeper_decisions_total', { limiter: 'allow' })[0].labels.policy).toBeUndefined()
  })

  it('labels by layer, class and tier as the HTTP layer reports them', async () => {
    const free = [tokenBucket({ name: 'write-free', limit: 1, window: '1m' })]
    const team = { name: 'team', key: 'team:acme', policies: [tokenBucket({ name: 'team-ceiling', limit: 10, window: '1m' })] }
    const limiter = createLimiter({ policies: free, now: clock(T0).now })
    const http = createHttpLimiter('test', {
      limiter,
      plan: (req) => ({ key: `key:${req.headers.get('x-api-key')}`, policies: free, layers: [team], tier: 'free', class: 'write' }),
    })
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    for (let i = 0; i < 2; i++) {
      await http.handle({
        method: 'POST',
        path: '/v1/jobs',
        route: '/v1/jobs',
        ip: '192.0.2.1',
        headers: { get: (name: string) => (name === 'x-api-key' ? 'a' : undefined) },
        raw: {},
      })
    }
    const m = await scrape(registry)
    const base = { class: 'write', tier: 'free' }
    expect(m.value('ratekeeper_decisions_total', { ...base, policy: 'write-free', outcome: 'allowed' })).toBe(1)
    expect(m.value('ratekeeper_decisions_total', { ...base, policy: 'write-free', outcome: 'limited' })).toBe(1)
    expect(m.value('ratekeeper_remaining_ratio_count', { ...base, policy: 'team-ceiling', layer: 'team' })).toBe(2)
  })

  it('reports the concurrency in flight: up on admission, down on release', async () => {
    const limiter = createLimiter({ policies: [concurrency({ name: 'in-flight', limit: 5 })], now: clock(T0).now })
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    const a = await limiter.consume('k')
    const b = await limiter.consume('k')
    await limiter.consume('other')
    expect((await scrape(registry)).value('ratekeeper_concurrency_in_flight', { policy: 'in-flight' })).toBe(3)
    await limiter.release(a)
    await limiter.release(b)
    await limiter.release(b)
    const m = await scrape(registry)
    expect(m.types.get('ratekeeper_concurrency_in_flight')).toBe('gauge')
    expect(m.value('ratekeeper_concurrency_in_flight', { policy: 'in-flight' })).toBe(1)
  })

  it('counts a shadow policy on its own series (shadow-allowed, or shadow-limited when it would deny), never as the headline', async () => {
    const c = clock(T0)
    const limiter = createLimiter({
      policies: [
        tokenBucket({ name: 'enforced', limit: 10, window: '1m' }),
        tokenBucket({ name: 'trial', limit: 1, window: '1m', shadow: true }),
        concurrency({ name: 'trial-in-flight', limit: 5, shadow: true }),
      ],
      now: c.now,
    })
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    const first = await limiter.consume('k')
    const second = await limiter.consume('k')
    expect([first.allowed, second.allowed, second.shadowViolated]).toEqual([true, true, ['trial']])
    const m = await scrape(registry)
    expect(m.value('ratekeeper_decisions_total', { policy: 'enforced', outcome: 'allowed' })).toBe(2)
    expect(m.value('ratekeeper_decisions_total', { policy: 'trial', outcome: 'shadow-allowed' })).toBe(1)
    expect(m.value('ratekeeper_decisions_total', { policy: 'trial', outcome: 'shadow-limited' })).toBe(1)
    // The second request charged no shadow policy (one of them would have denied): one lease in the shadow count.
    expect(m.value('ratekeeper_concurrency_in_flight', { policy: 'trial-in-flight' })).toBe(1)
    await limiter.release(first)
    await limiter.release(second)
    expect((await scrape(registry)).value('ratekeeper_concurrency_in_flight', { policy: 'trial-in-flight' })).toBe(0)
  })

  it('has no in-flight series without a concurrency policy', async () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 5, window: '1m' })] })
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    await limiter.consume('k')
    expect((await scrape(registry)).find('ratekeeper_concurrency_in_flight')).toEqual([])
  })

  it('shares one family per registry between limiters, and close() removes them', async () => {
    const registry = new Registry()
    const a = createLimiter({ policies: [tokenBucket({ limit: 5, window: '1m' })] })
    const b = createLimiter({ policies: [tokenBucket({ limit: 5, window: '1m' })] })
    const ma = prometheusMetrics(a, { registry, name: 'a' })
    const mb = prometheusMetrics(b, { registry, name: 'b', prefix: 'ratekeeper_' })
    await a.consume('k')
    await b.consume('k')
    let m = await scrape(registry)
    expect(m.find('ratekeeper_decisions_total').map((s) => s.labels.limiter)).toEqual(['a', 'b'])
    ma.close()
    await a.consume('k')
    m = await scrape(registry)
    expect(m.find('ratekeeper_decisions_total').map((s) => s.labels.limiter)).toEqual(['b'])
    mb.close()
    expect(await registry.metrics()).toBe('\n')
  })

  it('rejects a missing registry, a bad prefix and unknown options with a ConfigurationError', () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 5, window: '1m' })] })
    expect(() => prometheusMetrics(limiter, {} as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'registry' }),
    )
    expect(() => prometheusMetrics(limiter, { registry: new Registry(), prefix: '9x' })).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'prefix' }),
    )
    expect(() => prometheusMetrics(limiter, { registry: new Registry(), labels: {} } as never)).toThrow(/labels/)
    // Two limiters (or one, twice) under one name would write the same series twice.
    const registry = new Registry()
    const first = prometheusMetrics(limiter, { registry })
    expect(() => prometheusMetrics(createLimiter({ policies: [tokenBucket({ limit: 1, window: '1m' })] }), { registry })).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'name' }),
    )
    first.close()
    first.close()
    expect(() => prometheusMetrics(limiter, { registry }).close()).not.toThrow()
  })
})
