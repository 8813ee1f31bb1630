// An ioredis or iovalkey Sentinel client made without `failoverDetector: true` stays on a master
// that froze and came back after its replica took over, until the sentinels demote it: seconds
// in which every charge admitted lands on the old master, whose resync then drops it (the
// Sentinel failover suite lost 488 of them so). The limiter that attaches to such a store hears
// it once (RK_REDIS_CLIENT); a client with failoverDetector, or no sentinels, is not reported.

import { Redis as Redis5 } from 'ioredis'
import { Redis as Redis6 } from 'ioredis6'
import { Valkey } from 'iovalkey'
import { describe, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { type RedisClient, RedisStore } from '../../src/stores/redis/index.js'

const CLIENTS = [Redis5, Redis6, Valkey] as unknown as (new (options: Record<string, unknown>) => RedisClient & { disconnect(): void })[]

const tick = () => new Promise((resolve) => setImmediate(resolve))

/** The RK_REDIS_CLIENT warnings a limiter on a store of a client made with `options` hears. */
async function warningsWith(Client: (typeof CLIENTS)[number], options: Record<string, unknown>): Promise<string[]> {
  // lazyConnect: nothing is asked of the (absent) sentinels until a command is sent; the store
  // connects a lazy client, so the client is ended right after.
  const client = new Client({ lazyConnect: true, ...options })
  client.on('error', () => {})
  const store = new RedisStore({ client })
  const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 1, window: '1m' })] })
  const codes: string[] = []
  limiter.on('warn', (w) => codes.push(w.code))
  await tick()
  await tick()
  store.close()
  client.disconnect()
  // (The store connects a lazy client, whose sentinels are absent: that outage is another warning.)
  return codes.filter((code) => code === 'RK_REDIS_CLIENT')
}

const sentinels = [{ host: '127.0.0.1', port: 1 }]

describe('an ioredis or iovalkey Sentinel client without failoverDetector', () => {
  it('is reported once, as the limiter attaches (ioredis 5, 6 and iovalkey)', async () => {
    for (const Client of CLIENTS) expect(await warningsWith(Client, { sentinels, name: 'm' })).toEqual(['RK_REDIS_CLIENT'])
  })

  it('is not reported with failoverDetector: true, nor without sentinels', async () => {
    for (const Client of CLIENTS) {
      expect(await warningsWith(Client, { sentinels, name: 'm', failoverDetector: true })).toEqual([])
      expect(await warningsWith(Client, { port: 1 })).toEqual([])
    }
  })
})
