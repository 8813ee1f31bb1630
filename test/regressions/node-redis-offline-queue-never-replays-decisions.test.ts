// node-redis keeps an offline queue by default: a command sent while it reconnects waits there and
// goes out once the connection is back, long after the caller gave up on it. The store must never
// hand it one of its calls: the decisions made while Redis was away (each failed by its deadline,
// the limiter applying onStoreError) must never be counted when Redis comes back, whether Redis
// was killed and restarted or frozen (SIGSTOP) and resumed.

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, type Limiter } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { type RedisServer, redisServerFor, startRedisServer } from '../helpers/redis-servers.js'
import { STORE_CLIENTS, type StoreClient } from '../stores/redis/clients.js'

const TIMEOUT_MS = 100
const LIMIT = 1_000_000

const available = redisServerFor('the node-redis offline-queue regression test')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function recovered(limiter: Limiter, key: string): Promise<void> {
  const until = performance.now() + 10_000
  while ((await limiter.consume(key)).reason !== 'ok') {
    if (performance.now() > until) throw new Error('never recovered')
    await sleep(10)
  }
}

describe.runIf(available)('node-redis offline queue', () => {
  const NODE_REDIS = STORE_CLIENTS.filter((library) => library.name.startsWith('node-redis'))
  let server: RedisServer
  let handle: StoreClient
  let store: RedisStore

  beforeEach(async () => {
    server = await startRedisServer()
  })

  afterEach(async () => {
    store?.close()
    handle?.close()
    await server.stop()
  })

  const limiterOn = async (library: (typeof NODE_REDIS)[number]) => {
    // The library's defaults (offline queue on) but a quick reconnect.
    handle = library.single(server.url, { reconnectMs: 20 })
    await handle.ready
    store = new RedisStore({ client: handle.client, timeoutMs: TIMEOUT_MS, prefix: `rkt-oq-${process.pid}` })
    return createLimiter({ store, policies: [fixedWindow({ name: 'count', limit: LIMIT, window: '1d' })] })
  }

  it.each(NODE_REDIS)('$name: decisions made while Redis restarts are never replayed into the new one', async (library) => {
    const limiter = await limiterOn(library)
    const key = `restart-${Date.now()}`
    await server.kill()
    // Calls made while the client reconnects (it keeps trying every 20 ms), past the store's probe delay.
    for (let i = 0; i < 10; i++) {
      const started = performance.now()
      const d = await limiter.consume(key)
      expect(d.reason).toBe('store-error')
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 200)
      await sleep(60)
    }
    await server.restart()
    await recovered(limiter, key)
    await sleep(100)
    // The restarted Redis (no persistence) holds only the call that found it back.
    expect((await limiter.peek(key)).remaining).toBe(LIMIT - 1)
  })

  it.each(NODE_REDIS)('$name: decisions made while Redis is frozen are not counted when it resumes', async (library) => {
    const limiter = await limiterOn(library)
    const key = `frozen-${Date.now()}`
    for (let i = 0; i < 3; i++) expect((await limiter.consume(key)).reason).toBe('ok')
    server.pause()
    try {
      const during = await Promise.all(Array.from({ length: 20 }, () => limiter.consume(key)))
      for (const d of during) expect(d.reason).toBe('store-error')
      await sleep(TIMEOUT_MS * 2)
    } finally {
      server.resume()
    }
    await recovered(limiter, key)
    await sleep(100)
    expect((await limiter.peek(key)).remaining).toBe(LIMIT - 4)
  })
})
