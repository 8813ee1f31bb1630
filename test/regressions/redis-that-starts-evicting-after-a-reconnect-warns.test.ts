// The store asked Redis's eviction policy once, at its first connection, and warned then
// (RK_REDIS_EVICTION). A Redis restarted, or reconfigured and reconnected to, with a maxmemory and
// an evicting policy (allkeys-lru: a limit whose key is evicted starts over, its client gets past
// it) was never asked again: nothing said so. The store now asks on every new connection and
// warns when the answer changed to an evicting one (a reconnection to the same Redis says nothing).

import { once } from 'node:events'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { type RedisServer, redisServerFor, startRedisServer } from '../helpers/redis-servers.js'

const available = redisServerFor('the Redis eviction-after-reconnect regression test')
const tick = () => new Promise((resolve) => setImmediate(resolve))

describe.skipIf(!available)('a Redis that evicts keys once the store has reconnected', () => {
  let server: RedisServer | undefined
  afterAll(async () => {
    await server?.stop()
  })

  it('is reported after the reconnection, once', async () => {
    server = await startRedisServer({ args: ['--maxmemory', '100mb', '--maxmemory-policy', 'noeviction'] })
    const client = new Redis(server.url)
    const admin = new Redis(server.url)
    await client.ping()
    const limiter = createLimiter({
      store: new RedisStore({ client, prefix: 'rk-evict' }),
      policies: [fixedWindow({ name: 'fw', limit: 3, window: '1h' })],
    })
    const codes: string[] = []
    limiter.on('warn', (w) => codes.push(w.code))
    await limiter.consume('k')
    for (let i = 0; i < 5; i++) await tick()
    expect(codes).toEqual([])

    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru')
    const reconnect = async () => {
      const ready = once(client, 'ready')
      client.disconnect(true)
      await ready
      await limiter.consume('k')
      for (let i = 0; i < 5; i++) await tick()
    }
    await reconnect()
    expect(codes).toEqual(['RK_REDIS_EVICTION'])
    await reconnect()
    expect(codes).toEqual(['RK_REDIS_EVICTION'])
    client.disconnect()
    admin.disconnect()
  })
})
