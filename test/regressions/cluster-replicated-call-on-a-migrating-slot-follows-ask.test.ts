// Redis Cluster with `replicas: 1`, a slot half-migrated: a one-key request whose key has moved is
// answered ASK by the source. With `replicas` the script call goes in one pipeline with its
// `WAIT`, and ioredis and iovalkey follow a pipeline's ASK only when every command of it got one:
// the `WAIT` succeeds on the source, so the ASK came back as the call's error and the request
// failed (onStoreError) for as long as the migration lasted, on every library that pipelines.
// The store now follows it: `ASKING`, the call and its `WAIT`, in one pipeline to the importing
// node. ASK means the source ran nothing, so the script runs once.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, type Decision, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { keySlot } from '../../src/stores/redis/slots.js'
import { beginSlotMigration, finishSlotMigration, keysInSlot, masterOfSlot, migrateKeys } from '../helpers/redis-cluster-ops.js'
import { clusterNodes, type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
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
        const tag = `team-${Date.now()}`
        const slot = keySlot(`{${tag}}`)
        const users = Array.from({ length: 10 }, (_, i) => `u${i}`)
        for (const u of users) expect((await limiter.consume(u, { tag })).reason).toBe('ok')

        const port = cluster.nodes[0].port
        const masters = (await clusterNodes(port)).filter((n) => n.flags.includes('master'))
        const source = await masterOfSlot(port, slot)
        const target = masters.find((m) => m.id !== source.id)
        if (target === undefined) throw new Error('no other master')
        const rounds = 5
        const failed: string[] = []
        await beginSlotMigration(slot, source, target)
        try {
          // Half of the users' keys move to the importing node; the others stay on the migrating one.
          await migrateKeys(source, target, await keysInSlot(source.port, slot, (key) => /:u[0-4]$/.test(key)))
          for (let r = 0; r < rounds; r++) {
            const decisions: Decision[] = await Promise.all(users.map((u) => limiter.consume(u, { tag })))
            for (const d of decisions)
              if (d.reason !== 'ok') failed.push(String(((d.error as Error | undefined)?.cause as Error | undefined)?.message ?? d.reason))
          }
        } finally {
          await finishSlotMigration(slot, source, target, masters)
        }
        expect(failed).toEqual([])
        const after = await Promise.all(users.map((u) => limiter.peek(u, { tag })))
        expect(after.map((d) => LIMIT - d.remaining)).toEqual(users.map(() => 1 + rounds))
      } finally {
        store.close()
        handle.close()
      }
    },
    30_000,
  )
})
