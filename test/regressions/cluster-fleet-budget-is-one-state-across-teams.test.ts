// On a Redis Cluster every key of a request lives under the request's placement tag. A provider
// plan with a team ceiling placed its requests by the team's key; with load shedding, that would
// put the fleet budget under each team's tag — one "fleet" per team, so the fleet admitted
// (teams × capacity). The plan places a shedding request by the budget's key instead: one state
// for the whole fleet, whatever the team (and the team's ceiling in the budget's slot).

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { providerPlan } from '../../src/provider/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
import { decide, request } from '../provider/helpers.js'
import { ready } from '../stores/redis/clients.js'

const T0 = 1_700_000_000_000

describe.runIf(redisServerFor('the fleet budget on Cluster regression test'))('a fleet budget on Redis Cluster, across teams', () => {
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

  it('is one state: 4 admitted in all, not 4 per team', async () => {
    const store = new RedisStore({ client, prefix: 'rkshed', clock: 'caller', timeoutMs: 5_000, extraTtlMs: 600_000 })
    const limiter = createLimiter({ store, now: () => T0, policies: [tokenBucket({ limit: 1, window: '1s' })], onStoreError: 'deny' })
    const plan = providerPlan({
      key: (_raw, req) => req.headers.get('x-key'),
      limits: {
        policies: [tokenBucket({ name: 'per-key', limit: 100, window: '1m' })],
        ceiling: [tokenBucket({ name: 'team', limit: 100, window: '1m' })],
      },
      team: (key) => (key.startsWith('acme') ? 'acme' : 'globex'),
      shedding: {
        budget: fixedWindow({ name: 'fleet', limit: 4, window: '1m' }),
        priorities: { critical: 1 },
        classes: { read: 'critical', write: 'critical', delete: 'critical' },
      },
    })
    let admitted = 0
    for (let i = 0; i < 12; i++) {
      const key = `${['acme', 'globex', 'initech'][i % 3]}_${i}`
      if ((await decide(limiter, plan, request('GET', '/x', { headers: { 'x-key': key } }))).decision.allowed) admitted++
    }
    expect(admitted).toBe(4)
  })
})
