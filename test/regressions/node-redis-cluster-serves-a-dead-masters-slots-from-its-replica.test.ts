// Redis Cluster, a master killed and its replica promoted: node-redis 5 and 6 reread their slot
// table on a MOVED reply, which a dead master never sends (6.4 also 5 s after a node starts
// reconnecting). With node-redis's defaults, every request on the dead master's slots kept going
// to its address and failed until that address answered again, which after a crash may be never.
// The store now has the slot table reread (through a live master) while a master's connection
// fails; the new master serves the slots within about a second of the takeover.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { keySlot } from '../../src/stores/redis/slots.js'
import { masterOfSlot } from '../helpers/redis-cluster-ops.js'
import { clusterNodes, type RedisCluster, redisServerFor, startCluster, waitClusterHealthy } from '../helpers/redis-servers.js'
import { STORE_CLIENTS } from '../stores/redis/clients.js'

const available = redisServerFor('the node-redis Cluster failover regression test')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.runIf(available)('a Cluster master killed, its replica promoted (node-redis defaults)', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startCluster(3, { replicas: 1, nodeTimeoutMs: 1000, args: ['--cluster-require-full-coverage', 'no'] })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it.each(STORE_CLIENTS.filter((c) => c.name === 'node-redis 5' || c.name === 'node-redis 6'))(
    "$name: the dead master's slots are served by the new master while the old one stays dead",
    async (library) => {
      const handle = library.cluster(cluster.startupNodes)
      const store = new RedisStore({ client: handle.client, prefix: `rkt-promoted-${library.name.replace(/\W/g, '')}-${process.pid}` })
      try {
        await handle.ready
        const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'day', limit: 1000, window: '1d' })], onStoreError: 'deny' })
        const tag = `team-${Date.now()}`
        expect((await limiter.consume('u', { tag })).reason).toBe('ok')
        const victim = await masterOfSlot(cluster.nodes[0].port, keySlot(`{${tag}}`))
        const server = cluster.nodes.find((n) => n.port === victim.port)
        if (server === undefined) throw new Error('victim not found')
        await server.kill()
        // The replica takes over after the node timeout; then the client must follow within 3 s.
        const other = cluster.nodes.find((n) => n.port !== victim.port) ?? cluster.nodes[0]
        const killedAt = performance.now()
        let servedAt: number | undefined
        let promotedAt: number | undefined
        while (performance.now() - killedAt < 15_000 && servedAt === undefined) {
          if (promotedAt === undefined) {
            const owner = (await clusterNodes(other.port)).find(
              (n) =>
                n.flags.includes('master') &&
                !n.flags.includes('fail') &&
                n.slots.length > 0 &&
                n.id !== victim.id &&
                n.slots.some(([a, b]) => keySlot(`{${tag}}`) >= a && keySlot(`{${tag}}`) <= b),
            )
            if (owner !== undefined) promotedAt = performance.now()
          }
          if ((await limiter.consume('u', { tag })).reason === 'ok') servedAt = performance.now()
          else await sleep(50)
        }
        expect(promotedAt, 'a replica took over').toBeDefined()
        expect(servedAt, 'the slots were served again while the old master was dead').toBeDefined()
        expect((servedAt ?? 0) - (promotedAt ?? 0)).toBeLessThan(3000)
      } finally {
        store.close()
        handle.close()
        for (const node of cluster.nodes) if (!node.running) await node.restart()
        await waitClusterHealthy(cluster.nodes, 3, 1)
      }
    },
    60_000,
  )
})
