// One suite on RedisStore, run on the shared Redis and on a Redis Cluster (3 masters) started for it:
// the runner the store suites share (penalty boxes, shadow policies, loginGuard).
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe } from 'vitest'
import { RedisStore, type RedisStoreOptions } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from './redis.js'
import { type RedisCluster, redisServerFor, startCluster } from './redis-servers.js'

/** Where a suite runs: the shared Redis, or a Redis Cluster of its own. */
export type RedisDeployment = 'Redis' | 'Redis Cluster'

/** Options of the stores a suite makes; the runner gives `client` and `prefix`. */
export type SuiteStoreOptions = Omit<RedisStoreOptions, 'client' | 'prefix'>

/** Makes a RedisStore on the block's Redis: the suite's options, then `options` on top. */
export type NewRedisStore = (options?: SuiteStoreOptions) => RedisStore

/**
 * Runs `suite` in `<name> on RedisStore` (the shared Redis at REDIS_URL, see describeRedis) and in
 * `<name> on RedisStore, Redis Cluster (3 masters)` (a cluster started for the block; skipped
 * without redis-server). Each block's stores share one client and a key prefix of their own; after
 * the block they are closed and, on the shared Redis, their keys deleted.
 */
export function describeRedisStores(
  name: string,
  label: string,
  options: SuiteStoreOptions,
  suite: (newStore: NewRedisStore, on: RedisDeployment) => void,
): void {
  describeRedis(`${name} on RedisStore`, () => {
    let client: Redis | undefined
    beforeAll(() => {
      client = new Redis(REDIS_URL)
    })
    const stores = storesOf(() => client, uniquePrefix(label), options)
    afterAll(async () => {
      stores.close()
      if (client !== undefined) {
        await deleteUnder(client, stores.prefix)
        client.disconnect()
      }
    })
    suite(stores.make, 'Redis')
  })

  describe.runIf(redisServerFor(`${name} on a Redis Cluster`))(`${name} on RedisStore, Redis Cluster (3 masters)`, () => {
    let cluster: RedisCluster | undefined
    let client: InstanceType<typeof Redis.Cluster> | undefined
    beforeAll(async () => {
      cluster = await startCluster(3)
      client = new Redis.Cluster([...cluster.startupNodes])
      await new Promise<void>((resolve) => client?.once('ready', resolve))
    }, 60_000)
    const stores = storesOf(() => client, uniquePrefix(label), options)
    afterAll(async () => {
      stores.close()
      client?.disconnect()
      await cluster?.stop()
    })
    suite(stores.make, 'Redis Cluster')
  })
}

/** The stores of one block: made on its client (once `beforeAll` has made it) and closed together. */
function storesOf(client: () => RedisStoreOptions['client'] | undefined, prefix: string, options: SuiteStoreOptions) {
  const made: RedisStore[] = []
  const make: NewRedisStore = (more) => {
    const c = client()
    if (c === undefined) throw new Error('no Redis client: the block did not start')
    const s = new RedisStore({ ...options, ...more, client: c, prefix })
    made.push(s)
    return s
  }
  const close = () => {
    for (const s of made) s.close()
  }
  return { prefix, make, close }
}
