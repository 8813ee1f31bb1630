// node-redis 5 and 6's Sentinel client (`createSentinel`) takes whether a command only reads as
// its first argument: the store sent it the command alone, so every call failed ("Cannot read
// properties of undefined") and the limiter stayed in an outage for good. The script writes: it
// goes to the master the sentinels name, and is answered.

import { createSentinel as createSentinel6 } from 'redis'
import { createSentinel as createSentinel5 } from 'redis5'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { SENTINEL_MASTER, type SentinelGroup, startSentinelGroup } from '../helpers/redis-sentinel.js'
import { redisServerFor } from '../helpers/redis-servers.js'

const available = redisServerFor('the node-redis Sentinel regression test')

describe.skipIf(!available)('a node-redis Sentinel client', () => {
  let group: SentinelGroup
  beforeAll(async () => {
    group = await startSentinelGroup()
  }, 30_000)
  afterAll(async () => {
    await group?.stop()
  })

  it.each([
    ['node-redis 5', createSentinel5],
    ['node-redis 6', createSentinel6],
  ] as const)('%s: decisions are made by Redis, through the master the sentinels name', async (_name, create) => {
    const client = (create as typeof createSentinel6)({ name: SENTINEL_MASTER, sentinelRootNodes: [...group.sentinels] })
    client.on('error', () => {})
    await client.connect()
    try {
      const store = new RedisStore({ client, prefix: `rk-nrs-${process.pid}-${Date.now()}` })
      const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'fw', limit: 2, window: '1d' })], onStoreError: 'deny' })
      const decisions = [await limiter.consume('k'), await limiter.consume('k'), await limiter.consume('k')]
      expect(decisions.map((d) => [d.reason, d.allowed])).toEqual([
        ['ok', true],
        ['ok', true],
        ['limited', false],
      ])
      store.close()
    } finally {
      await client.close()
    }
  })
})
