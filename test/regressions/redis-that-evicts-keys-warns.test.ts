// A Redis with a maxmemory and an eviction policy other than noeviction drops keys when it is
// full, the limiter's among them (every one has a TTL, so volatile-* policies take them too): a
// limit whose key is evicted starts over and its client gets past it, and a flood of new keys
// (one per forged client) can push out the keys of the busiest clients. Nothing said so. The store
// now reads the policy once (INFO memory, from a script) and the limiter hears it once
// (RK_REDIS_EVICTION). Below, the bypass itself on a Redis of 1 MB: a flood of other keys, and a
// client that had used its whole limit is admitted again.

import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { type RedisServer, redisServerFor, startRedisServer } from '../helpers/redis-servers.js'

const available = redisServerFor('the Redis eviction regression test')
const tick = () => new Promise((resolve) => setImmediate(resolve))

describe.skipIf(!available)('a Redis that evicts keys', () => {
  const servers: RedisServer[] = []
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()))
  })

  /** The warnings a limiter on a fresh store hears, on a redis-server started with `args`. */
  async function warningsWith(args: string[]): Promise<{ codes: string[]; messages: string[]; client: Redis }> {
    const server = await startRedisServer({ args })
    servers.push(server)
    const client = new Redis(server.url)
    await client.ping()
    const store = new RedisStore({ client, prefix: 'rk-evict' })
    const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'fw', limit: 3, window: '1h' })] })
    const codes: string[] = []
    const messages: string[] = []
    limiter.on('warn', (w) => {
      codes.push(w.code)
      messages.push(w.message)
    })
    await limiter.consume('k')
    for (let i = 0; i < 5; i++) await tick()
    return { codes, messages, client }
  }

  it.each(['allkeys-lru', 'volatile-ttl'])('is reported once with maxmemory-policy %s', async (policy) => {
    const { codes, messages, client } = await warningsWith(['--maxmemory', '100mb', '--maxmemory-policy', policy])
    client.disconnect()
    expect(codes).toEqual(['RK_REDIS_EVICTION'])
    expect(messages[0]).toContain(policy)
  })

  it('is not reported with noeviction, nor without maxmemory', async () => {
    const a = await warningsWith(['--maxmemory', '100mb', '--maxmemory-policy', 'noeviction'])
    const b = await warningsWith(['--maxmemory', '0', '--maxmemory-policy', 'allkeys-lru'])
    a.client.disconnect()
    b.client.disconnect()
    expect([a.codes, b.codes]).toEqual([[], []])
  })

  it('what it warns of: a full Redis evicts a spent limit, and its client is admitted again', async () => {
    const { client } = await warningsWith(['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'])
    const limiter = createLimiter({
      store: new RedisStore({ client, prefix: 'rk-evict' }),
      policies: [fixedWindow({ name: 'fw', limit: 3, window: '1h' })],
    })
    limiter.on('warn', () => {})
    for (let i = 0; i < 3; i++) expect((await limiter.consume('spent')).allowed).toBe(true)
    expect((await limiter.consume('spent')).allowed).toBe(false)
    // Other keys until Redis is full and evicts.
    const filler = 'x'.repeat(1000)
    for (let i = 0; i < 5000; i++) await client.set(`filler:${i}`, filler)
    expect((await limiter.consume('spent')).allowed).toBe(true)
    client.disconnect()
  })
})
