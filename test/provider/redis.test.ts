/**
 * The provider features on a real Redis (never a mock): a team ceiling decided atomically with
 * the key's bucket under one hash tag, count-mode refunds, and introspection peeks.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { countingFinish } from '../../src/http/count-mode.js'
import { apiKey } from '../../src/http/keys.js'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { cachedLookup, providerPlan, rateLimitsHandler } from '../../src/provider/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { clock } from '../helpers/clock.js'
import { describeRedis, keysUnder, REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { bearer, callOf, decide, request } from './helpers.js'

const T0 = 1_782_192_000_000

describeRedis('provider features on Redis', () => {
  let client: Redis
  const prefix = uniquePrefix('provider')
  beforeAll(async () => {
    client = new Redis(REDIS_URL, { lazyConnect: true })
    await client.connect()
  })
  afterAll(async () => {
    const keys = await keysUnder(client, prefix)
    if (keys.length > 0) await client.del(...keys)
    client.disconnect()
  })

  const setup = () => {
    const c = clock(T0)
    const store = new RedisStore({ client, prefix, clock: 'caller', timeoutMs: 2_000, extraTtlMs: 600_000 })
    // Fail closed, so a store problem can't pass for an admitted request.
    const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 1, window: '1s' })], now: c.now, onStoreError: 'deny' })
    const ceiling = [tokenBucket({ name: 'team', limit: 20, window: '1m' })]
    const plan = providerPlan({
      key: apiKey({ bearer: true }),
      classes: { methods: { DELETE: 'write' }, routes: { 'POST /v1/jobs': 'create', 'POST /auth/token': 'auth' } },
      limits: {
        classes: {
          read: [tokenBucket({ name: 'read', limit: 10, window: '1m' })],
          write: [tokenBucket({ name: 'write', limit: 5, window: '1m' })],
          create: [tokenBucket({ name: 'create', limit: 2, window: '1m' })],
          auth: [fixedWindow({ name: 'logins', limit: 3, window: '15m' })],
        },
        ceiling,
      },
      team: cachedLookup((key) => (key.startsWith('key:globex') ? 'globex' : 'acme')),
      countMode: { auth: 'failure' },
    })
    return { c, limiter, plan, ceiling }
  }

  it('a team ceiling across keys, all-or-nothing, each subject under its own hash tag on one Redis', async () => {
    const { limiter, plan } = setup()
    const statuses: boolean[] = []
    for (let i = 0; i < 24; i++)
      statuses.push((await decide(limiter, plan, request('GET', '/v1/runs', { headers: bearer(`globex_k${i % 3}`) }))).decision.allowed)
    // 3 keys x 10 reads would be 30; the team admits 20, then nobody on the team gets through.
    expect(statuses.filter(Boolean)).toHaveLength(20)
    expect(statuses.slice(20)).toEqual([false, false, false, false])
    const last = await decide(limiter, plan, request('GET', '/v1/runs', { headers: bearer('globex_k0') }))
    expect(last.decision).toMatchObject({ allowed: false, violated: ['team'] })
    // On one Redis each subject's state is under its own tag (on Cluster, the team's: one slot).
    const keys = await keysUnder(client, prefix)
    expect(keys.filter((k) => k.startsWith(`${prefix}:{team:globex}:`))).toHaveLength(1)
    for (let i = 0; i < 3; i++) expect(keys.filter((k) => k.startsWith(`${prefix}:{key:globex_k${i}}:`))).toHaveLength(1)
  })

  it('count mode failure: successes refunded in Redis, failures counted, aborted requests kept', async () => {
    const { limiter, plan } = setup()
    const login = async (status: number, aborted = false) => {
      const { plan: p, decision } = await decide(limiter, plan, request('POST', '/auth/token', { headers: bearer('acme_login') }))
      await countingFinish(limiter, decision, p)?.({ status, aborted })
      return decision
    }
    for (let i = 0; i < 6; i++) expect((await login(200)).allowed).toBe(true)
    await login(200, true)
    await login(401)
    await login(401)
    expect((await login(200)).allowed).toBe(false)
  })

  it('introspection peeks Redis without charging', async () => {
    const { limiter, plan } = setup()
    const h = { headers: bearer('acme_intro') }
    await decide(limiter, plan, request('POST', '/v1/jobs', h))
    const introspect = rateLimitsHandler({ limiter, plan, classes: ['create', 'read'] })
    const first = JSON.parse((await introspect(request('GET', '/v1/rate-limits', h))).body)
    const second = JSON.parse((await introspect(request('GET', '/v1/rate-limits', h))).body)
    expect(first).toEqual(second)
    expect(first.data.buckets).toEqual([
      { class: 'create', limit: 2, remaining: 1, reset: T0 / 1000 + 30 },
      { class: 'read', limit: 10, remaining: 10, reset: T0 / 1000 },
    ])
    expect(first.data.team_ceiling.limit).toBe(20)
    // Same store keys as the decisions: the peek found the charged create bucket.
    const p = await plan(request('POST', '/v1/jobs', h))
    expect((await limiter.peek(p.key, { ...callOf(p), cost: 0 })).policies.map((r) => r.remaining)).toEqual([
      1,
      first.data.team_ceiling.remaining,
    ])
  })
})
