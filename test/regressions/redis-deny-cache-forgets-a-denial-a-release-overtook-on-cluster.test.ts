// Redis Cluster with the deny cache: the releases of a concurrency slot go in the batches of its
// key alone, and a consume of the limiter's policies (more keys) in batches of its own, so a
// consume made after `limiter.release()` can reach Redis first (the release waits behind its
// key's batch in flight) and be denied. That denial is right when made; but the cache must not
// keep it once the release has landed: the next consume must see the slot free.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { concurrency, createLimiter, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
import { IOREDIS, ready } from '../stores/redis/clients.js'

const available = redisServerFor('the Cluster deny-cache release regression test')

describe.runIf(available)('a denial made before a release landed is not kept by the deny cache', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startCluster(3)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it.each(IOREDIS)('$name: the consume after the release has landed is admitted', async (version) => {
    const client = version.cluster(cluster.startupNodes)
    await ready(client)
    const store = new RedisStore({ client, prefix: `rkt-deny-release-${process.pid}`, denyCache: true, timeoutMs: 1000 })
    const slots = concurrency({ name: 'in-flight', limit: 1, leaseMs: '1m', retryAfter: '10s' })
    const limiter = createLimiter({ store, policies: [slots, tokenBucket({ name: 'rate', limit: 100, window: '1m' })] })
    // Another limiter on the same slots alone: its calls go in the batches of that key alone.
    const other = createLimiter({ store, policies: [slots] })
    const key = `k-${version.name}-${Date.now()}`
    const held = await limiter.consume(key)
    expect(held.allowed).toBe(true)

    const look = other.peek(key)
    // The peek has gone out (its batch is sent at the end of the tick) and is not answered yet.
    await new Promise((resolve) => process.nextTick(resolve))
    const released = limiter.release(held)
    // Goes ahead of the release, which waits for the peek's batch: denied, the slot still held.
    const overtaking = limiter.consume(key)
    await Promise.all([look, released, overtaking])

    // The release has landed: the slot is free, whatever the cache saw before.
    const next = await limiter.consume(key)
    expect({ allowed: next.allowed, reason: next.reason }).toEqual({ allowed: true, reason: 'ok' })
    await limiter.close()
    await other.close()
    client.disconnect()
  })
})
