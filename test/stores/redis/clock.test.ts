// Redis TIME: app servers whose clocks disagree by tens of seconds still admit exactly the limit,
// because the script decides on the server's clock (the default). The caller's clock, by contrast,
// lets the server that runs ahead see a refilled bucket.

import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createLimiter, type Limiter, type Policy, slidingWindow, tokenBucket } from '../../../src/index.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, keysWithoutTtl, REDIS_URL, uniquePrefix } from '../../helpers/redis.js'
import { ready } from './clients.js'

describeRedis('RedisStore on Redis TIME', () => {
  const prefix = uniquePrefix('clock')
  const clients = [new Redis(REDIS_URL), new Redis(REDIS_URL)]
  const skews = [-30_000, +45_000]

  beforeAll(() => Promise.all(clients.map(ready)))
  afterAll(async () => {
    expect((await keysWithoutTtl(clients[0], prefix)).without).toEqual([])
    await deleteUnder(clients[0], prefix)
    for (const c of clients) c.disconnect()
  })

  /** Two app servers, each with its own client, store and skewed clock. */
  const servers = (policies: Policy[], clock: 'redis' | 'caller'): Limiter[] =>
    clients.map((client, i) =>
      createLimiter({ store: new RedisStore({ client, prefix, clock }), policies, now: () => Date.now() + skews[i], onStoreError: 'deny' }),
    )

  const admittedOf = async (limiters: Limiter[], key: string, requests: number) => {
    let admitted = 0
    await Promise.all(
      Array.from({ length: requests }, async (_, i) => {
        const d = await limiters[i % limiters.length].consume(key)
        expect(d.reason === 'ok' || d.reason === 'limited').toBe(true)
        if (d.allowed) admitted++
      }),
    )
    return admitted
  }

  it('admits exactly the limit across servers whose clocks disagree by 75 s (token bucket)', async () => {
    const limiters = servers([tokenBucket({ name: 'per-minute', limit: 10, window: '1m' })], 'redis')
    expect(await admittedOf(limiters, `tb-${Math.random()}`, 60)).toBe(10)
  })

  it('admits exactly the limit across skewed servers (sliding window)', async () => {
    const limiters = servers([slidingWindow({ name: 'per-minute', limit: 10, window: '1m' })], 'redis')
    expect(await admittedOf(limiters, `sw-${Math.random()}`, 60)).toBe(10)
  })

  it("reports decisions in Redis time, whatever the caller's clock says", async () => {
    const [a, b] = servers([tokenBucket({ limit: 10, window: '1m' })], 'redis')
    const key = `at-${Math.random()}`
    const [da, db] = [await a.consume(key), await b.consume(key)]
    expect(Math.abs(da.at - db.at)).toBeLessThan(5_000)
    expect(Math.abs(da.at - Date.now())).toBeLessThan(5_000)
  })

  it("over-admits with clock: 'caller' and skewed servers (why 'redis' is the default)", async () => {
    const limiters = servers([tokenBucket({ name: 'per-minute', limit: 10, window: '1m' })], 'caller')
    const key = `caller-${Math.random()}`
    // The server 75 s ahead finds the other's tokens long refilled.
    expect(await admittedOf(limiters.slice(0, 1), key, 20)).toBe(10)
    expect(await admittedOf(limiters.slice(1), key, 20)).toBe(10)
  })
})
