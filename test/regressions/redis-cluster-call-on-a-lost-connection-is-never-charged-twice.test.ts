// An ioredis or iovalkey Cluster sends again, after retryDelayOnFailover (100 ms), a command whose
// node connection closed before its reply came ("Connection is closed."). Redis may have run the
// script already: the reply was lost with the connection, not the command. With a timeoutMs above
// that delay (250 ms is what the docs advise with `replicas` or a resharding node-redis 4), the copy
// ran again within its deadline and charged every request of the batch a second time, and the
// callers were admitted on the second answer, with nothing reported. Below, the master runs the
// batch and then, in the same turn of its event loop, closes the store's connection to it (DEBUG
// SLEEP holds both commands until then), so the reply is never written.
// Now such a call fails (a StoreError: it may have run, as with node-redis, which never sends it
// again) and the outage is reported. Each request is charged at most once, whatever the library.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { keySlot } from '../../src/stores/redis/slots.js'
import { chargedAtMostOnceWhenTheReplyIsLost } from '../helpers/lost-connection.js'
import { masterOfSlot } from '../helpers/redis-cluster-ops.js'
import { type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
import { STORE_CLIENTS } from '../stores/redis/clients.js'

const LIMIT = 1_000_000
const REQUESTS = 5
const PREFIX = `rkt-clresend-${process.pid}`

const available = redisServerFor('the Cluster lost-connection resend regression test')

describe.runIf(available)('a Cluster call in flight on a node connection that closes', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startCluster(3, { args: ['--enable-debug-command', 'yes'] })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it.each(STORE_CLIENTS)('$name: is charged at most once, and the loss is heard', async (library) => {
    const handle = library.cluster(cluster.startupNodes)
    await handle.ready
    // A deadline far beyond the client's own retry delay, so that a copy is not refused for being late.
    const store = new RedisStore({ client: handle.client, timeoutMs: 3000, prefix: PREFIX })
    const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'count', limit: LIMIT, window: '1d' })], onStoreError: 'deny' })
    const warnings: string[] = []
    limiter.on('warn', (w) => warnings.push(w.code))
    const key = `k-${library.name.replace(/\W/g, '')}`
    expect((await limiter.consume(key)).reason).toBe('ok')

    const master = await masterOfSlot(cluster.startupNodes[0].port, keySlot(`${PREFIX}:{${key}}:`))
    try {
      await chargedAtMostOnceWhenTheReplyIsLost(master.port, limiter, key, warnings, REQUESTS, LIMIT)
    } finally {
      store.close()
      handle.close()
    }
  })
})
