// Redis Cluster: a master that dies leaves the client 'ready' (ioredis reports each failed
// connection to it as a 'node error', not an 'error'). The outage must still be reported once,
// as on a single Redis, however many calls fail, and its end once when the node is back.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { keySlot } from '../../src/stores/redis/slots.js'
import { masterOfSlot } from '../helpers/redis-cluster-ops.js'
import { type RedisCluster, redisServerFor, startCluster, waitClusterHealthy } from '../helpers/redis-servers.js'
import { IOREDIS, ready } from '../stores/redis/clients.js'

const available = redisServerFor('the Cluster warning regression test')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.runIf(available)('Cluster node errors', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startCluster(3)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it.each(IOREDIS)('$name: are reported once per outage, and the recovery once', async (version) => {
    const client = version.cluster(cluster.startupNodes)
    await ready(client)
    const store = new RedisStore({ client, prefix: `rkt-nodeerr-${process.pid}`, timeoutMs: 100 })
    const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 1_000_000, window: '1h' })] })
    const warnings: string[] = []
    const errors: unknown[] = []
    // The store's own signals; the limiter's outage lines (RK_STORE_*) are counted apart.
    const limiterLines: string[] = []
    limiter.on('warn', (w) => (w.code.startsWith('RK_REDIS_') ? warnings : limiterLines).push(w.code))
    limiter.on('store-error', (e) => errors.push(e.error))
    const key = `victim-${version.name}-${Date.now()}`
    expect((await limiter.consume(key)).reason).toBe('ok')

    const master = await masterOfSlot(cluster.nodes[0].port, keySlot(`{${key}}`))
    const server = cluster.nodes.find((n) => n.port === master.port)
    if (server === undefined) throw new Error('master not found')
    await server.kill()
    for (let i = 0; i < 30; i++) {
      await Promise.all([limiter.consume(key), limiter.consume(`${key}-other-${i}`)])
      await sleep(10)
    }
    expect(errors.length).toBeGreaterThan(10)
    expect(warnings).toEqual(['RK_REDIS_CONNECTION'])
    // Requests on the dead master's slots fail while the others succeed: still one outage.
    expect(limiterLines).toEqual(['RK_STORE_OUTAGE'])

    // The node comes back (same slots, empty: no persistence); decisions resume and the end of the
    // outage is reported once.
    await server.restart()
    await waitClusterHealthy(cluster.nodes, 3, 0)
    const started = performance.now()
    while (!warnings.includes('RK_REDIS_RECOVERED')) {
      await limiter.consume(key)
      if (performance.now() - started > 10_000) throw new Error('no recovery reported')
      await sleep(20)
    }
    expect((await limiter.consume(key)).reason).toBe('ok')
    expect(warnings).toEqual(['RK_REDIS_CONNECTION', 'RK_REDIS_RECOVERED'])
    store.close()
    client.disconnect()
  })
})
