// node-redis 5 and 6's client pool (`createClientPool`) says whether it is open, never whether a
// connection is ready: the store took it for a client still connecting, waited for a 'ready' it
// never emits, and every call timed out. An open pool is now as ready as it gets: its calls are
// decided by Redis; with Redis gone they fail by their deadline (a call the pool queues meanwhile
// is refused by the script if it runs late), and once Redis is back they are decided again.

import { createClientPool as createClientPool6 } from 'redis'
import { createClientPool as createClientPool5 } from 'redis5'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { type RedisServer, redisServerFor, startRedisServer } from '../helpers/redis-servers.js'

// Not 100: a fresh pool's first call (a connection, the script loaded) can take longer on a loaded machine.
const TIMEOUT_MS = 500
const available = redisServerFor('the node-redis client pool regression test')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.skipIf(!available)('a node-redis client pool', () => {
  const servers: RedisServer[] = []
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()))
  })

  it.each([
    ['node-redis 5', createClientPool5],
    ['node-redis 6', createClientPool6],
  ] as const)(
    '%s: is decided by Redis, fails by the deadline while Redis is gone, and is decided again after',
    async (_name, create) => {
      const server = await startRedisServer()
      servers.push(server)
      const pool = (create as typeof createClientPool6)({ url: server.url })
      pool.on('error', () => {})
      await pool.connect()
      try {
        const store = new RedisStore({ client: pool, prefix: 'rk-pool', timeoutMs: TIMEOUT_MS })
        const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'fw', limit: 2, window: '1d' })], onStoreError: 'deny' })
        limiter.on('warn', () => {})
        const first = [await limiter.consume('k'), await limiter.consume('k'), await limiter.consume('k')]
        expect(first.map((d) => [d.reason, d.allowed])).toEqual([
          ['ok', true],
          ['ok', true],
          ['limited', false],
        ])

        await server.kill()
        for (let i = 0; i < 5; i++) {
          const started = performance.now()
          const d = await limiter.consume('other')
          expect(d.reason).toBe('store-error')
          expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 1000)
        }

        await server.restart()
        let back = await limiter.consume('after')
        for (let i = 0; i < 200 && back.reason !== 'ok'; i++) {
          await sleep(50)
          back = await limiter.consume('after')
        }
        expect(back.reason).toBe('ok')
        store.close()
      } finally {
        await pool.close().catch(() => {})
      }
    },
    30_000,
  )
})
