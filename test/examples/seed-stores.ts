/**
 * The stores every seed example is tested on: the default memory store and a real Redis (never
 * a mock), each Redis run under a key prefix of its own, never flushed. The same test body runs
 * on both and must see the same results.
 */
import { Redis } from 'ioredis'
import type { Store } from 'ratekeeper'
import { RedisStore } from 'ratekeeper/redis'
import { afterAll, beforeAll, describe } from 'vitest'
import { describeRedis, keysUnder, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

export interface SeedStore {
  readonly name: 'memory' | 'redis'
  /** A fresh store for one app (`undefined`: the example's default memory store). */
  store(): Store | undefined
  /** The Redis client and a fresh prefix, for examples that keep more than limiter state there. */
  redis(): { client: Redis; prefix: string } | undefined
}

const memory: SeedStore = { name: 'memory', store: () => undefined, redis: () => undefined }

/**
 * Runs `fn` once per store: `describe('<name> [memory]')` and, when Redis answers at REDIS_URL,
 * `describe('<name> [redis]')` (skipped with a banner locally, failing under CI=true, otherwise).
 */
export function describeEachStore(name: string, fn: (kind: SeedStore) => void): void {
  describe(`${name} [memory]`, () => fn(memory))
  describeRedis(`${name} [redis]`, () => {
    const label = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 24)
    const prefixes: string[] = []
    let client: Redis | undefined
    const connect = (): Redis => {
      if (client === undefined) throw new Error('the Redis client is made in beforeAll')
      return client
    }
    // Connected before any app is built: the first requests of a test must meet a ready Redis.
    beforeAll(async () => {
      client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
      await client.connect()
    })
    afterAll(async () => {
      if (client === undefined) return
      for (const prefix of prefixes) {
        const keys = await keysUnder(client, prefix)
        if (keys.length > 0) await client.del(...keys)
      }
      client.disconnect()
    })
    fn({
      name: 'redis',
      store() {
        const prefix = uniquePrefix(label)
        prefixes.push(prefix)
        // The tests drive a simulated clock: decide on it ('caller'), and keep keys alive in real
        // time while the simulated one runs ahead.
        return new RedisStore({ client: connect(), prefix, clock: 'caller', timeoutMs: 2_000, extraTtlMs: 600_000 })
      },
      redis() {
        const prefix = uniquePrefix(`${label}-x`)
        prefixes.push(prefix)
        return { client: connect(), prefix }
      },
    })
  })
}
