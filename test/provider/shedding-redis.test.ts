/**
 * Load shedding on a real Redis (never a mock): the priorities' views of the fleet budget are one
 * Redis key (same name and id), each decided by the Lua twin with its own cut capacity, so the
 * mixed-priority load past capacity comes out as on the memory store.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { isShedding, loadShedding } from '../../src/http/shedding.js'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, keysUnder, REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { driveLoad, fleetRate, T0 } from './shedding-load.js'

describeRedis('load shedding on Redis', () => {
  let client: Redis
  const prefix = uniquePrefix('shed')
  beforeAll(async () => {
    client = new Redis(REDIS_URL, { lazyConnect: true })
    await client.connect()
  })
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  const store = (run: string) =>
    new RedisStore({ client, prefix: `${prefix}:${run}`, clock: 'caller', timeoutMs: 2_000, extraTtlMs: 600_000 })

  it('a mixed-priority load past capacity: every critical request served, background shed', async () => {
    const { served } = await driveLoad(store('load'), fleetRate())
    expect(served.critical).toEqual({ admitted: 100, shed: 0, limited: 0 })
    expect(served.background).toEqual({ admitted: 0, shed: 500, limited: 0 })
    expect(served.normal.admitted).toBeGreaterThan(80)
    expect(served.normal.admitted + served.critical.admitted).toBeLessThanOrEqual(200)
    // One fleet key whatever the priority (the views share the base's name and id).
    const fleetKeys = (await keysUnder(client, `${prefix}:load`)).filter((k) => k.includes(':fleet~'))
    expect(fleetKeys).toHaveLength(1)
  })

  it('gives the same answers as the memory store, request by request, on a fixed-window budget', async () => {
    const run = async (limiterStore: RedisStore | undefined) => {
      const shed = loadShedding({ budget: fixedWindow({ name: 'fleet', limit: 10, window: '1m' }) })
      const limiter = createLimiter({
        ...(limiterStore === undefined ? {} : { store: limiterStore }),
        now: () => T0,
        policies: [tokenBucket({ name: 'own', limit: 100, window: '1m' })],
        onStoreError: 'deny',
      })
      const order = ['background', 'normal', 'background', 'critical', 'background', 'normal'] as const
      const answers: string[] = []
      for (let i = 0; i < 24; i++) {
        const d = await limiter.consume(`k${i % 3}`, { layers: [shed.layer(order[i % order.length])] })
        answers.push(d.allowed ? 'ok' : isShedding(d) ? `shed:${d.retryAfterMs}` : d.reason)
      }
      return answers
    }
    const redis = await run(store('same'))
    expect(redis).toEqual(await run(undefined))
    expect(redis.filter((a) => a === 'ok')).toHaveLength(10)
  })
})
