// cachedList(): a dynamic allow / deny list with the cached-lookup machinery in front, on an
// in-memory set, on a Redis set (SISMEMBER) and on a Redis Cluster; and as the `deny` option.
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { HttpRequestInfo } from '../../src/http/index.js'
import { createHttpLimiter } from '../../src/http/index.js'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { cachedList } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'
import { describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
import { ready } from '../stores/redis/clients.js'

const T0 = 1_782_192_000_000
const req = (ip: string, key?: string): HttpRequestInfo<object> => ({
  method: 'GET',
  route: '/',
  path: '/',
  ip,
  headers: { get: (n) => (n === 'x-api-key' ? key : undefined) },
  raw: {},
})

/** A deny list read from `isMember`, cached for 10 s on a manual clock; every call it makes is recorded. */
function denyFrom(isMember: (subject: string) => Promise<boolean> | boolean) {
  const c = clock(1_000)
  const calls: string[] = []
  const list = cachedList(
    (subject, kind) => {
      calls.push(`${kind} ${subject}`)
      return isMember(`${kind}:${subject}`)
    },
    { ttl: '10s', now: c.now },
  )
  const limiter = createLimiter({ policies: [fixedWindow({ limit: 5, window: '1m' })], now: () => T0 })
  const key = (_raw: unknown, info: HttpRequestInfo) => {
    const k = info.headers.get('x-api-key')
    return k === undefined ? undefined : `key:${k}`
  }
  const http = createHttpLimiter<object>('rateLimit()', { limiter, key, deny: { match: list } })
  return { http, calls, clock: c, list, limiter }
}

/** The same behaviour whatever holds the set. */
function behaves(
  members: () => {
    add: (m: string) => Promise<unknown>
    remove: (m: string) => Promise<unknown>
    has: (m: string) => Promise<boolean> | boolean
  },
) {
  it('denies members by address and by key, asks once per subject within the TTL, and sees changes after it', async () => {
    const set = members()
    await set.add('ip:203.0.113.9')
    await set.add('key:key:sk_bad')
    const { http, calls, clock: c, limiter } = denyFrom(set.has)
    expect((await http.handle(req('::ffff:203.0.113.9'))).status).toBe(403)
    expect((await http.handle(req('203.0.113.9'))).status).toBe(403)
    expect((await http.handle(req('192.0.2.1', 'sk_bad'))).status).toBe(403)
    expect((await limiter.peek('key:sk_bad')).remaining).toBe(5)
    expect((await http.handle(req('192.0.2.1', 'sk_good'))).action).toBe('next')
    expect(calls).toEqual(['ip 203.0.113.9', 'ip 192.0.2.1', 'key key:sk_bad', 'key key:sk_good'])
    // Unlisted within the TTL: the cached answer stands; after it, the list is read again.
    await set.remove('ip:203.0.113.9')
    expect((await http.handle(req('203.0.113.9'))).status).toBe(403)
    c.advance(10_001)
    expect((await http.handle(req('203.0.113.9'))).action).toBe('next')
  })
}

describe('cachedList on an in-memory set', () => {
  behaves(() => {
    const s = new Set<string>()
    return { add: async (m) => s.add(m), remove: async (m) => s.delete(m), has: (m) => s.has(m) }
  })

  it('a failing lookup fails the request (ERR_RK_LOOKUP) unless a fallback answers, and is not cached', async () => {
    let down = true
    const failing = (fallback?: boolean) =>
      cachedList(
        () => {
          if (down) throw new Error('db down')
          return false
        },
        { fallback },
      )
    expect(() => failing()('10.0.0.1', 'ip', req('10.0.0.1'))).toThrow(expect.objectContaining({ code: 'ERR_RK_LOOKUP' }))
    const open = failing(false)
    expect(open('10.0.0.1', 'ip', req('10.0.0.1'))).toBe(false)
    const closed = failing(true)
    expect(closed('10.0.0.1', 'ip', req('10.0.0.1'))).toBe(true)
    down = false
    expect(closed('10.0.0.1', 'ip', req('10.0.0.1'))).toBe(false)
  })

  it('a lookup answering anything but a boolean is a lookup error', () => {
    const list = cachedList(() => 'yes' as never)
    expect(() => list('10.0.0.1', 'ip', req('10.0.0.1'))).toThrow(expect.objectContaining({ code: 'ERR_RK_LOOKUP' }))
  })

  it('keeps addresses and keys apart, and clear() forgets one subject or all', async () => {
    let calls = 0
    const list = cachedList((subject, kind) => {
      calls++
      return kind === 'key' && subject === 'same'
    })
    expect(list('same', 'ip', req('1.1.1.1'))).toBe(false)
    expect(list('same', 'key', req('1.1.1.1'))).toBe(true)
    expect(list.size).toBe(2)
    list.clear('same', 'key')
    expect(list.size).toBe(1)
    list.clear()
    expect(list.size).toBe(0)
    expect(calls).toBe(2)
  })

  it('validates its options', () => {
    expect(() => cachedList(1 as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'match' }))
    expect(() => cachedList(() => true, { fallback: 'yes' as never })).toThrow(expect.objectContaining({ option: 'fallback' }))
    expect(() => cachedList(() => true, { ttl: -1 })).toThrow(expect.objectContaining({ option: 'ttl' }))
    expect(() => cachedList(() => true, { maxx: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }))
  })
})

describeRedis('cachedList on a Redis set', () => {
  let client: Redis
  const setKey = `${uniquePrefix('lists')}:denied`
  beforeAll(async () => {
    client = new Redis(REDIS_URL, { lazyConnect: true })
    await client.connect()
  })
  afterAll(async () => {
    await client.del(setKey)
    client.disconnect()
  })
  behaves(() => ({
    add: (m) => client.sadd(setKey, m),
    remove: (m) => client.srem(setKey, m),
    has: async (m) => (await client.sismember(setKey, m)) === 1,
  }))
})

describe.runIf(redisServerFor('cachedList on a Redis Cluster'))('cachedList on a Redis Cluster set', () => {
  let cluster: RedisCluster
  let client: InstanceType<typeof Redis.Cluster>
  const setKey = `${uniquePrefix('lists')}:denied`
  beforeAll(async () => {
    cluster = await startCluster(3)
    client = new Redis.Cluster([...cluster.startupNodes])
    await ready(client)
  }, 60_000)
  afterAll(async () => {
    client?.disconnect()
    await cluster?.stop()
  })
  behaves(() => ({
    add: (m) => client.sadd(setKey, m),
    remove: (m) => client.srem(setKey, m),
    has: async (m) => (await client.sismember(setKey, m)) === 1,
  }))
})
