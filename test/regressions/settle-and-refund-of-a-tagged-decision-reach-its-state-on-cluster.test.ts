// On Redis Cluster the placement tag is part of a state's identity. A decision made with an
// explicit `tag` (and the limiter's own policies, no layers) was settled and refunded without
// it: settle's extra cost was charged to the state under the subject's own tag, which nobody
// reads, so the client kept spending as if it had cost its estimate (a count silently lost: 6 of
// a limit of 6 admitted after a reservation of 1 settled at 5); and refund(key, { decision })
// credited that other state too. The limiter now keeps a tagged decision's request, as it keeps
// one made with per-call policies or layers, and settles and refunds it there.

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
import { ready } from '../stores/redis/clients.js'

const T0 = 1_700_000_000_000

describe.runIf(redisServerFor('the tagged settle on Cluster regression test'))('a decision made with a tag, on Redis Cluster', () => {
  let cluster: RedisCluster
  let client: InstanceType<typeof Redis.Cluster>
  beforeAll(async () => {
    cluster = await startCluster(3)
    client = new Redis.Cluster([...cluster.startupNodes])
    await ready(client)
  }, 60_000)
  afterAll(async () => {
    client?.disconnect()
    await cluster?.stop()
  })

  const limiterOn = (prefix: string) => {
    const store = new RedisStore({ client, prefix, clock: 'caller', timeoutMs: 5_000 })
    return createLimiter({
      store,
      now: () => T0,
      policies: [fixedWindow({ name: 'quota', limit: 10, window: '1h' })],
      onStoreError: 'deny',
    })
  }

  it('is settled in the state it was charged in', async () => {
    const limiter = limiterOn('rktagsettle')
    const d = await limiter.consume('user:1', { tag: 'team:acme' })
    expect(d.remaining).toBe(9)
    await limiter.settle(d, 5)
    expect((await limiter.peek('user:1', { tag: 'team:acme' })).remaining).toBe(5)
    let admitted = 0
    for (let i = 0; i < 10; i++) if ((await limiter.consume('user:1', { tag: 'team:acme' })).allowed) admitted++
    expect(admitted).toBe(5)
  })

  it('is refunded into the state it was charged in', async () => {
    const limiter = limiterOn('rktagrefund')
    const d = await limiter.consume('user:1', { tag: 'team:acme', cost: 4 })
    expect(d.remaining).toBe(6)
    await limiter.refund('user:1', { decision: d })
    expect((await limiter.peek('user:1', { tag: 'team:acme' })).remaining).toBe(10)
    expect((await limiter.peek('user:1')).remaining).toBe(10)
  })
})
