import { Redis } from 'ioredis'
import { describe, it } from 'vitest'

/** The shared Redis the suites use (never flushed: every suite works under its own prefix). */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** True when `url` answers PING within a second. */
export async function probeRedis(url: string = REDIS_URL): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

const reachable = await probeRedis()

/**
 * `describe` for suites that need the shared Redis at REDIS_URL. When it is unreachable the suite
 * is skipped with a loud banner locally, and fails under `CI=true` (a CI that lost its Redis must
 * not go green by skipping).
 */
export function describeRedis(name: string, fn: () => void): void {
  if (reachable) {
    describe(name, fn)
    return
  }
  banner(`Redis is not reachable at ${REDIS_URL}: "${name}" is SKIPPED. Start one (redis-server) or set REDIS_URL.`)
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs a reachable Redis (CI=true)', () => {
        throw new Error(`Redis is not reachable at ${REDIS_URL}; under CI=true the Redis suites fail instead of skipping`)
      })
    })
  } else {
    // The suite's body is not run at all: it would create clients that reconnect forever.
    describe.skip(name, () => {
      it('needs a reachable Redis', () => {})
    })
  }
}

/** Prints a banner that can't be missed in a test log. */
export function banner(message: string): void {
  const line = '!'.repeat(Math.min(100, message.length + 8))
  console.warn(`\n${line}\n!!! ${message}\n${line}\n`)
}

/** A key prefix unique to this run and label. */
export function uniquePrefix(label: string): string {
  return `rkt-${label}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
}

/** Every key under `prefix` (SCAN, never KEYS on a shared server), on every master of a Cluster. */
export async function keysUnder(client: Redis | InstanceType<typeof Redis.Cluster>, prefix: string): Promise<string[]> {
  const nodes = client instanceof Redis.Cluster ? client.nodes('master') : [client]
  const found: string[] = []
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      found.push(...batch)
    } while (cursor !== '0')
  }
  return found
}

/** Keys under `prefix` that have no TTL (PTTL -1). A key that expired meanwhile (-2) is fine. */
export async function keysWithoutTtl(
  client: Redis | InstanceType<typeof Redis.Cluster>,
  prefix: string,
): Promise<{ checked: number; without: string[] }> {
  const keys = await keysUnder(client, prefix)
  const without: string[] = []
  for (const key of keys) {
    const pttl = await client.pttl(key)
    if (pttl === -1) without.push(key)
  }
  return { checked: keys.length, without }
}

/** Deletes every key under `prefix` (the suite's own keys only). */
export async function deleteUnder(client: Redis | InstanceType<typeof Redis.Cluster>, prefix: string): Promise<void> {
  for (const key of await keysUnder(client, prefix)) await client.del(key)
}

/** Redis's clock (`TIME`) in whole ms, as the decide script reads it. */
export async function redisTimeMs(client: Redis): Promise<number> {
  const [s, us] = await client.time()
  return Number(s) * 1000 + Math.floor(Number(us) / 1000)
}
