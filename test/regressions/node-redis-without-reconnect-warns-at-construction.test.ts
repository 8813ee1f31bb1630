// A node-redis client made with `reconnectStrategy: false` closes for good on its first
// connection failure: the store could never recover, and every later call would fail. The
// limiter that attaches to such a store hears it once (RK_REDIS_CLIENT), before any outage; a
// client with a reconnect strategy (the default) is not reported.

import { createClient } from 'redis'
import { createClient as createClient4 } from 'redis4'
import { createClient as createClient5 } from 'redis5'
import { describe, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { type NodeRedisClient, RedisStore } from '../../src/stores/redis/index.js'

/** node-redis 4, 5 and 6's createClient, taking the options these tests pass. */
const MAKERS = [createClient4, createClient5, createClient] as unknown as ((options?: {
  socket?: { reconnectStrategy?: false }
}) => NodeRedisClient)[]

const tick = () => new Promise((resolve) => setImmediate(resolve))

/** The warning codes a limiter on a store of `client` hears. */
async function warningsOn(client: NodeRedisClient): Promise<string[]> {
  const store = new RedisStore({ client })
  const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 1, window: '1m' })] })
  const codes: string[] = []
  limiter.on('warn', (w) => codes.push(w.code))
  await tick()
  await tick()
  store.close()
  return codes
}

describe('a node-redis client that never reconnects', () => {
  it('is reported once, as the limiter attaches (node-redis 4, 5 and 6)', async () => {
    for (const make of MAKERS) {
      expect(await warningsOn(make({ socket: { reconnectStrategy: false } }))).toEqual(['RK_REDIS_CLIENT'])
    }
  })

  it('is not reported with the default strategy', async () => {
    for (const make of MAKERS) {
      expect(await warningsOn(make())).toEqual([])
    }
  })
})
