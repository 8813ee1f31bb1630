/**
 * Load shedding by priority through a provider plan: the mixed-priority load past capacity on the
 * in-process stores, the plan's layers and placement, and the options' errors.
 */
import { describe, expect, it } from 'vitest'
import { isShedding, loadShedding, sheddingBody } from '../../src/http/shedding.js'
import { type CasBackend, casStore, concurrency, createLimiter, fixedWindow, MemoryStore, tokenBucket } from '../../src/index.js'
import { providerPlan, rateLimitsHandler } from '../../src/provider/index.js'
import { decide, request } from './helpers.js'
import { driveLoad, fleetRate, sheddingPlan, T0 } from './shedding-load.js'

function versionedMap(): CasBackend {
  const data = new Map<string, CasBackend.Versioned>()
  let version = 0
  return {
    get: (keys) => keys.map((k) => data.get(k)),
    commit: (writes) => {
      for (const w of writes) if (data.get(w.key)?.version !== w.expected) return false
      for (const w of writes) w.value === undefined ? data.delete(w.key) : data.set(w.key, { value: w.value, version: ++version })
      return true
    },
    delete: (keys) => {
      for (const k of keys) data.delete(k)
    },
  }
}

describe('a mixed-priority load past the fleet capacity', () => {
  it.each([
    ['memory', () => new MemoryStore()],
    ['compare-and-set', () => casStore({ backend: versionedMap() })],
  ])('%s store: every critical request served, background shed, normal between', async (_name, store) => {
    const { served } = await driveLoad(store(), fleetRate())
    // 2 s after warm-up: 100 critical, 600 normal, 500 background offered; the fleet admits ~200.
    expect(served.critical).toEqual({ admitted: 100, shed: 0, limited: 0 })
    expect(served.background.admitted).toBe(0)
    expect(served.background.shed).toBe(500)
    expect(served.normal.admitted).toBeGreaterThan(80)
    expect(served.normal.admitted + served.critical.admitted).toBeLessThanOrEqual(200)
    expect(served.normal.limited + served.background.limited).toBe(0)
  })

  it('a concurrency budget: background is shed at half the slots, critical up to all of them', async () => {
    const shed = loadShedding({ budget: concurrency({ name: 'fleet', limit: 10 }) })
    const limiter = createLimiter({ now: () => T0, policies: [tokenBucket({ name: 'own', limit: 100, window: '1m' })] })
    const consume = (p: 'critical' | 'normal' | 'background', i: number) => limiter.consume(`k${i}`, { layers: [shed.layer(p)] })
    const bg = await Promise.all(Array.from({ length: 8 }, (_, i) => consume('background', i)))
    expect(bg.filter((d) => d.allowed)).toHaveLength(5)
    expect(bg.filter((d) => isShedding(d))).toHaveLength(3)
    // Normal's share is 8 of the 10 slots: 3 more.
    for (let i = 0; i < 3; i++) expect((await consume('normal', 0)).allowed).toBe(true)
    expect((await consume('normal', 0)).allowed).toBe(false)
    expect((await consume('critical', 0)).allowed).toBe(true)
    expect((await consume('critical', 0)).allowed).toBe(true)
    const full = await consume('critical', 1)
    expect(isShedding(full)).toBe(true)
    // A background request ends: its slot is free, but the fleet is still above background's share.
    await limiter.release(bg[0])
    expect((await consume('background', 9)).allowed).toBe(false)
    expect((await consume('critical', 1)).allowed).toBe(true)
  })
})

describe('providerPlan({ shedding })', () => {
  it('adds the class’s shedding layer last, after the team’s, and places the request by the budget’s key', async () => {
    const plan = providerPlan({
      limits: {
        policies: [tokenBucket({ name: 'per-key', limit: 10, window: '1m' })],
        ceiling: [tokenBucket({ name: 'team', limit: 50, window: '1m' })],
      },
      team: () => 'acme',
      shedding: { budget: fleetRate(), key: 'eu-fleet', classes: { read: 'normal', write: 'critical', delete: 'background' } },
    })
    const read = await plan(request('GET', '/x'))
    expect(read.layers?.map((l) => [l.name, l.key])).toEqual([
      ['team', 'team:acme'],
      ['shed:normal', 'eu-fleet'],
    ])
    expect(read.layers?.[1].policies[0]).toMatchObject({ name: 'fleet', burst: 80, id: fleetRate().id })
    expect(read.tag).toBe('eu-fleet')
    expect((await plan(request('DELETE', '/x'))).layers?.[1].name).toBe('shed:background')
    expect((await plan.subject(request('GET', '/x'))).tag).toBe('eu-fleet')
  })

  it('without a team, each class’s layer list is built once', async () => {
    const plan = sheddingPlan(fleetRate())
    const a = await plan(request('GET', '/v1/exports'))
    const b = await plan(request('GET', '/v1/exports'))
    expect(a.layers).toBe(b.layers)
    expect(a.layers?.map((l) => l.name)).toEqual(['shed:background'])
  })

  it('introspection peeks the key’s buckets and charges nothing to the fleet', async () => {
    let now = T0
    const limiter = createLimiter({ now: () => now, policies: [tokenBucket({ limit: 1, window: '1s' })] })
    const plan = sheddingPlan(fleetRate())
    await decide(limiter, plan, request('GET', '/v1/runs', { headers: { authorization: 'Bearer sk_1' } }))
    const res = await rateLimitsHandler({ limiter, plan })(request('GET', '/v1/rate-limits', { headers: { authorization: 'Bearer sk_1' } }))
    expect(res.status).toBe(200)
    now += 1
    const fleet = await limiter.peek('fleet', { policies: [fleetRate()] })
    expect(fleet.remaining).toBe(99)
  })

  it.each([
    [{ budget: fleetRate(), classes: { read: 'normal', write: 'normal' } }, 'shedding.classes', /missing: delete/],
    [
      { budget: fleetRate(), classes: { read: 'normal', write: 'normal', delete: 'urgent' } },
      'shedding.classes.delete',
      /must name a priority/,
    ],
    [
      { budget: fleetRate(), classes: { read: 'normal', write: 'normal', delete: 'normal', nope: 'normal' } },
      'shedding.classes.nope',
      /request class/,
    ],
    [{ budget: 'fleet', classes: {} }, 'shedding.budget', /must be a policy/],
    [{ budget: fleetRate(), priorities: { low: 0.001 }, classes: {} }, 'shedding.priorities.low', /rounds down to 0/],
    [{ budget: fleetRate(), priorities: { low: 2 }, classes: {} }, 'shedding.priorities.low', /above 0 and at most 1/],
    [{ budget: fleetRate(), classes: {}, extra: 1 }, 'shedding.extra', /known: budget, key, priorities, classes/],
  ])('rejects shedding options at construction, naming %#: %s', (shedding, option, message) => {
    expect(() => providerPlan({ limits: { policies: [fleetRate()] }, shedding: shedding as never })).toThrow(
      expect.objectContaining({
        code: expect.stringMatching(/^ERR_RK_(INVALID|UNKNOWN)_OPTION$/),
        option,
        message: expect.stringMatching(message),
      }),
    )
  })
})

describe('loadShedding() on its own', () => {
  it('names an unknown priority at request time, without echoing it', () => {
    const shed = loadShedding({ budget: fixedWindow({ name: 'fleet', limit: 10, window: '1s' }) })
    expect(shed.priorities).toEqual(['critical', 'normal', 'background'])
    expect(() => shed.layer('urgent' as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'priority' }))
  })

  it('a cost above the priority’s share can never be admitted at it: exceeds-capacity, not shedding', async () => {
    const shed = loadShedding({ budget: fixedWindow({ name: 'fleet', limit: 10, window: '1m' }) })
    const limiter = createLimiter({ now: () => T0, policies: [fixedWindow({ name: 'own', limit: 100, window: '1m' })] })
    const d = await limiter.consume('a', { cost: 6, layers: [shed.layer('background')] })
    expect(d).toMatchObject({ allowed: false, reason: 'exceeds-capacity', violated: ['fleet'] })
    expect(isShedding(d)).toBe(false)
    expect((await limiter.consume('a', { cost: 6, layers: [shed.layer('normal')] })).allowed).toBe(true)
  })

  it('a denial by the client’s own limit too is not shedding; the shedding body names the priority and the wait', async () => {
    const shed = loadShedding({ budget: fixedWindow({ name: 'fleet', limit: 2, window: '1m' }), priorities: { low: 0.5, high: 1 } })
    const limiter = createLimiter({ now: () => T0, policies: [fixedWindow({ name: 'own', limit: 2, window: '1m' })] })
    expect((await limiter.consume('a', { layers: [shed.layer('low')] })).allowed).toBe(true)
    const shedOnly = await limiter.consume('a', { layers: [shed.layer('low')] })
    expect(isShedding(shedOnly)).toBe(true)
    expect(JSON.parse(sheddingBody(shedOnly, 'req_1'))).toMatchObject({
      status: 503,
      priority: 'low',
      'request-id': 'req_1',
      'retry-after': 60,
    })
    expect((await limiter.consume('a', { layers: [shed.layer('high')] })).allowed).toBe(true)
    const both = await limiter.consume('a', { layers: [shed.layer('high')] })
    expect(both.violated).toEqual(['own', 'fleet'])
    expect(isShedding(both)).toBe(false)
  })
})
