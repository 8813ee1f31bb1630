// A client that hands back Redis's integers as strings (ioredis and iovalkey `stringNumbers: true`,
// in a Cluster's `redisOptions` too; a node-redis `typeMapping` of numbers to `String`) made every
// script reply unreadable: each decision failed as "unexpected reply from the script", and the
// limiter applied onStoreError, which admits by default. The limit was off, with nothing that said
// why but an outage warning. Now such a client is refused when the store is made, with a
// ConfigurationError naming `client` and the setting; the same client without it is served.

import { Cluster, Redis } from 'ioredis'
import { createClient, RESP_TYPES } from 'redis'
import { describe, expect, it } from 'vitest'
import { ConfigurationError, createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

function refusal(make: () => unknown): ConfigurationError {
  try {
    make()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError)
    return error as ConfigurationError
  }
  throw new Error('the store was made')
}

describe('a client replying numbers as text', () => {
  it('ioredis stringNumbers, single node or Cluster, is refused, naming the setting', () => {
    const single = new Redis(REDIS_URL, { stringNumbers: true, lazyConnect: true })
    const cluster = new Cluster([{ host: '127.0.0.1', port: 6379 }], { redisOptions: { stringNumbers: true }, lazyConnect: true })
    for (const client of [single, cluster]) {
      const error = refusal(() => new RedisStore({ client }))
      expect(error.option).toBe('client')
      expect(error.message).toContain('stringNumbers')
    }
    single.disconnect()
    cluster.disconnect()
  })

  it('a node-redis typeMapping of numbers to strings is refused, naming the setting', () => {
    const client = createClient({ url: REDIS_URL, commandOptions: { typeMapping: { [RESP_TYPES.NUMBER]: String } } })
    const error = refusal(() => new RedisStore({ client }))
    expect(error.option).toBe('client')
    expect(error.message).toContain('typeMapping')
  })
})

describeRedis('the same clients without it', () => {
  it('are served', async () => {
    const prefix = uniquePrefix('numbers-as-text')
    const ioredis = new Redis(REDIS_URL, { stringNumbers: false })
    const nodeRedis = createClient({ url: REDIS_URL, commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: String } } })
    await nodeRedis.connect()
    try {
      for (const client of [ioredis, nodeRedis]) {
        const limiter = createLimiter({
          store: new RedisStore({ client, prefix }),
          policies: [fixedWindow({ name: 'fw', limit: 1, window: '1m' })],
        })
        const key = `k-${Math.random()}`
        expect((await limiter.consume(key)).reason).toBe('ok')
        expect((await limiter.consume(key)).reason).toBe('limited')
      }
    } finally {
      ioredis.disconnect()
      await nodeRedis.disconnect()
    }
  })
})
