// A Redis that can't serve writes answers the script's writes with READONLY (a replica: a master
// demoted under a client that stayed on it). A lone decision failed as a whole and the outage was
// reported (RK_REDIS_CONNECTION), but in a batch of several requests each failed inside the script
// on its own, and the store reported nothing: same Redis, same failure, heard only when traffic was
// light. Now a request that fails inside the script with an outage's reply reports the outage too.

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { type RedisServer, redisServerFor, startRedisServer } from '../helpers/redis-servers.js'
import { STORE_CLIENTS } from '../stores/redis/clients.js'

const available = redisServerFor('the outage-reply-in-a-batch regression test')

describe.runIf(available)('an outage reply inside a batch', () => {
  let master: RedisServer
  let demoted: RedisServer
  let admin: Redis
  beforeAll(async () => {
    master = await startRedisServer()
    demoted = await startRedisServer()
    admin = new Redis(demoted.url)
  })
  afterAll(async () => {
    admin?.disconnect()
    await demoted?.stop()
    await master?.stop()
  })

  it.each(STORE_CLIENTS)('$name: is reported as the outage it is', async (library) => {
    await admin.replicaof('NO', 'ONE')
    const handle = library.single(demoted.url)
    await handle.ready
    const store = new RedisStore({ client: handle.client, prefix: `rkt-ro-${process.pid}` })
    const limiter = createLimiter({
      store,
      policies: [tokenBucket({ name: 'tb', limit: 5, window: '1m' }), fixedWindow({ name: 'fw', limit: 5, window: '1m' })],
      onStoreError: 'deny',
    })
    const warnings: string[] = []
    limiter.on('warn', (w) => warnings.push(w.code))
    try {
      expect((await limiter.consume(`warm-${library.name}`)).reason).toBe('ok')
      await admin.replicaof('127.0.0.1', String(master.port))
      // Several requests in one script call: each fails inside the script.
      const decisions = await Promise.all(['a', 'b', 'c'].map((key) => limiter.consume(key)))
      for (const d of decisions) expect(d.reason).toBe('store-error')
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings).toContain('RK_REDIS_CONNECTION')
    } finally {
      store.close()
      handle.close()
    }
  })
})
