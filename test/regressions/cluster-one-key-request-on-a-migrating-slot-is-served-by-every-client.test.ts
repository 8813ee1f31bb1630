// Redis Cluster, a slot half-migrated under concurrent traffic: a one-key request whose key has
// moved is answered ASK by the source, and served on the target after ASKING. ASKING holds for
// the next command on its connection only, so it must go in the same write as the request's
// script call: node-redis 4's Cluster sends it on its own and awaits its reply first, and another
// command on that connection can take it; the script call then gets MOVED, node-redis goes back
// to the source, ASK again, until its redirections run out and the request fails with the ASK
// reply (about a third of such requests did, 10 at a time). The store follows that ASK itself,
// with ASKING and the call in one pipeline.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { decideDuringMigration } from '../helpers/redis-cluster-ops.js'
import { type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
import { STORE_CLIENTS } from '../stores/redis/clients.js'

const LIMIT = 1000

const available = redisServerFor('the Cluster ASK regression test')

describe.runIf(available)('a one-key request on a slot in migration', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startCluster(3)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it.each(STORE_CLIENTS)('$name: is served on the importing node, ten at a time, and counted once', async (library) => {
    const handle = library.cluster(cluster.startupNodes)
    const store = new RedisStore({
      client: handle.client,
      prefix: `rkt-ask-${library.name.replace(/\W/g, '')}-${process.pid}`,
      timeoutMs: 1000,
    })
    try {
      await handle.ready
      const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'day', limit: LIMIT, window: '1d' })], onStoreError: 'deny' })
      const { failed, charges } = await decideDuringMigration(cluster.nodes[0].port, limiter, { limit: LIMIT, rounds: 10 })
      expect(failed).toEqual([])
      // Each request counted once, wherever it was served.
      expect(charges).toEqual(Array(10).fill(1 + 10))
    } finally {
      store.close()
      handle.close()
    }
  })
})
