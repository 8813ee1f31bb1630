// node-redis 4's Cluster keeps its slot table private and rereads it only on a MOVED reply, which
// a dead master never sends: after a master dies, its slots keep failing until the dead address
// answers again (the store has node-redis 5 and 6 reread theirs). A limiter on a store of a
// node-redis 4 Cluster hears it once as it attaches (RK_REDIS_CLIENT); 5 and 6 are not reported.

import { createCluster } from 'redis'
import { createCluster as createCluster4 } from 'redis4'
import { createCluster as createCluster5 } from 'redis5'
import { describe, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { type NodeRedisClient, RedisStore } from '../../src/stores/redis/index.js'

const tick = () => new Promise((resolve) => setImmediate(resolve))

/** The warnings a limiter on a store of `client` hears (the cluster is never connected). */
async function warningsOn(client: unknown): Promise<{ code: string; message: string }[]> {
  const store = new RedisStore({ client: client as NodeRedisClient })
  const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 1, window: '1m' })] })
  const heard: { code: string; message: string }[] = []
  limiter.on('warn', (w) => heard.push({ code: w.code, message: w.message }))
  await tick()
  await tick()
  store.close()
  return heard
}

const rootNodes = [{ url: 'redis://127.0.0.1:1' }]

describe('a node-redis 4 Cluster, which cannot follow a failover to a replica', () => {
  it('is reported once, as the limiter attaches', async () => {
    const heard = await warningsOn(createCluster4({ rootNodes }))
    expect(heard.map((w) => w.code)).toEqual(['RK_REDIS_CLIENT'])
    expect(heard[0].message).toMatch(/node-redis 4.*MOVED.*node-redis 5 or 6/)
  })

  it('node-redis 5 and 6 are not reported', async () => {
    expect(await warningsOn(createCluster5({ rootNodes }))).toEqual([])
    expect(await warningsOn(createCluster({ rootNodes }))).toEqual([])
  })
})
