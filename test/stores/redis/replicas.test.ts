// `replicas`: a decision is answered only once that many replicas hold its writes (WAIT, sent in
// one pipeline with the script call). Against a Redis with no replica, writes fail within the
// deadline (onStoreError applies) while peeks and denials, which write nothing, are answered.

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigurationError, createLimiter, fixedWindow, StoreError, tokenBucket } from '../../../src/index.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { uniquePrefix } from '../../helpers/redis.js'
import { type RedisServer, redisServerFor, startRedisServer } from '../../helpers/redis-servers.js'
import { ready } from './clients.js'

const available = redisServerFor('the RedisStore replicas suite')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('RedisStore replicas option', () => {
  it('rejects values that are not an integer from 0 to 64', () => {
    const client = new Redis({ lazyConnect: true })
    for (const replicas of [-1, 1.5, 65, '1', null]) {
      expect(() => new RedisStore({ client, replicas: replicas as number })).toThrow(ConfigurationError)
      try {
        new RedisStore({ client, replicas: replicas as number })
      } catch (error) {
        expect((error as ConfigurationError).code).toBe('ERR_RK_INVALID_OPTION')
        expect((error as Error).message).toContain('replicas')
      }
    }
    client.disconnect()
  })
})

describe.runIf(available)('RedisStore replicas on real servers', () => {
  let master: RedisServer
  let replica: RedisServer
  let lonely: RedisServer

  beforeAll(async () => {
    master = await startRedisServer()
    replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] })
    lonely = await startRedisServer()
    const admin = new Redis(replica.url)
    for (let i = 0; !String(await admin.info('replication')).includes('master_link_status:up'); i++) {
      if (i > 200) throw new Error('the replica never synced')
      await sleep(50)
    }
    admin.disconnect()
  })

  afterAll(async () => {
    await replica?.stop()
    await master?.stop()
    await lonely?.stop()
  })

  it('answers a decision once a replica holds it', async () => {
    const client = new Redis(master.url)
    await ready(client)
    const prefix = uniquePrefix('replicas')
    const limiter = createLimiter({
      store: new RedisStore({ client, prefix, replicas: 1 }),
      policies: [fixedWindow({ name: 'day', limit: 3, window: '1d' })],
      onStoreError: 'deny',
    })
    const decisions = await Promise.all(Array.from({ length: 4 }, () => limiter.consume('k')))
    expect(decisions.map((d) => d.reason)).toEqual(['ok', 'ok', 'ok', 'limited'])
    // The replica has the charges.
    const onReplica = new Redis(replica.url)
    const keys = await onReplica.keys(`${prefix}:*`)
    expect(keys.length).toBe(1)
    onReplica.disconnect()
    client.disconnect()
  })

  it('fails writes that no replica acknowledges within the deadline, answers peeks and denials', async () => {
    const client = new Redis(lonely.url)
    await ready(client)
    const store = new RedisStore({ client, prefix: uniquePrefix('noreplica'), replicas: 1, timeoutMs: 500 })
    const policies = [tokenBucket({ name: 'b', limit: 2, window: '1m' })]
    // A peek writes nothing, so it is sent without WAIT (and loads the script).
    const peek = await store.peek({ keys: ['k'], policies, cost: 0, now: Date.now(), tag: 'k' })
    expect(peek.allowed).toBe(true)
    const started = performance.now()
    const error = await Promise.resolve(store.consume({ keys: ['k'], policies, cost: 1, now: Date.now(), tag: 'k' })).catch((e) => e)
    // Redis times WAIT out on its own clock, checked about every 100 ms (hz 10): the shortfall
    // comes back before the deadline when timeoutMs leaves it that much room.
    expect(performance.now() - started).toBeLessThan(500 + 40)
    expect(error).toBeInstanceOf(StoreError)
    expect((error as StoreError).code).toBe('ERR_RK_STORE')
    expect((error as Error).message).toContain('replica')
    const denied = await store.consume({ keys: ['k'], policies, cost: 5, now: Date.now(), tag: 'k' })
    expect(denied.allowed).toBe(false)
    store.close()
    client.disconnect()
  })

  it('costs one WAIT per script call (measured, not asserted)', async () => {
    const client = new Redis(master.url)
    await ready(client)
    const policies = [tokenBucket({ name: 'b', limit: 1_000_000_000, window: '1h' })]
    const figures: string[] = []
    for (const replicas of [0, 1]) {
      const limiter = createLimiter({ store: new RedisStore({ client, prefix: uniquePrefix(`cost${replicas}`), replicas }), policies })
      for (let i = 0; i < 200; i++) await limiter.consume(`w${i % 10}`)
      let t = performance.now()
      for (let i = 0; i < 1000; i++) await limiter.consume(`s${i % 10}`)
      const sequential = (performance.now() - t) / 1000
      t = performance.now()
      let n = 0
      await Promise.all(
        Array.from({ length: 64 }, async (_, w) => {
          for (let i = 0; i < 100; i++, n++) expect((await limiter.consume(`p${w}-${i % 5}`)).reason).toBe('ok')
        }),
      )
      const perSecond = n / ((performance.now() - t) / 1000)
      figures.push(
        `replicas ${replicas}: ${(sequential * 1000).toFixed(0)} µs per sequential decision, ${Math.round(perSecond)} decisions/s with 64 in flight`,
      )
    }
    console.info(`[replicas] ${figures.join('; ')}`)
    client.disconnect()
  })
})
