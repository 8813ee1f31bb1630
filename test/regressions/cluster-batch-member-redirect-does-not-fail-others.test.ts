// Redis Cluster, a slot half-migrated: one request's key already on the importing node, another's
// still on the migrating one. Each alone is served (ASK for the first, the source for the second).
// Made together they must still each be decided on their own: batching them into one script call
// would send both keys to one node and fail both (ASK, then TRYAGAIN for ~1.6 s of redirections).

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { keySlot } from '../../src/stores/redis/slots.js'
import { beginSlotMigration, finishSlotMigration, keysInSlot, masterOfSlot, migrateKeys } from '../helpers/redis-cluster-ops.js'
import { clusterNodes, type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
import { IOREDIS, ready } from '../stores/redis/clients.js'

const TIMEOUT_MS = 100
const MARGIN_MS = 50

const available = redisServerFor('the Cluster redirection regression test')

describe.runIf(available)('a redirection for one request of a batch does not fail the others', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startCluster(3)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it.each(IOREDIS)('$name: decides each request made together on a half-migrated slot on its own', async (version) => {
    const client = version.cluster(cluster.startupNodes)
    await ready(client)
    const prefix = `rkt-redirect-${process.pid}`
    const store = new RedisStore({ client, prefix, timeoutMs: TIMEOUT_MS })
    const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'day', limit: 10, window: '1d' })], onStoreError: 'deny' })
    const tag = `team-${version.name}-${Date.now()}`
    const slot = keySlot(`{${tag}}`)
    // Two subjects under one hash tag, each charged once: both keys live on the slot's master.
    expect((await limiter.consume('k0', { tag })).remaining).toBe(9)
    expect((await limiter.consume('k1', { tag })).remaining).toBe(9)

    const port = cluster.nodes[0].port
    const masters = (await clusterNodes(port)).filter((n) => n.flags.includes('master'))
    const source = await masterOfSlot(port, slot)
    const target = masters.find((m) => m.id !== source.id)
    if (target === undefined) throw new Error('no other master')
    await beginSlotMigration(slot, source, target)
    try {
      // k0's key moves to the importing node; k1's stays on the migrating one.
      await migrateKeys(source, target, await keysInSlot(source.port, slot, (key) => key.endsWith(':k0')))
      const started = performance.now()
      const decisions = await Promise.all([limiter.consume('k0', { tag }), limiter.consume('k1', { tag })])
      const ms = performance.now() - started
      expect(decisions.map((d) => d.reason)).toEqual(['ok', 'ok'])
      expect(decisions.map((d) => d.remaining)).toEqual([8, 8])
      expect(ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
    } finally {
      await finishSlotMigration(slot, source, target, masters)
    }
    // Nothing was lost or counted twice by the redirections.
    const after = await Promise.all([limiter.peek('k0', { tag }), limiter.peek('k1', { tag })])
    expect(after.map((d) => d.remaining)).toEqual([8, 8])
    store.close()
    client.disconnect()
  })
})
