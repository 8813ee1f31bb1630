// Shared by the seed examples when run directly: `REDIS_URL=redis://… node --import tsx
// examples/seeds/<seed>.ts` keeps the limits in Redis (keys under the example's prefix), so
// several copies of the server share them. Without REDIS_URL the examples use a MemoryStore.

import { Redis } from 'ioredis'
import { RedisStore } from 'ratekeeper/redis'

/**
 * A `RedisStore` on `REDIS_URL` (and its client), or nothing when the variable is not set. A
 * Redis that doesn't answer within 5 s ends the process with a message naming the URL, rather
 * than a server that starts without its limits or retries forever.
 */
export async function redisFromEnvironment(prefix: string): Promise<{ store?: RedisStore; client?: Redis }> {
  const url = process.env.REDIS_URL
  if (url === undefined || url === '') return {}
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 1 })
  client.on('error', () => {}) // reported below, and by the store's events once serving
  try {
    await client.connect()
    await client.ping()
  } catch (error) {
    console.error(`Redis at ${url} did not answer (${(error as Error).message}); unset REDIS_URL to use the memory store.`)
    process.exit(1)
  }
  return { store: new RedisStore({ client, prefix }), client }
}
