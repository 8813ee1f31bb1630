// Redis Cluster with `replicas: 1`, a master killed while no call of the store was in flight, its
// replica promoted. The store sends the script call and its WAIT as one pipeline. When the dead
// master's slots are asked of another master, the script call gets MOVED and the WAIT succeeds:
// ioredis and iovalkey then take the pipeline for one they must not send again, and hand the
// MOVED back without rereading the slot table. Nothing else made them reread it (a master killed
// between calls drops its connection with nothing in flight), so every later call went to a
// random master and got MOVED again: the new master never served the slots (seen: not within
// 10 s, on a cluster whose new master had a replica to acknowledge the writes at once). The
// store now has the slot table reread when a replicated call gets MOVED.
//
// Two replicas per master: the new master keeps one, so its writes are acknowledged as soon as
// the client routes them to it (with one replica per master they fail until the old master is
// back and synced: docs/redis.md).

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { keySlot } from '../../src/stores/redis/slots.js'
import { masterOfSlot } from '../helpers/redis-cluster-ops.js'
import { clusterNodes, type RedisCluster, redisServerFor, startCluster, waitClusterHealthy } from '../helpers/redis-servers.js'
import { STORE_CLIENTS } from '../stores/redis/clients.js'

const available = redisServerFor('the replicated Cluster failover regression test')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** How soon after the takeover a decision must be admitted again; unfixed, none was within 10 s. */
const FOLLOW_MS = 2500

describe.runIf(available)('a Cluster master killed between calls, its replica promoted (replicas: 1)', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startCluster(3, { replicas: 2, nodeTimeoutMs: 1000, args: ['--cluster-require-full-coverage', 'no'] })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it("every ioredis-family client has its writes admitted by the new master soon after it took over the dead master's slots", async () => {
    const libraries = STORE_CLIENTS.filter((library) => !library.name.startsWith('node-redis'))
    const tag = `team-${Date.now()}`
    const slot = keySlot(`{${tag}}`)
    const clients = libraries.map((library) => {
      const handle = library.cluster(cluster.startupNodes)
      const store = new RedisStore({
        client: handle.client,
        prefix: `rkt-replicated-${library.name.replace(/\W/g, '')}-${process.pid}`,
        replicas: 1,
        timeoutMs: 250,
      })
      const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'day', limit: 1000, window: '1d' })], onStoreError: 'deny' })
      limiter.on('warn', () => {})
      return { name: library.name, handle, store, limiter, servedAt: undefined as number | undefined, errors: new Set<string>() }
    })
    try {
      await Promise.all(clients.map((c) => c.handle.ready))
      for (const c of clients) expect((await c.limiter.consume('u', { tag })).reason).toBe('ok')
      const victim = await masterOfSlot(cluster.nodes[0].port, slot)
      const server = cluster.nodes.find((n) => n.port === victim.port)
      if (server === undefined) throw new Error('victim not found')
      // Killed while idle: no call of the store is in flight when its connection drops.
      await server.kill()
      await sleep(100)
      const other = cluster.nodes.find((n) => n.port !== victim.port) ?? cluster.nodes[0]
      const killedAt = performance.now()
      let promotedAt: number | undefined
      while (performance.now() - killedAt < 15_000) {
        if (promotedAt === undefined) {
          const owner = (await clusterNodes(other.port)).find(
            (n) =>
              n.flags.includes('master') &&
              !n.flags.includes('fail') &&
              n.id !== victim.id &&
              n.slots.some(([a, b]) => slot >= a && slot <= b),
          )
          if (owner !== undefined) promotedAt = performance.now()
        }
        const waiting = clients.filter((c) => c.servedAt === undefined)
        if (waiting.length === 0 || (promotedAt !== undefined && performance.now() - promotedAt > FOLLOW_MS + 500)) break
        await Promise.all(
          waiting.map(async (c) => {
            const d = await c.limiter.consume('u', { tag })
            if (d.reason === 'ok') c.servedAt = performance.now()
            else c.errors.add(String(((d.error as Error | undefined)?.cause as Error | undefined)?.message ?? (d.error as Error)?.message))
          }),
        )
        await sleep(20)
      }
      expect(promotedAt, 'a replica took over').toBeDefined()
      const after = clients.map((c) => ({
        name: c.name,
        ms: Math.round((c.servedAt ?? Number.POSITIVE_INFINITY) - (promotedAt ?? 0)),
        errors: [...new Set([...c.errors].map((e) => e.replace(/\d+/g, 'n')))].join('; '),
      }))
      console.info(`[replicated failover] admitted again after the takeover: ${after.map((a) => `${a.name} ${a.ms} ms`).join(', ')}`)
      expect(after.filter((a) => !(a.ms < FOLLOW_MS))).toEqual([])
    } finally {
      for (const c of clients) {
        c.store.close()
        c.handle.close()
      }
      for (const node of cluster.nodes) if (!node.running) await node.restart()
      await waitClusterHealthy(cluster.nodes, 3, 2)
    }
  }, 60_000)
})
