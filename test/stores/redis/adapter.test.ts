// The adapter interface (docs/redis.md, "Another client"): a client the store does not know,
// behind the adapter the docs show, decides like any other, reloads the script after NOSCRIPT,
// and fails fast while its client is not connected.

import { EventEmitter } from 'node:events'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createLimiter, type StoreError, tokenBucket } from '../../../src/index.js'
import { type RedisClient, RedisStore } from '../../../src/stores/redis/index.js'
import { describeRedis, REDIS_URL, uniquePrefix } from '../../helpers/redis.js'

/** A client whose only command call is `send(['CMD', ...args])`, rejecting with `{ redisError: text }` for Redis's errors. */
class RawClient extends EventEmitter {
  connected = true
  readonly sent: string[] = []
  constructor(readonly redis: Redis) {
    super()
  }
  async send(args: string[]): Promise<unknown> {
    this.sent.push(args[0])
    try {
      return await this.redis.call(args[0], ...args.slice(1))
    } catch (error) {
      throw { redisError: (error as Error).message }
    }
  }
}

/** The adapter of docs/redis.md, as written there. */
class RawClientAdapter implements RedisClient {
  constructor(readonly raw: RawClient) {}
  get status(): string {
    return this.raw.connected ? 'ready' : 'reconnecting'
  }
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown> {
    return this.#send(['EVALSHA', sha, String(numKeys), ...args.map(String)])
  }
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown> {
    return this.#send(['EVAL', script, String(numKeys), ...args.map(String)])
  }
  on(event: 'error' | 'ready' | 'node error', listener: (...args: unknown[]) => void): this {
    if (event !== 'node error') this.raw.on(event, listener)
    return this
  }
  #send(args: string[]): Promise<unknown> {
    return this.raw.send(args).catch((error: unknown) => {
      const text = (error as { redisError?: unknown }).redisError
      if (typeof text !== 'string') throw error
      throw Object.assign(new Error(text), { name: 'ReplyError' })
    })
  }
}

describeRedis('RedisStore with a client adapter', () => {
  let redis: Redis
  let admin: Redis

  beforeAll(async () => {
    redis = new Redis(REDIS_URL)
    admin = new Redis(REDIS_URL)
    await Promise.all([redis.ping(), admin.ping()])
  })

  afterAll(() => {
    redis.disconnect()
    admin.disconnect()
  })

  it('decides, reloads the script once after SCRIPT FLUSH, and fails fast while not connected', async () => {
    const raw = new RawClient(redis)
    const store = new RedisStore({ client: new RawClientAdapter(raw), prefix: uniquePrefix('adapter') })
    const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'tb', limit: 3, window: '1h' })], onStoreError: 'deny' })
    const reasons: string[] = []
    for (let i = 0; i < 4; i++) reasons.push((await limiter.consume('k')).reason)
    expect(reasons).toEqual(['ok', 'ok', 'ok', 'limited'])

    await admin.script('FLUSH')
    raw.sent.length = 0
    const after = await limiter.consume('j')
    expect(after.reason).toBe('ok')
    // NOSCRIPT (a reply error, as the adapter shapes it) and the script sent whole, once.
    expect(raw.sent).toEqual(['EVALSHA', 'EVAL'])

    raw.connected = false
    raw.sent.length = 0
    const down = await limiter.consume('j')
    expect(down.reason).toBe('store-error')
    expect((down.error as StoreError).code).toBe('ERR_RK_STORE')
    expect(raw.sent).toEqual([])
    store.close()
  })
})
