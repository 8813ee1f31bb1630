// Releases through `RedisStore.queueRelease` (the limiter's path for `limiter.release()` of a
// lease the store took for the limiter's own policies): the releases made in one tick share one
// promise and go in the batch of the next script call; each one frees its slot, a failed one is
// reported as a `store-error` (never a rejection) without failing the others, and every one
// settles by the store's deadline even while Redis is frozen.

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { concurrency, createLimiter, type Decision, type Limiter, type StoreErrorEvent, tokenBucket } from '../../../src/index.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, keysUnder, REDIS_URL, uniquePrefix } from '../../helpers/redis.js'
import { type RedisServer, redisServerFor, startRedisServer } from '../../helpers/redis-servers.js'

const LIMIT = 3

function leases(limiter: Limiter, key: string, n: number): Promise<Decision[]> {
  return Promise.all(Array.from({ length: n }, () => limiter.consume(key)))
}

describeRedis('RedisStore queued releases', () => {
  const prefix = uniquePrefix('queued-release')
  const client = new Redis(REDIS_URL)
  const store = new RedisStore({ client, prefix })
  const errors: StoreErrorEvent[] = []
  const limiter = createLimiter({ store, policies: [concurrency({ name: 'cc', limit: LIMIT, leaseMs: '1m' })] })
  limiter.on('store-error', (event) => errors.push(event))
  limiter.on('warn', () => {})

  afterAll(async () => {
    await limiter.close()
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('goes through queueRelease: the releases of one tick share one promise, and each frees its slot', async () => {
    const queued: unknown[] = []
    const own = store.queueRelease.bind(store)
    store.queueRelease = (...args) => {
      queued.push(args[0])
      return own(...args)
    }
    try {
      const held = await leases(limiter, 'shared', LIMIT)
      expect(held.map((d) => d.allowed)).toEqual([true, true, true])
      expect((await limiter.consume('shared')).allowed).toBe(false)
      const released = held.map((d) => limiter.release(d))
      expect(new Set(released).size).toBe(1)
      await Promise.all(released)
      expect(queued).toHaveLength(LIMIT)
      expect((await limiter.peek('shared')).remaining).toBe(LIMIT)
      // A second release of the same decisions does nothing, and is never sent.
      await Promise.all(held.map((d) => limiter.release(d)))
      expect(queued).toHaveLength(LIMIT)
    } finally {
      store.queueRelease = own
    }
    expect(errors).toEqual([])
  })

  it('a release that fails in the script is a store-error of its own key: the others in its batch are released, none rejects', async () => {
    const [good] = await leases(limiter, 'good', 1)
    const [bad] = await leases(limiter, 'bad', 1)
    const [badKey] = (await keysUnder(client, prefix)).filter((key) => key.includes('bad'))
    // The lease set replaced by a string: the script's ZREM fails with WRONGTYPE for that request only.
    await client.set(badKey, 'not a set', 'PX', 60_000)
    const before = errors.length
    await Promise.all([limiter.release(good), limiter.release(bad)])
    expect(errors.slice(before).map((e) => [e.key, (e.error as { code?: string }).code])).toEqual([['bad', 'ERR_RK_STORE']])
    expect((await limiter.peek('good')).remaining).toBe(LIMIT)
    await client.del(badKey)
  })

  for (const when of ['while it closes (the call fails later)', 'once it has ended (the store refuses it at once)']) {
    it(`a release on a client disconnected ${when} is a store-error, and resolves`, async () => {
      const own = new Redis(REDIS_URL)
      const ownStore = new RedisStore({ client: own, prefix })
      const seen: StoreErrorEvent[] = []
      const l = createLimiter({ store: ownStore, policies: [concurrency({ name: 'cc', limit: LIMIT, leaseMs: '1m' })] })
      l.on('store-error', (event) => seen.push(event))
      l.on('warn', () => {})
      const [d] = await leases(l, 'refused', 1)
      expect(d.allowed).toBe(true)
      const ended = new Promise((resolve) => own.once('end', resolve))
      own.disconnect()
      if (when.startsWith('once')) {
        await ended
        expect(own.status).toBe('end')
      }
      await expect(l.release(d)).resolves.toBeUndefined()
      expect(seen.map((e) => [e.key, (e.error as { code?: string }).code])).toEqual([['refused', 'ERR_RK_STORE']])
      await l.close()
    })
  }

  it('called directly: a failed that is no function, or policies that are not concurrency ones, are refused by name', () => {
    const cc = limiter.policies
    expect(() => store.queueRelease('k', cc, 1, Date.now(), Date.now(), 'no' as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'failed' }),
    )
    const rate = tokenBucket({ name: 'tb', limit: 5, window: '1m' })
    expect(() => store.queueRelease('k', [rate], 1, Date.now(), Date.now(), () => {})).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'policies' }),
    )
  })

  it('called directly: a failed callback that throws is a RK_RELEASE_FAILED warning, never an uncaught error', async () => {
    const [d] = await leases(limiter, 'throwing', 1)
    const [key] = (await keysUnder(client, prefix)).filter((k) => k.includes('throwing'))
    await client.set(key, 'not a set', 'PX', 60_000)
    const warnings: string[] = []
    const off = limiter.on('warn', (info) => warnings.push(info.code))
    try {
      await store.queueRelease('throwing', limiter.policies, 12345, d.at, Date.now(), () => {
        throw new Error('the caller’s own bug')
      })
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      off()
      await client.del(key)
    }
    expect(warnings).toEqual(['RK_RELEASE_FAILED'])
  })

  it('with a store-call listener, a release is asked as a refund (timed like any store call)', async () => {
    const [d] = await leases(limiter, 'timed', 1)
    const calls: string[] = []
    const off = limiter.on('store-call', (event) => calls.push(event.mode))
    let queued = 0
    const own = store.queueRelease.bind(store)
    store.queueRelease = (...args) => {
      queued++
      return own(...args)
    }
    try {
      await limiter.release(d)
    } finally {
      store.queueRelease = own
      off()
    }
    expect(queued).toBe(0)
    expect(calls).toEqual(['refund'])
    expect((await limiter.peek('timed')).remaining).toBe(LIMIT)
  })
})

const available = redisServerFor('the queued-release deadline test')

describe.runIf(available)('RedisStore queued releases while Redis is frozen', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('settle by the deadline as store-errors, and the slots come back when their leases expire', async () => {
    const client = new Redis(server.url, { retryStrategy: () => 50 })
    const store = new RedisStore({ client, prefix: 'frozen', timeoutMs: 100 })
    const seen: StoreErrorEvent[] = []
    const limiter = createLimiter({ store, policies: [concurrency({ name: 'cc', limit: 2, leaseMs: 600 })] })
    limiter.on('store-error', (event) => seen.push(event))
    limiter.on('warn', () => {})
    const held = await leases(limiter, 'k', 2)
    server.pause()
    const started = performance.now()
    try {
      await Promise.all(held.map((d) => limiter.release(d)))
    } finally {
      server.resume()
    }
    // Bounded, not fast: the deadline (100 ms) with generous room for a shared machine.
    expect(performance.now() - started).toBeLessThan(1000)
    expect(seen.map((e) => (e.error as { code?: string }).code)).toEqual(['ERR_RK_STORE_TIMEOUT', 'ERR_RK_STORE_TIMEOUT'])
    // Never sent late: the leases are still held until they expire.
    await new Promise((resolve) => setTimeout(resolve, 700))
    expect((await limiter.consume('k')).allowed).toBe(true)
    await limiter.close()
    client.disconnect()
  })
})
