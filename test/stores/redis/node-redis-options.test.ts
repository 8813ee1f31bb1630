// node-redis settings that change how commands are sent or replies read: node-redis 4's
// `legacyMode` (callback commands; the promise ones under `client.v4`), and RESP2 or RESP3 in
// node-redis 5 and 6. The store decides the same under each.

import { Redis } from 'ioredis'
import { createClient as createClient6 } from 'redis'
import { createClient as createClient4 } from 'redis4'
import { createClient as createClient5 } from 'redis5'
import { afterAll, expect, it } from 'vitest'
import { createLimiter, fixedWindow, tokenBucket } from '../../../src/index.js'
import { type NodeRedisClient, RedisStore } from '../../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../../helpers/redis.js'

type Connectable = NodeRedisClient & {
  connect(): Promise<unknown>
  on(e: string, l: () => void): unknown
  quit(): Promise<unknown>
  /** legacyMode: the promise-returning commands. */
  v4?: { quit(): Promise<unknown> }
}

describeRedis('RedisStore on node-redis settings', () => {
  const prefix = uniquePrefix('nropts')
  afterAll(async () => {
    const admin = new Redis(REDIS_URL)
    await deleteUnder(admin, prefix)
    admin.disconnect()
  })

  const CASES: { name: string; make: () => unknown }[] = [
    { name: 'node-redis 4, legacyMode', make: () => createClient4({ url: REDIS_URL, legacyMode: true }) },
    { name: 'node-redis 5, RESP2', make: () => createClient5({ url: REDIS_URL, RESP: 2 }) },
    { name: 'node-redis 5, RESP3', make: () => createClient5({ url: REDIS_URL, RESP: 3 }) },
    { name: 'node-redis 6, RESP2', make: () => createClient6({ url: REDIS_URL, RESP: 2 }) },
    { name: 'node-redis 6, RESP3', make: () => createClient6({ url: REDIS_URL, RESP: 3 }) },
  ]

  it.each(CASES)('$name: decides, denies and reports every policy', async ({ name, make }) => {
    const client = make() as Connectable
    client.on('error', () => {})
    await client.connect()
    const store = new RedisStore({ client, prefix: `${prefix}:${name.replace(/\W/g, '')}` })
    const limiter = createLimiter({
      store,
      policies: [tokenBucket({ name: 'tb', limit: 3, window: '1h' }), fixedWindow({ name: 'fw', limit: 10, window: '1d' })],
      onStoreError: 'deny',
    })
    const decisions = []
    for (let i = 0; i < 4; i++) decisions.push(await limiter.consume('k'))
    expect(decisions.map((d) => d.reason)).toEqual(['ok', 'ok', 'ok', 'limited'])
    expect(decisions[2].policies.map((p) => [p.name, p.remaining])).toEqual([
      ['tb', 0],
      ['fw', 7],
    ])
    expect(decisions[3].retryAfterMs).toBeGreaterThan(0)
    store.close()
    await (client.v4 ?? client).quit().catch(() => {})
  })
})
