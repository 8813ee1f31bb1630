import { describe, expect, it } from 'vitest'
import { createLimiter, type Store, tokenBucket } from '../../src/index.js'
import { cachedLookup, providerPlan, rateLimitsHandler } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'
import { bearer, decide, managedDevPlan, request } from './helpers.js'

const T0 = Date.UTC(2026, 5, 23, 5, 20, 0) // 1782192000000

function managedDev(now: () => number, store?: Store) {
  const plan = managedDevPlan(cachedLookup((key) => (key === 'key:solo' ? undefined : 'acme')))
  const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now, ...(store ? { store } : {}) })
  return { plan, limiter, introspect: rateLimitsHandler({ limiter, plan }) }
}

describe('rateLimitsHandler (GET /v1/rate-limits)', () => {
  it('returns the managed.dev shape: every bucket and the team ceiling, charging nothing', async () => {
    const c = clock(T0)
    const { plan, limiter, introspect } = managedDev(c.now)
    const h = { headers: bearer('mfk_live_1') }
    for (let i = 0; i < 6; i++) await decide(limiter, plan, request('GET', '/v1/runs', h))
    await decide(limiter, plan, request('POST', '/v1/jobs', h))
    // Another key of the same team draws on the ceiling too.
    for (let i = 0; i < 13; i++) await decide(limiter, plan, request('GET', '/v1/runs', { headers: bearer('mfk_live_2') }))
    const res = await introspect(request('GET', '/v1/rate-limits', { ...h, requestId: 'req_01J9F2KQ' }))
    expect(res.status).toBe(200)
    expect(res.contentType).toBe('application/json; charset=utf-8')
    expect(res.headers).toEqual({ 'Cache-Control': 'no-store' })
    const body = JSON.parse(res.body)
    // Tokens refill continuously: "reset" is when the bucket is full again (epoch seconds, rounded up).
    expect(body).toEqual({
      data: {
        buckets: [
          { class: 'read', limit: 1_000, remaining: 994, reset: 1782192000 + 1 },
          { class: 'write', limit: 100, remaining: 100, reset: 1782192000 },
          { class: 'create', limit: 5, remaining: 4, reset: 1782192000 + 12 },
        ],
        team_ceiling: { limit: 5_000, remaining: 4_980, reset: 1782192000 + 1 },
      },
      request_id: 'req_01J9F2KQ',
    })
    // Asking twice changes nothing.
    const again = JSON.parse((await introspect(request('GET', '/v1/rate-limits', h))).body)
    expect(again.data).toEqual(body.data)
    expect(again.request_id).toBeUndefined()
  })

  it('team_ceiling is null for a key without a team; classes can be chosen and ordered', async () => {
    const { plan, limiter } = managedDev(() => T0)
    const introspect = rateLimitsHandler({ limiter, plan, classes: ['create', 'read'] })
    const body = JSON.parse((await introspect(request('GET', '/v1/rate-limits', { headers: bearer('solo') }))).body)
    expect(body.data.team_ceiling).toBeNull()
    expect(body.data.buckets.map((b: { class: string }) => b.class)).toEqual(['create', 'read'])
  })

  it('a custom format gets the full state', async () => {
    const { plan, limiter } = managedDev(() => T0)
    const introspect = rateLimitsHandler({
      limiter,
      plan,
      format: (s) => ({
        tier: s.tier ?? 'default',
        buckets: s.buckets.map((b) => `${b.class}:${b.remaining}/${b.limit}`),
        ceiling: s.ceiling?.remaining,
      }),
    })
    const body = JSON.parse((await introspect(request('GET', '/v1/rate-limits', { headers: bearer('k') }))).body)
    expect(body).toEqual({ tier: 'default', buckets: ['read:1000/1000', 'write:100/100', 'create:5/5'], ceiling: 5_000 })
  })

  it('a store failure answers 503 with Retry-After and no internals', async () => {
    const broken: Store = {
      consume: () => Promise.reject(new Error('ECONNREFUSED 10.0.0.3:6379')),
      peek: () => Promise.reject(new Error('ECONNREFUSED 10.0.0.3:6379')),
      refund: () => Promise.reject(new Error('x')),
      reset: () => undefined,
      close: () => undefined,
    }
    const { introspect } = managedDev(() => T0, broken)
    const res = await introspect(request('GET', '/v1/rate-limits', { headers: bearer('k') }))
    expect(res.status).toBe(503)
    expect(res.headers['Retry-After']).toBe('1')
    expect(res.body).not.toContain('ECONNREFUSED')
  })

  it('a failing team lookup rejects (the framework answers 500), never a made-up state', async () => {
    const plan = providerPlan({
      limits: {
        policies: [tokenBucket({ name: 'a', limit: 1, window: '1s' })],
        ceiling: [tokenBucket({ name: 'team', limit: 1, window: '1s' })],
      },
      team: cachedLookup(async () => {
        throw new Error('db down')
      }),
    })
    const introspect = rateLimitsHandler({ limiter: createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })] }), plan })
    await expect(introspect(request('GET', '/v1/rate-limits'))).rejects.toMatchObject({ code: 'ERR_RK_LOOKUP' })
  })

  it('reads the request id from a header or a function, and drops unsafe ids', async () => {
    const { plan, limiter } = managedDev(() => T0)
    const byHeader = rateLimitsHandler({ limiter, plan, requestId: 'x-request-id' })
    const h = { headers: { ...bearer('k'), 'x-request-id': 'req_7' } }
    expect(JSON.parse((await byHeader(request('GET', '/v1/rate-limits', h))).body).request_id).toBe('req_7')
    const bad = { headers: { ...bearer('k'), 'x-request-id': 'req\r\nX-Evil: 1' } }
    expect(JSON.parse((await byHeader(request('GET', '/v1/rate-limits', bad))).body).request_id).toBeUndefined()
    const byFn = rateLimitsHandler({ limiter, plan, requestId: () => 'req_fn' })
    expect(JSON.parse((await byFn(request('GET', '/v1/rate-limits', h))).body).request_id).toBe('req_fn')
  })

  it('validates its options', () => {
    expect(() =>
      rateLimitsHandler({ limiter: managedDev(() => T0).limiter, plan: managedDev(() => T0).plan, requestId: 'x request' }),
    ).toThrow(/"requestId"/)
    const { plan, limiter } = managedDev(() => T0)
    expect(() => rateLimitsHandler({ limiter, plan, classes: ['delete'] })).toThrow(/"classes" must list classes the plan gives/)
    expect(() => rateLimitsHandler({ limiter, plan: (() => ({})) as never })).toThrow(/"plan" must be a plan made by providerPlan/)
    expect(() => rateLimitsHandler({ limiter: {} as never, plan })).toThrow(/"limiter"/)
    expect(() => rateLimitsHandler({ limiter, plan, shape: 'x' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }),
    )
  })
})
