// onStoreError 'fallback' with a count mode: a request charged in the fallback store while Redis
// was unreachable, whose response then did not count, must be refunded into the fallback, never
// into Redis once it is back (that would hand the client a request it never paid for). And a
// refund of a charge Redis made never goes to the fallback. Runs on a redis-server of its own,
// paused with SIGSTOP.

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countingFinish } from '../../src/http/count-mode.js'
import { createLimiter, type Decision, fixedWindow, type Limiter, MemoryStore } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { uniquePrefix } from '../helpers/redis.js'
import { type RedisServer, redisServerFor, startRedisServer } from '../helpers/redis-servers.js'
import { ready } from '../stores/redis/clients.js'

const available = redisServerFor('the fallback refund regression')

const policies = [fixedWindow({ name: 'per-hour', limit: 2, window: '1h' })]
const quiet = { warn: () => {} }

describe.runIf(available)('refunds under onStoreError: fallback', () => {
  let server: RedisServer
  let client: Redis

  beforeAll(async () => {
    server = await startRedisServer()
    client = new Redis(server.url, { retryStrategy: () => 50 })
    client.on('error', () => {})
    await ready(client)
  })

  afterAll(async () => {
    server.resume()
    client.disconnect()
    await server.stop()
  })

  function setup(): { limiter: Limiter; fallback: MemoryStore; fallbackView: Limiter } {
    const store = new RedisStore({ client, prefix: uniquePrefix('fallback-refund'), timeoutMs: 100 })
    const fallback = new MemoryStore()
    const limiter = createLimiter({ store, policies, onStoreError: 'fallback', fallback, logger: quiet })
    // Reads the fallback's state for the same key and policies.
    const fallbackView = createLimiter({ store: fallback, policies })
    return { limiter, fallback, fallbackView }
  }

  /** Charges `key` in Redis until it has nothing left, every response counted. */
  async function spend(limiter: Limiter, key: string): Promise<Decision[]> {
    const decisions: Decision[] = []
    for (let i = 0; i < 2; i++) {
      const d = await limiter.consume(key)
      expect(d.reason).toBe('ok')
      await countingFinish(limiter, d, { key, countMode: 'success' })?.({ status: 200, aborted: false })
      decisions.push(d)
    }
    return decisions
  }

  async function whilePaused<T>(fn: () => Promise<T>): Promise<T> {
    server.pause()
    try {
      return await fn()
    } finally {
      server.resume()
    }
  }

  it('a request charged in the fallback and not counted is refunded into the fallback, not into Redis', async () => {
    const { limiter, fallbackView } = setup()
    const key = 'client-a'
    await spend(limiter, key)
    expect((await limiter.peek(key)).remaining).toBe(0)

    // Redis freezes: the next request is decided (and charged) by the fallback.
    const { decision, finish } = await whilePaused(async () => {
      const decision = await limiter.consume(key)
      return { decision, finish: countingFinish(limiter, decision, { key, countMode: 'success' }) }
    })
    expect(decision.reason).toBe('ok')
    expect(decision.remaining).toBe(1)
    expect((await fallbackView.peek(key)).remaining).toBe(1)

    // Redis is back when the response fails (status 500: not counted under 'success').
    expect((await limiter.peek(key)).reason).not.toBe('store-error')
    await finish?.({ status: 500, aborted: false })

    // Redis still has nothing left: no free request there.
    const inRedis = await limiter.peek(key)
    expect(inRedis.reason).not.toBe('store-error')
    expect(inRedis.remaining).toBe(0)
    expect((await limiter.consume(key)).allowed).toBe(false)
    // The fallback got its own charge back.
    expect((await fallbackView.peek(key)).remaining).toBe(2)
  })

  it('limiter.refund(key, { decision }) goes to the store that charged the decision', async () => {
    const { limiter, fallbackView } = setup()
    const key = 'client-b'
    await spend(limiter, key)
    const decision = await whilePaused(() => limiter.consume(key))
    expect(decision.reason).toBe('ok')
    expect((await fallbackView.peek(key)).remaining).toBe(1)
    await limiter.refund(key, { decision })
    expect((await limiter.peek(key)).remaining).toBe(0)
    expect((await fallbackView.peek(key)).remaining).toBe(2)
  })

  it('a refund of a charge Redis made is not given to the fallback while Redis is down', async () => {
    const { limiter, fallbackView } = setup()
    const key = 'client-c'
    const [first] = await spend(limiter, key)
    // One request charged in the fallback during the outage…
    await whilePaused(async () => {
      expect((await limiter.consume(key)).reason).toBe('ok')
      expect((await fallbackView.peek(key)).remaining).toBe(1)
      // …and the refund of an earlier Redis charge fails instead of crediting the fallback.
      const refunded = await limiter.refund(key, { decision: first })
      expect(refunded.reason).toBe('store-error')
    })
    expect((await fallbackView.peek(key)).remaining).toBe(1)
  })
})
