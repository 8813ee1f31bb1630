// Redis Cluster with `replicas: 1`, a slot half-migrated: a one-key request whose key has moved is
// answered ASK by the source. With `replicas` the script call goes in one pipeline with its
// `WAIT`, and ioredis and iovalkey follow a pipeline's ASK only when every command of it got one:
// the `WAIT` succeeds on the source, so the ASK came back as the call's error and the request
// failed (onStoreError) for as long as the migration lasted, on every library that pipelines.
// The store now follows it: `ASKING`, the call and its `WAIT`, in one pipeline to the importing
// node. ASK means the source ran nothing, so the script runs once.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { decideDuringMigration } from '../helpers/redis-cluster-ops.js'
import { type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
import { STORE_CLIENTS } from '../stores/redis/clients.js'

const LIMIT = 1000
const PIPELINING = STORE_CLIENTS.filter((library) => !library.name.startsWith('node-redis'))

const available = redisServerFor('the replicated Cluster ASK regression test')

describe.runIf(available)('a replicated one-key request on a slot in migration', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startCluster(3, { replicas: 1 })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it.each(PIPELINING)(
    '$name: is served on the importing node with its WAIT, and counted once',
    async (library) => {
      const handle = library.cluster(cluster.startupNodes)
      const store = new RedisStore({
        client: handle.client,
        prefix: `rkt-rask-${library.name.replace(/\W/g, '')}-${process.pid}`,
        timeoutMs: 1000,
        replicas: 1,
      })
      try {
        await handle.ready
        const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'day', limit: LIMIT, window: '1d' })], onStoreError: 'deny' })
        const { failed, charges } = await decideDuringMigration(cluster.nodes[0].port, limiter, { limit: LIMIT, rounds: 5 })
        expect(failed).toEqual([])
        // Each request counted once, wherever it was served.
        expect(charges).toEqual(Array(10).fill(1 + 5))
      } finally {
        store.close()
        handle.close()
      }
    },
    30_000,
  )
})
