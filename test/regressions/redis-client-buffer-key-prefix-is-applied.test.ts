// ioredis applies a client's `keyPrefix` given as a Buffer as it applies a string one. The store's
// direct command path (taken by every ioredis client since it no longer needs auto-pipelining)
// read a string prefix only: with a Buffer one its keys went to Redis unprefixed, shared with
// every other application on that Redis whose client had no prefix (or another).

import { Redis } from 'ioredis'
import { afterAll, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, keysUnder, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

describeRedis('a RedisStore on a client with a Buffer keyPrefix', () => {
  const head = uniquePrefix('bufprefix')
  const admin = new Redis(REDIS_URL)
  afterAll(async () => {
    await deleteUnder(admin, head)
    admin.disconnect()
  })

  it.each([false, true])('writes its keys under that prefix (auto-pipelining %s)', async (enableAutoPipelining) => {
    const keyPrefix = `${head}:${enableAutoPipelining}:`
    const client = new Redis(REDIS_URL, { keyPrefix: Buffer.from(keyPrefix) as unknown as string, enableAutoPipelining })
    const store = new RedisStore({ client, prefix: 'app' })
    await new Promise((resolve) => setTimeout(resolve, 30)) // past the store's choice of how it calls the script
    const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'ten', limit: 10, window: '1h' })] })
    expect((await limiter.consume('k')).allowed).toBe(true)
    expect((await keysUnder(admin, keyPrefix)).length).toBe(1)
    store.close()
    client.disconnect()
  })
})
