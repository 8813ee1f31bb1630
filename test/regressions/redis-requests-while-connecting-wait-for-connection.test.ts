// Requests made right after start-up, while ioredis is still connecting, wait for the connection
// (within their deadline) instead of bypassing Redis. Once a connection attempt has failed, calls
// fail fast again, and a server that accepts the connection but never answers can't hang them.

import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, StoreError, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { freePort, type RedisServer, redisServerFor, startRedisServer } from '../helpers/redis-servers.js'
import { IOREDIS, STORE_CLIENTS } from '../stores/redis/clients.js'

const TIMEOUT_MS = 100
// Wall-clock bounds tell "settled by the deadline" from "hung until the client gave up" (10 s or
// 5 s below); they are loose on purpose, so a busy machine can't make them fail.
const SLACK_MS = 1000

const available = redisServerFor('the connecting-Redis regression test')

describe.runIf(available)('RedisStore requests made while the client connects', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  describe.each(IOREDIS)('$name', (version) => {
    const policies = [tokenBucket({ name: 'pm', limit: 5, window: '1m' })]

    it.each([{ lazyConnect: false }, { lazyConnect: true }])('are decided by Redis (lazyConnect: $lazyConnect)', async (options) => {
      const client = version.single(server.url, { ...options, retryStrategy: () => 50 })
      try {
        const store = new RedisStore({ client, timeoutMs: 1000, prefix: `rkt-connecting-${process.pid}-${Date.now()}` })
        const limiter = createLimiter({ store, policies })
        expect(client.status).not.toBe('ready')
        const decisions = await Promise.all([limiter.consume('a'), limiter.consume('a'), limiter.consume('b')])
        expect(decisions.map((d) => d.reason)).toEqual(['ok', 'ok', 'ok'])
        expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 4])
        store.close()
      } finally {
        client.disconnect()
      }
    })

    it('settle by the deadline when the server accepts the connection but never answers', async () => {
      const sockets: Socket[] = []
      const silent: Server = createServer((socket) => sockets.push(socket))
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
      const address = silent.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      const client = version.single(`redis://127.0.0.1:${port}`, { retryStrategy: () => 50, connectTimeout: 10_000 })
      try {
        const store = new RedisStore({ client, timeoutMs: TIMEOUT_MS })
        const started = performance.now()
        const error = await Promise.resolve(store.consume({ keys: ['k'], policies, cost: 1, now: Date.now(), tag: 'k' })).catch((e) => e)
        expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + SLACK_MS)
        expect(error).toBeInstanceOf(StoreError)
        expect((error as StoreError).code).toBe('ERR_RK_STORE_TIMEOUT')
        store.close()
      } finally {
        client.disconnect()
        for (const s of sockets) s.destroy()
        silent.close()
      }
    })

    it('fail fast once a connection attempt has failed (Redis down at start-up)', async () => {
      const port = await freePort()
      const client = version.single(`redis://127.0.0.1:${port}`, { retryStrategy: () => 50 })
      try {
        const store = new RedisStore({ client, timeoutMs: 5000 })
        const limiter = createLimiter({ store, policies })
        const warnings: string[] = []
        limiter.on('warn', (w) => warnings.push(w.code))
        // The first request waits for the first attempt, which fails: it fails with it.
        const first = performance.now()
        expect((await limiter.consume('k')).reason).toBe('store-error')
        expect(performance.now() - first).toBeLessThan(1000)
        const started = performance.now()
        for (let i = 0; i < 5; i++) expect((await limiter.consume('k')).reason).toBe('store-error')
        expect(performance.now() - started).toBeLessThan(SLACK_MS)
        // The store's line, and the limiter's: one each for the outage, none per request.
        expect(warnings).toEqual(['RK_REDIS_CONNECTION', 'RK_STORE_OUTAGE'])
        store.close()
      } finally {
        client.disconnect()
      }
    })
  })

  // node-redis: `connect()` called and not awaited (a common start-up), the store made at once.
  describe.each(STORE_CLIENTS.filter((library) => library.name.startsWith('node-redis')))('$name', (library) => {
    const policies = [tokenBucket({ name: 'pm', limit: 5, window: '1m' })]

    it('are decided by Redis', async () => {
      const made = library.single(server.url, { reconnectMs: 50 })
      try {
        const store = new RedisStore({ client: made.client, timeoutMs: 1000, prefix: `rkt-connecting-nr-${process.pid}-${Date.now()}` })
        const limiter = createLimiter({ store, policies })
        expect(store.client.status).not.toBe('ready')
        const decisions = await Promise.all([limiter.consume('a'), limiter.consume('a'), limiter.consume('b')])
        expect(decisions.map((d) => d.reason)).toEqual(['ok', 'ok', 'ok'])
        expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 4])
        store.close()
      } finally {
        made.close()
      }
    })

    it('fail fast once a connection attempt has failed (Redis down at start-up)', async () => {
      const made = library.single(`redis://127.0.0.1:${await freePort()}`, { reconnectMs: 50 })
      try {
        const store = new RedisStore({ client: made.client, timeoutMs: 5000 })
        const limiter = createLimiter({ store, policies })
        limiter.on('warn', () => {})
        const first = performance.now()
        expect((await limiter.consume('k')).reason).toBe('store-error')
        expect(performance.now() - first).toBeLessThan(1000)
        const started = performance.now()
        for (let i = 0; i < 5; i++) expect((await limiter.consume('k')).reason).toBe('store-error')
        expect(performance.now() - started).toBeLessThan(SLACK_MS)
        store.close()
      } finally {
        made.close()
      }
    })
  })
})
