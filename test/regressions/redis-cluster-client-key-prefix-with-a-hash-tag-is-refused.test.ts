// An ioredis or iovalkey Cluster client with a `keyPrefix` holding `{` or `}` (the docs forbid
// it) was taken as it was. ioredis writes that prefix in front of every key, so Redis hashes the
// prefix's braces, not the store's own tag: every subject's keys in one slot of Redis's choosing
// (one master takes the whole load), or none (CROSSSLOT), while the store tracks each node's
// health by the slot of its own tag, which is another master's. Now refused at construction,
// naming `client`.
import { Cluster, Redis } from 'ioredis'
import { Valkey } from 'iovalkey'
import { describe, expect, it } from 'vitest'
import { ConfigurationError } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'

const seeds = [{ host: '127.0.0.1', port: 1 }]

describe('a Cluster client whose keyPrefix holds a hash tag', () => {
  it.each(['app{1}:', 'a}b', '{'])('is refused (keyPrefix %j)', (keyPrefix) => {
    const client = new Cluster(seeds, { lazyConnect: true, keyPrefix })
    let error: unknown
    try {
      new RedisStore({ client })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as ConfigurationError).option).toBe('client')
    expect((error as Error).message).toMatch(/keyPrefix/)
    client.disconnect()
  })

  it('an iovalkey Cluster too', () => {
    const client = new Valkey.Cluster(seeds, { lazyConnect: true, keyPrefix: 'x{y}' })
    expect(() => new RedisStore({ client })).toThrow(/keyPrefix/)
    client.disconnect()
  })

  it('a keyPrefix without braces, and a single node with braces in its prefix, are taken', () => {
    const cluster = new Cluster(seeds, { lazyConnect: true, keyPrefix: 'app:' })
    expect(() => new RedisStore({ client: cluster })).not.toThrow()
    cluster.disconnect()
    // One Redis runs any keys in one script: the braces only shape the key's name there.
    const single = new Redis({ lazyConnect: true, keyPrefix: 'app{1}:' })
    expect(() => new RedisStore({ client: single })).not.toThrow()
    single.disconnect()
  })
})
