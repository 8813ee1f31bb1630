// RedisStore behaviour on a real Redis, once per client library the store takes (ioredis 5 and 6,
// iovalkey, node-redis 4, 5 and 6): options, the limiter on top (peek, refund, reset, layers,
// wait), the key layout, TTLs, and the deny cache. What the checks read from Redis goes through a
// plain ioredis connection of their own (`admin`): the store's client is the thing under test.

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  ConfigurationError,
  concurrency,
  createLimiter,
  fixedWindow,
  MemoryStore,
  type Policy,
  slidingWindow,
  tokenBucket,
} from '../../../src/index.js'
import type { StoreRequest } from '../../../src/limiter/store.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { clock } from '../../helpers/clock.js'
import { deleteUnder, describeRedis, keysUnder, keysWithoutTtl, REDIS_URL, uniquePrefix } from '../../helpers/redis.js'
import { countScriptCalls, STORE_CLIENTS, type StoreClient } from './clients.js'

const T0 = Date.UTC(2030, 4, 17, 12, 0, 0)

function expectConfigError(fn: () => unknown, option: string, code = 'ERR_RK_INVALID_OPTION'): void {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as ConfigurationError).code).toBe(code)
    expect((error as ConfigurationError).option).toBe(option)
    return
  }
  throw new Error(`expected a ConfigurationError for "${option}"`)
}

describeRedis('RedisStore', () => {
  const prefix = uniquePrefix('store')
  const admin = new Redis(REDIS_URL)

  afterAll(async () => {
    const { checked, without } = await keysWithoutTtl(admin, prefix)
    expect(checked).toBeGreaterThan(0)
    expect(without, `keys without a TTL (of ${checked})`).toEqual([])
    await deleteUnder(admin, prefix)
    admin.disconnect()
  })

  describe.each(STORE_CLIENTS)('$name', (library) => {
    const handle = library.single(REDIS_URL)
    const client = handle.client
    /** Clients of this library made by the tests below, closed at the end. */
    const handles: StoreClient[] = [handle]
    const p = `${prefix}:${library.name.replace(/\W/g, '')}`
    const stores: RedisStore[] = []
    const store = (options: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}) => {
      const s = new RedisStore({ client, prefix: p, ...options })
      stores.push(s)
      return s
    }

    beforeAll(() => handle.ready)
    afterAll(() => {
      for (const s of stores) s.close()
      for (const h of handles) h.close()
    })

    describe('options', () => {
      it('rejects a missing or foreign client', () => {
        expectConfigError(() => new RedisStore({} as never), 'client')
        expectConfigError(() => new RedisStore({ client: { status: 'ready' } as never }), 'client')
      })

      it('rejects bad prefixes, timeouts, clocks and deny cache settings with the option named', () => {
        expectConfigError(() => new RedisStore({ client, prefix: 'a{b' }), 'prefix')
        expectConfigError(() => new RedisStore({ client, prefix: '' }), 'prefix')
        expectConfigError(() => new RedisStore({ client, timeoutMs: 0 }), 'timeoutMs')
        expectConfigError(() => new RedisStore({ client, timeoutMs: 1.5 }), 'timeoutMs')
        expectConfigError(() => new RedisStore({ client, timeoutMs: '100' as never }), 'timeoutMs')
        expectConfigError(() => new RedisStore({ client, clock: 'local' as never }), 'clock')
        expectConfigError(() => new RedisStore({ client, denyCache: 'yes' as never }), 'denyCache')
        expectConfigError(() => new RedisStore({ client, denyCache: { maxEntries: 0 } }), 'denyCache.maxEntries')
        expectConfigError(() => new RedisStore({ client, extraTtlMs: -1 }), 'extraTtlMs')
        expectConfigError(() => new RedisStore({ client, timeout: 5 } as never), 'timeout', 'ERR_RK_UNKNOWN_OPTION')
        expectConfigError(() => new RedisStore({ client, denyCache: { max: 5 } as never }), 'denyCache.max', 'ERR_RK_UNKNOWN_OPTION')
      })

      // ioredis and iovalkey: a lazyConnect client, which the store connects. node-redis has no
      // lazyConnect: its connect() is under way (called, not awaited) when the store is made.
      it('connects a lazyConnect client itself, or waits for one connecting (it sends nothing until the client is ready)', async () => {
        const lazy = library.single(REDIS_URL, { lazy: true })
        try {
          const status = (lazy.client as { status?: unknown }).status
          if (typeof status === 'string') expect(status).toBe('wait')
          else expect((lazy.client as { isReady?: unknown }).isReady).toBe(false)
          const s = new RedisStore({ client: lazy.client, prefix: p })
          stores.push(s)
          expect(s.client.status).not.toBe('ready')
          await lazy.ready
          const r = await s.consume({
            keys: ['lazy'],
            policies: [tokenBucket({ limit: 5, window: '1m' })],
            cost: 1,
            now: 0,
            tag: `lazy-${Math.random()}`,
          })
          expect(r.allowed).toBe(true)
        } finally {
          lazy.close()
        }
      })

      it('has documented defaults', () => {
        const s = store()
        expect([s.prefix, s.timeoutMs, s.clock, s.extraTtlMs, s.deniedEntries]).toEqual([p, 100, 'redis', 0, 0])
        const plain = new RedisStore({ client })
        expect(plain.prefix).toBe('rk')
        plain.close()
      })

      it('rejects calls after close with ERR_RK_CLOSED, and a bad caller clock with a ConfigurationError', async () => {
        const s = new RedisStore({ client, prefix: p, clock: 'caller' })
        const policies = [tokenBucket({ limit: 1, window: '1s' })]
        await expect(s.consume({ keys: ['k'], policies, cost: 1, now: Number.NaN, tag: 'k' })).rejects.toMatchObject({
          code: 'ERR_RK_INVALID_ARGUMENT',
          option: 'now',
        })
        s.close()
        await expect(s.consume({ keys: ['k'], policies, cost: 1, now: T0, tag: 'k' })).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' })
      })
    })

    describe('through the limiter, exactly as the MemoryStore', () => {
      const policies = [
        tokenBucket({ name: 'burst', limit: 5, window: '10s', burst: 8 }),
        slidingWindow({ name: 'minute', limit: 12, window: '1m' }),
        fixedWindow({ name: 'day', limit: 20, window: '1d' }),
      ]

      it('consume, peek, refund, reset and wait give the same decisions', async () => {
        const c = clock(T0)
        const sleeps: number[] = []
        const sleep = async (ms: number) => {
          sleeps.push(ms)
          c.advance(ms)
        }
        const redis = createLimiter({ store: store({ clock: 'caller', extraTtlMs: 86_400_000 }), policies, now: c.now, sleep })
        const memory = createLimiter({ store: new MemoryStore(), policies, now: c.now, sleep })
        const key = `parity-${Math.random()}`
        const both = async (f: (l: typeof redis) => Promise<unknown>) => {
          const [a, b] = [await f(redis), await f(memory)]
          expect(a).toEqual(b)
          return a
        }
        for (let i = 0; i < 30; i++) {
          const d = (await both((l) => l.consume(key, { cost: 1 + (i % 3) }))) as { allowed: boolean; at: number }
          await both((l) => l.peek(key))
          if (i % 4 === 0 && d.allowed) await both((l) => l.refund(key, { cost: 1, at: d.at }))
          if (i === 17) await both((l) => l.reset(key))
          c.advance(700 + (i % 5) * 300)
        }
        await both((l) => l.wait(key, { cost: 4 }))
        await both((l) => l.wait(key, { cost: 4 }))
        expect(sleeps.length).toBeGreaterThan(0)
        await expect(redis.wait(key, { cost: 9 })).rejects.toMatchObject({ code: 'ERR_RK_WAIT' })
      })

      it('decides a key and its team ceiling all-or-nothing (layers share one hash tag)', async () => {
        const user = [tokenBucket({ name: 'user', limit: 3, window: '1h' })]
        const team = [fixedWindow({ name: 'team', limit: 4, window: '1h' })]
        const limiter = createLimiter({ store: store(), policies: user })
        const teamKey = `team-${Math.random()}`
        const layers = [{ name: 'team', key: teamKey, policies: team }]
        const a = []
        for (let i = 0; i < 3; i++) a.push((await limiter.consume(`alice-${teamKey}`, { layers })).allowed)
        const b = []
        for (let i = 0; i < 3; i++) b.push((await limiter.consume(`bob-${teamKey}`, { layers })).allowed)
        // Alice takes 3 of the team's 4; Bob gets the last one, then the ceiling denies him
        // without charging his own bucket.
        expect(a).toEqual([true, true, true])
        expect(b).toEqual([true, false, false])
        const bob = await limiter.peek(`bob-${teamKey}`, { layers })
        expect(bob.policies.map((r) => [r.name, r.layer, r.remaining])).toEqual([
          ['user', undefined, 2],
          ['team', 'team', 0],
        ])
        expect(bob.violated).toEqual(['team'])
        // On one Redis each subject keeps its keys under its own tag.
        expect(await keysUnder(admin, `${p}:{${teamKey}}`)).toHaveLength(1)
        expect(await keysUnder(admin, `${p}:{alice-${teamKey}}`)).toHaveLength(1)
        expect(await keysUnder(admin, `${p}:{bob-${teamKey}}`)).toHaveLength(1)
      })
    })

    describe('deadlines in Redis time', () => {
      it('local-clock-jumps-back-calls-still-succeed: a call Redis judges late too early is re-sent once, with the offset re-learned', async () => {
        const s = store()
        const policies = [tokenBucket({ limit: 100, window: '1m' })]
        const tag = `jump-${Math.random()}`
        const request = () => s.consume({ keys: [tag], policies, cost: 1, now: 0, tag }) as Promise<{ allowed: boolean }>
        expect((await request()).allowed).toBe(true)
        // Every deadline the store now computes lies 10 s in Redis's past.
        const realNow = Date.now.bind(Date)
        const jumped = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 10_000)
        try {
          for (let i = 0; i < 5; i++) expect((await request()).allowed).toBe(true)
        } finally {
          jumped.mockRestore()
        }
        expect((await request()).allowed).toBe(true)
      })
    })

    describe('keys', () => {
      it('never collide, whatever the subjects and policy names hold; a subject has one state whatever the tag', async () => {
        const s = store({ clock: 'caller' })
        const tag = `t-${Math.random()}`
        const a = tokenBucket({ name: 'a', limit: 1, window: '1h' })
        const aColon = tokenBucket({ name: 'a:b', limit: 1, window: '1h' })
        const aOther = tokenBucket({ name: 'a', limit: 2, window: '1h' })
        const cases: [string, string, Policy][] = [
          [tag, tag, a],
          [tag, tag, aColon],
          [tag, tag, aOther],
          [tag, `${tag}x`, a],
          [tag, `${tag}b:x`, a],
          [tag, `${tag}:x`, a],
          [tag, `${tag}}`, a],
          [tag, `${tag}%7D`, a],
          [tag, `${tag}%`, a],
          [tag, `${tag}}:a~x`, a],
          [tag, `${tag}:a~x`, a],
        ]
        const consume = (tagOf: string, subject: string, policy: Policy) =>
          s.consume({ keys: [subject], policies: [policy], cost: 1, now: T0, tag: tagOf }) as Promise<{ allowed: boolean }>
        for (const [t, subject, policy] of cases)
          expect((await consume(t, subject, policy)).allowed, `${t} ${subject} ${policy.id}`).toBe(true)
        // Each pair has a state of its own: a second request is denied only where the limit is 1.
        for (const [t, subject, policy] of cases) {
          expect((await consume(t, subject, policy)).allowed, `${t} ${subject} ${policy.id}`).toBe(policy.limit === 2)
        }
        // On one Redis the tag only groups a request: the same subject under another tag (with or
        // without its team, or an explicit tag) is the same state, spent above.
        expect((await consume(`${tag}-other`, `${tag}x`, a)).allowed).toBe(false)
        expect((await consume(`${tag}}`, tag, aColon)).allowed).toBe(false)
      })

      it('look like <prefix>:{<subject>}:<policy name>~<hash> on one Redis', async () => {
        const s = store()
        const tag = `layout-${Math.random()}`
        const policies = [
          tokenBucket({ name: 'per-minute', limit: 5, window: '1m' }),
          fixedWindow({ name: 'daily', limit: 5, window: '1d' }),
        ]
        const other = `other-${tag}`
        await s.consume({ keys: [tag, other], policies, cost: 1, now: 0, tag })
        const keys = await keysUnder(admin, `${p}:{${tag}}`)
        expect(keys).toHaveLength(1)
        expect(keys[0]).toMatch(new RegExp(`^${p}:\\{${tag}\\}:per-minute~[A-Za-z0-9_-]{8}$`))
        const others = await keysUnder(admin, `${p}:{${other}}`)
        expect(others).toHaveLength(1)
        expect(others[0]).toMatch(new RegExp(`^${p}:\\{${other}\\}:daily~[A-Za-z0-9_-]{8}$`))
      })

      it('reset-on-redis-clock-without-specs: a reset (no check numbers sent) deletes every key of the request', async () => {
        const s = store()
        const tag = `reset-${Math.random()}`
        const policies = [tokenBucket({ name: 'a', limit: 5, window: '1m' }), fixedWindow({ name: 'b', limit: 5, window: '1h' })]
        await s.consume({ keys: [tag, tag], policies, cost: 1, now: 0, tag })
        expect(await keysUnder(admin, `${p}:{${tag}}`)).toHaveLength(2)
        await s.reset({ keys: [tag], policies: policies.slice(0, 1), cost: 0, now: 0, tag })
        expect(await keysUnder(admin, `${p}:{${tag}}`)).toHaveLength(1)
        await s.reset({ keys: [tag, tag], policies, cost: 0, now: 0, tag })
        expect(await keysUnder(admin, `${p}:{${tag}}`)).toHaveLength(0)
      })

      it('carry a TTL that ends when the state is fresh again, and are deleted when it already is', async () => {
        const s = store()
        const tag = `ttl-${Math.random()}`
        const tb = tokenBucket({ name: 'tb', limit: 10, window: '10s' })
        const request: StoreRequest = { keys: [tag], policies: [tb], cost: 3, now: 0, tag }
        const charged = (await s.consume(request)) as { now: number }
        const [key] = await keysUnder(admin, `${p}:{${tag}}`)
        const pttl = await admin.pttl(key)
        // 3 tokens of a bucket refilling 1 per second drain in 3 s.
        expect(pttl).toBeGreaterThan(2000)
        expect(pttl).toBeLessThanOrEqual(3000)
        // Refunded at once (charged at Redis's `now` of the charge): everything comes back.
        const d = await s.refund({ ...request, chargedAt: charged.now })
        expect(d.results[0]).toBe(10)
        expect(await admin.exists(key)).toBe(0)
      })
    })

    describe('deny cache', () => {
      const limited = tokenBucket({ name: 'tiny', limit: 2, window: '1h' })
      /** A client of this library whose script calls are counted: only the stores of `counted` use it. */
      const countedHandle = library.single(REDIS_URL)
      handles.push(countedHandle)
      const counting = countScriptCalls(countedHandle.client)
      beforeAll(() => countedHandle.ready)

      /** A store whose script calls are counted. */
      const counted = (options: Partial<ConstructorParameters<typeof RedisStore>[0]>) => {
        const s = new RedisStore({ client: countedHandle.client, prefix: p, clock: 'caller', ...options })
        stores.push(s)
        // The store's clock calibration at construction is not a decision.
        counting.calls = 0
        return { s, counting }
      }

      it('is off by default', async () => {
        const { s, counting } = counted({})
        const key = `nocache-${Math.random()}`
        const limiter = createLimiter({ store: s, policies: [limited], now: () => T0 })
        for (let i = 0; i < 5; i++) await limiter.consume(key)
        expect(counting.calls).toBe(5)
        expect(s.deniedEntries).toBe(0)
      })

      it('answers a denied request locally until it may succeed, then asks Redis again', async () => {
        const { s, counting } = counted({ denyCache: true })
        const c = clock(T0)
        const key = `cache-${Math.random()}`
        const limiter = createLimiter({ store: s, policies: [limited], now: c.now })
        expect((await limiter.consume(key)).allowed).toBe(true)
        expect((await limiter.consume(key)).allowed).toBe(true)
        const denied = await limiter.consume(key)
        expect(denied.allowed).toBe(false)
        expect(denied.retryAfterMs).toBe(1_800_000)
        const calls = counting.calls
        c.advance(600_000)
        const cached = await limiter.consume(key)
        expect(counting.calls).toBe(calls)
        expect(cached).toMatchObject({ allowed: false, reason: 'limited', retryAfterMs: 1_200_000, violated: ['tiny'], at: T0 + 600_000 })
        expect((await limiter.peek(key, { cost: 1 })).allowed).toBe(false)
        expect(counting.calls).toBe(calls)
        // Another cost asks Redis (a larger one's figures, its wait first, only Redis knows); its denial is cached in turn.
        expect((await limiter.consume(key, { cost: 2 })).allowed).toBe(false)
        expect(counting.calls).toBe(calls + 1)
        expect((await limiter.peek(key, { cost: 2 })).allowed).toBe(false)
        expect(counting.calls).toBe(calls + 1)
        c.advance(1_200_000)
        expect((await limiter.consume(key)).allowed).toBe(true)
        expect(counting.calls).toBe(calls + 2)
      })

      it('is cleared by reset and refund through the store, for every request that involves the key', async () => {
        const { s, counting } = counted({ denyCache: true })
        const c = clock(T0)
        const team = `team-${Math.random()}`
        const ceiling = [fixedWindow({ name: 'team', limit: 1, window: '1d' })]
        const limiter = createLimiter({ store: s, policies: [limited], now: c.now })
        const layers = [{ name: 'team', key: team, policies: ceiling }]
        const first = await limiter.consume('carol', { layers })
        expect(first.allowed).toBe(true)
        expect((await limiter.consume('dave', { layers })).allowed).toBe(false)
        const calls = counting.calls
        expect((await limiter.consume('dave', { layers })).allowed).toBe(false)
        expect(counting.calls).toBe(calls)
        // Carol's refund gives the team ceiling back: Dave's cached denial must go.
        await limiter.refund('carol', { layers, at: first.at })
        expect((await limiter.consume('dave', { layers })).allowed).toBe(true)
        expect((await limiter.consume('erin', { layers })).allowed).toBe(false)
        await limiter.reset('erin', { layers })
        expect((await limiter.consume('erin', { layers })).allowed).toBe(true)
      })

      it('is cleared by a release through the store: a freed slot is taken at once, not after the cached wait', async () => {
        const { s, counting } = counted({ denyCache: true })
        const key = `cc-cache-${Math.random()}`
        const policies = [concurrency({ name: 'one', limit: 1, leaseMs: '1m', retryAfter: '10s' }), limited]
        const limiter = createLimiter({ store: s, policies, now: () => T0 })
        const first = await limiter.consume(key)
        expect(first.allowed).toBe(true)
        expect((await limiter.consume(key)).violated).toEqual(['one'])
        const calls = counting.calls
        expect((await limiter.consume(key)).allowed).toBe(false)
        expect(counting.calls).toBe(calls)
        await limiter.release(first)
        expect((await limiter.consume(key)).allowed).toBe(true)
      })

      it('rejects a concurrency request that may take a slot without a lease, as the policy itself does', async () => {
        const { s, counting } = counted({})
        const policies = [concurrency({ name: 'one', limit: 1 })]
        const request = { keys: ['k'], policies, cost: 1, now: T0, tag: `nolease-${Math.random()}` }
        await expect(s.consume(request)).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'lease' })
        await expect(s.peek({ ...request, lease: Number.NaN })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'lease' })
        expect(() => new MemoryStore().consume(request)).toThrow(
          expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'lease' }),
        )
        // A look (cost 0) and a release without a lease need none.
        expect((await s.peek({ ...request, cost: 0 })).results[0]).toBe(1)
        expect((await s.refund({ ...request, chargedAt: T0 })).results[0]).toBe(1)
        expect(counting.calls).toBe(2)
      })

      it('holds at most maxEntries denials', async () => {
        const { s } = counted({ denyCache: { maxEntries: 3 } })
        const limiter = createLimiter({ store: s, policies: [tokenBucket({ name: 'zero', limit: 1, window: '1h' })], now: () => T0 })
        for (let i = 0; i < 10; i++) {
          const key = `bounded-${i}-${Math.random()}`
          await limiter.consume(key)
          expect((await limiter.consume(key)).allowed).toBe(false)
        }
        expect(s.deniedEntries).toBe(3)
      })

      it('does not cache what can never be admitted', async () => {
        const { s, counting } = counted({ denyCache: true })
        const limiter = createLimiter({ store: s, policies: [limited], now: () => T0 })
        const key = `never-${Math.random()}`
        for (let i = 0; i < 3; i++) expect((await limiter.consume(key, { cost: 5 })).reason).toBe('exceeds-capacity')
        expect(counting.calls).toBe(3)
      })
    })
  })
})
