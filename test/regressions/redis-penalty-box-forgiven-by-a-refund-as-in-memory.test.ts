// A refund (a lease released) at a time the penalty box's record is forgiven drops the box's state
// in the memory store; the Lua twin kept it, so a caller clock that then ran back found the old
// block in Redis only. Redis must keep the box's state exactly as the TypeScript step does.
import { Redis } from 'ioredis'
import { afterAll, it } from 'vitest'
import { MemoryStore } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { ReferenceStore } from '../stores/redis/reference.js'
import { replayTrace, type Trace } from '../stores/redis/traces.js'

describeRedis('a penalty box forgiven at a refund', () => {
  const prefix = uniquePrefix('pbrefund')
  const client = new Redis(REDIS_URL)
  const store = new RedisStore({ client, prefix, clock: 'caller', extraTtlMs: 86_400_000, timeoutMs: 5000 })
  afterAll(async () => {
    store.close()
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('answers as the reference and the MemoryStore after the refund, the clock run back', async () => {
    const trace: Trace = {
      subjects: 1,
      start: 1_709_164_795_000,
      leases: [0],
      specs: [
        { kind: 'pb', after: 1, within: 7, blocks: [1], forgiveAfter: 1 },
        { kind: 'sw', limit: 0, window: 1, precision: 1 },
      ],
      checks: [
        { policy: 0, subject: 0 },
        { policy: 1, subject: 0 },
      ],
      ops: [
        { kind: 'consume', dt: 0, cost: 1, subset: [], chargedAgo: 0, lease: 0 },
        { kind: 'release', dt: 2, cost: 0, subset: [], chargedAgo: 0, lease: 0 },
        { kind: 'consume', dt: -3, cost: 1, subset: [], chargedAgo: 0, lease: 0 },
        { kind: 'consume', dt: 0, cost: 0, subset: [], chargedAgo: 0, lease: 0 },
      ],
    }
    await replayTrace(trace, { reference: new ReferenceStore(), memory: new MemoryStore({ maxKeys: 100 }), redis: store }, 'pbr')
  })
})
