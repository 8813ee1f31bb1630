// The store figures of the metrics, from a real Redis (batch sizes, deny-cache hits, call
// latency) and from a store that never answers (deadline misses), read through prom-client.
import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import { createLimiter, tokenBucket } from 'ratekeeper'
import { prometheusMetrics } from 'ratekeeper/metrics'
import { RedisStore } from 'ratekeeper/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parsePromText } from '../../scripts/prom-text.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { silentStore } from './helpers.js'

describeRedis('metrics of a RedisStore (real Redis)', () => {
  const prefix = uniquePrefix('metrics')
  let client: Redis
  beforeAll(() => {
    client = new Redis(REDIS_URL)
  })
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('reports batch sizes, store call latency and deny-cache hits', async () => {
    const store = new RedisStore({ client, prefix, denyCache: true })
    const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'hourly', limit: 2, window: '1h' })] })
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    // Ten requests made in one tick go to Redis in one script call.
    await Promise.all(Array.from({ length: 10 }, (_, i) => limiter.consume(`client-${i % 2}`)))
    // client-0 and client-1 are limited now: these are answered by the deny cache, without Redis.
    for (let i = 0; i < 4; i++) await limiter.consume('client-0')
    const m = parsePromText(await registry.metrics())
    // Then each of the four look-ups of a limited client is answered by the deny cache.
    expect(m.value('ratekeeper_store_batch_size_count')).toBe(1)
    expect(m.value('ratekeeper_store_batch_size_sum')).toBe(10)
    expect(m.value('ratekeeper_store_batch_size_bucket', { le: '8' })).toBe(0)
    expect(m.value('ratekeeper_store_batch_size_bucket', { le: '16' })).toBe(1)
    expect(m.value('ratekeeper_deny_cache_hits_total')).toBe(4)
    expect(m.value('ratekeeper_decisions_total', { outcome: 'allowed' })).toBe(4)
    expect(m.value('ratekeeper_decisions_total', { outcome: 'limited' })).toBe(10)
    // Every call that went to Redis was timed; deny-cache answers are synchronous and are not.
    const calls = m.value('ratekeeper_store_call_duration_seconds_count', { store: 'main', mode: 'consume', result: 'ok' })
    expect(calls).toBe(10)
    expect(m.value('ratekeeper_store_call_duration_seconds_sum', { result: 'ok' })).toBeGreaterThan(0)
    expect(m.value('ratekeeper_store_deadline_misses_total', { store: 'main' })).toBe(0)
    await limiter.close()
    store.close()
  })
})

describe('deadline misses', () => {
  it('counts store calls that missed the limiter deadline, and their outcome', async () => {
    const limiter = createLimiter({
      store: silentStore(),
      policies: [tokenBucket({ limit: 5, window: '1m' })],
      timeoutMs: 5,
      onStoreError: 'deny',
      logger: { warn: () => {} },
    })
    const registry = new Registry()
    prometheusMetrics(limiter, { registry })
    const decisions = await Promise.all([limiter.consume('a'), limiter.consume('b')])
    expect(decisions.map((d) => d.reason)).toEqual(['store-error', 'store-error'])
    const m = parsePromText(await registry.metrics())
    expect(m.value('ratekeeper_store_deadline_misses_total', { store: 'main' })).toBe(2)
    expect(m.value('ratekeeper_store_call_duration_seconds_count', { result: 'timeout' })).toBe(2)
    expect(m.value('ratekeeper_decisions_total', { outcome: 'store-error/denied' })).toBe(2)
  })
})
