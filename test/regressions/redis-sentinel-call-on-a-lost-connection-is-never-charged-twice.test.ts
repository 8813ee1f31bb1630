// A Sentinel client sends again a write whose connection to the master closed before its reply
// came: ioredis and iovalkey resend it once reconnected, node-redis's createSentinel retries it on
// the master it finds again (up to maxCommandRediscovers times). Redis may have run the script
// already: the reply was lost with the connection, not the command. The copy ran again within its
// deadline and charged every request of the batch a second time, and the callers were admitted on
// the second answer, with nothing reported. Below, the master runs the batch and then, in the same
// turn of its event loop, closes the store's connections (DEBUG SLEEP holds both until then).
// Now each request is charged at most once, whatever the library, and the loss is heard.

import { Redis as Redis5 } from 'ioredis'
import { Redis as Redis6 } from 'ioredis6'
import { Valkey } from 'iovalkey'
import { createSentinel as createSentinel6 } from 'redis'
import { createSentinel as createSentinel5 } from 'redis5'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { chargedAtMostOnceWhenTheReplyIsLost } from '../helpers/lost-connection.js'
import { SENTINEL_MASTER, type SentinelGroup, startSentinelGroup } from '../helpers/redis-sentinel.js'
import { redisServerFor } from '../helpers/redis-servers.js'

const LIMIT = 1_000_000
const REQUESTS = 5

const available = redisServerFor('the Sentinel lost-connection resend regression test')

type Sentinels = readonly { host: string; port: number }[]
const LIBRARIES: readonly { name: string; make(sentinels: Sentinels): Promise<{ client: unknown; close(): unknown }> }[] = [
  ...(
    [
      ['ioredis 5', Redis5],
      ['ioredis 6', Redis6],
      ['iovalkey', Valkey],
    ] as const
  ).map(([name, Client]) => ({
    name,
    async make(sentinels: Sentinels) {
      const client = new (Client as typeof Redis5)({
        sentinels: [...sentinels],
        name: SENTINEL_MASTER,
        failoverDetector: true,
        retryStrategy: () => 20,
      })
      await new Promise((resolve) => client.once('ready', resolve))
      return { client, close: () => client.disconnect() }
    },
  })),
  ...(
    [
      ['node-redis 5', createSentinel5],
      ['node-redis 6', createSentinel6],
    ] as const
  ).map(([name, create]) => ({
    name,
    async make(sentinels: Sentinels) {
      // node-redis 5 tells of its master connections' failures only with passthroughClientErrorEvents (docs/redis.md).
      const client = (create as typeof createSentinel6)({
        name: SENTINEL_MASTER,
        sentinelRootNodes: [...sentinels],
        ...(name === 'node-redis 5' ? { passthroughClientErrorEvents: true } : {}),
      })
      client.on('error', () => {})
      await client.connect()
      return { client, close: () => client.close().catch(() => {}) }
    },
  })),
]

describe.runIf(available)('a Sentinel client call in flight on a connection that closes', () => {
  let group: SentinelGroup
  beforeAll(async () => {
    group = await startSentinelGroup({ args: ['--enable-debug-command', 'yes'] })
  }, 60_000)
  afterAll(async () => {
    await group?.stop()
  })

  it.each(LIBRARIES)('$name: is charged at most once, and the loss is heard', async (library) => {
    const { client, close } = await library.make(group.sentinels)
    const prefix = `rkt-snresend-${process.pid}-${library.name.replace(/\W/g, '')}`
    const store = new RedisStore({ client: client as never, timeoutMs: 3000, prefix })
    const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'count', limit: LIMIT, window: '1d' })], onStoreError: 'deny' })
    const warnings: string[] = []
    limiter.on('warn', (w) => warnings.push(w.code))
    const port = await group.masterPort()
    try {
      expect((await limiter.consume('k')).reason).toBe('ok')
      await chargedAtMostOnceWhenTheReplyIsLost(port, limiter, 'k', warnings, REQUESTS, LIMIT)
    } finally {
      store.close()
      await close()
    }
  })
})
