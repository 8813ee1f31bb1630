import { describe, expect, it, vi } from 'vitest'
import { apiKey } from '../../src/http/keys.js'
import { createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'
import { cachedLookup, providerPlan, requestClasses, tierByPrefix } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'
import { bearer, decide, managedDevPlan, request } from './helpers.js'

const T0 = Date.UTC(2026, 5, 10, 12, 0, 0)

/**
 * The skakio page: tiers by key prefix, per-minute + per-day + burst, and stricter auth endpoints,
 * each with its own 10 req/s bucket on top of the key's tier limits.
 */
function skakio() {
  const auth = (name: string) => [tokenBucket({ name, limit: 10, window: '1s', burst: 20 })]
  const stricter = { 'auth-token': auth('auth-token'), 'auth-validate': auth('auth-validate'), 'auth-refresh': auth('auth-refresh') }
  const publicKey = [
    tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 }),
    fixedWindow({ name: 'per-day', limit: 10_000, window: '1d' }),
  ]
  const secretKey = [
    tokenBucket({ name: 'per-minute', limit: 1_000, window: '1m', burst: 1_500 }),
    fixedWindow({ name: 'per-day', limit: 100_000, window: '1d' }),
  ]
  return providerPlan({
    key: apiKey({ bearer: true }),
    classes: { routes: { 'POST /auth/token': 'auth-token', 'POST /auth/validate': 'auth-validate', 'POST /auth/refresh': 'auth-refresh' } },
    tiers: {
      public_key: { policies: publicKey, also: stricter },
      secret_key: { policies: secretKey, also: stricter },
    },
    tier: tierByPrefix({ pk_: 'public_key', sk_: 'secret_key' }, { otherwise: 'public_key' }),
  })
}

describe('providerPlan: skakio tiers', () => {
  it('pk_ keys get 100/min with a burst of 150 and the public_key tier', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: c.now })
    const plan = skakio()
    const req = request('GET', '/api/listing/:id', { headers: bearer('pk_live_abc') })
    let last = await decide(limiter, plan, req)
    expect(last.plan).toMatchObject({ key: 'key:pk_live_abc', tier: 'public_key', class: 'read', tag: undefined, layers: undefined })
    expect(last.decision).toMatchObject({ allowed: true, tier: 'public_key', limit: 100, remaining: 149 })
    for (let i = 1; i < 150; i++) last = await decide(limiter, plan, req)
    expect(last.decision).toMatchObject({ allowed: true, remaining: 0 })
    last = await decide(limiter, plan, req)
    expect(last.decision).toMatchObject({ allowed: false, reason: 'limited', violated: ['per-minute'], retryAfterMs: 600 })
    // 10x for secret keys.
    const sk = request('GET', '/api/listing/:id', { headers: bearer('sk_live_abc') })
    const s = await decide(limiter, plan, sk)
    expect(s.decision).toMatchObject({ allowed: true, tier: 'secret_key', limit: 1_000, remaining: 1_499 })
  })

  it('the per-day quota stops a pk_ key at 10,000 until the next UTC day', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: c.now })
    const plan = skakio()
    const req = request('GET', '/api/store-listings', { headers: bearer('pk_live_day') })
    let d = (await decide(limiter, plan, req)).decision
    for (let i = 1; i < 10_000; i++) {
      c.advance(600) // 100/min sustained: the per-minute bucket never empties
      d = (await decide(limiter, plan, req)).decision
      expect(d.allowed).toBe(true)
    }
    c.advance(600)
    d = (await decide(limiter, plan, req)).decision
    expect(d).toMatchObject({ allowed: false, violated: ['per-day'] })
    const midnight = Date.UTC(2026, 5, 11)
    expect(d.resetAt).toBe(midnight)
    c.set(midnight)
    expect((await decide(limiter, plan, req)).decision.allowed).toBe(true)
  })

  it('auth endpoints: 10 req/s with a burst of 20 each, on top of the tier budget (also)', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: c.now })
    const plan = skakio()
    const req = request('POST', '/auth/token', { headers: bearer('pk_live_login') })
    for (let i = 0; i < 20; i++) expect((await decide(limiter, plan, req)).decision.allowed).toBe(true)
    const denied = await decide(limiter, plan, req)
    expect(denied.plan.class).toBe('auth-token')
    expect(denied.plan.policies?.map((p) => p.name)).toEqual(['per-minute', 'per-day', 'auth-token'])
    // Introspection reports the class's bucket with its additions.
    const subject = await plan.subject(request('GET', '/v1/rate-limits', { headers: bearer('pk_live_login') }))
    expect(subject.buckets.find((b) => b.class === 'auth-token')?.policies.map((p) => p.name)).toEqual([
      'per-minute',
      'per-day',
      'auth-token',
    ])
    expect(subject.buckets.find((b) => b.class === 'read')?.policies.map((p) => p.name)).toEqual(['per-minute', 'per-day'])
    expect(denied.decision).toMatchObject({ allowed: false, violated: ['auth-token'], retryAfterMs: 100, limit: 10 })
    c.advance(100)
    expect((await decide(limiter, plan, req)).decision.allowed).toBe(true)
    // Another auth endpoint has a bucket of its own.
    const validate = await decide(limiter, plan, request('POST', '/auth/validate', { headers: bearer('pk_live_login') }))
    expect(validate.decision).toMatchObject({ allowed: true, limit: 10, remaining: 19 })
    // The 22 auth requests were charged to the tier's budget as well: 150 - 22 left of the burst.
    const read = await decide(limiter, plan, request('GET', '/api/listing/:id', { headers: bearer('pk_live_login') }))
    expect(read.decision.remaining).toBe(127)
  })

  it('also: a class is refused when the tier budget is spent, and nothing is charged when it is', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: c.now })
    const plan = skakio()
    const read = request('GET', '/api/listing/:id', { headers: bearer('pk_live_spent') })
    for (let i = 0; i < 150; i++) expect((await decide(limiter, plan, read)).decision.allowed).toBe(true)
    const token = await decide(limiter, plan, request('POST', '/auth/token', { headers: bearer('pk_live_spent') }))
    expect(token.decision).toMatchObject({ allowed: false, violated: ['per-minute'] })
    // All or nothing: the denied request took nothing from the auth bucket.
    const peek = await limiter.peek('key:pk_live_spent', { policies: token.plan.policies })
    expect(peek.policies.find((p) => p.name === 'auth-token')?.remaining).toBe(20)
  })

  it('unauthenticated requests are counted by IP (IPv6 by /56) in the otherwise tier', async () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: () => T0 })
    const plan = skakio()
    const a = await decide(limiter, plan, request('GET', '/x', { ip: '2001:db8:1:100::1' }))
    const b = await decide(limiter, plan, request('GET', '/x', { ip: '2001:db8:1:1ff::9' }))
    expect(a.plan.key).toBe('ip:2001:db8:1:100::/56')
    expect(b.plan.key).toBe(a.plan.key)
    expect(b.decision).toMatchObject({ tier: 'public_key', remaining: 148 })
  })
})

describe('providerPlan: managed.dev classes and team ceiling', () => {
  it('classes requests into read / write (incl. DELETE) / create buckets', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: c.now })
    const plan = managedDevPlan(() => 'acme')
    const h = { headers: bearer('mfk_live_1') }
    const read = await decide(limiter, plan, request('GET', '/v1/runs/:id', h))
    const write = await decide(limiter, plan, request('PATCH', '/v1/runs/:id', h))
    const del = await decide(limiter, plan, request('DELETE', '/v1/runs/:id', h))
    const create = await decide(limiter, plan, request('POST', '/v1/jobs', h))
    expect([read, write, del, create].map((x) => x.plan.class)).toEqual(['read', 'write', 'write', 'create'])
    expect(read.decision).toMatchObject({ limit: 1_000, remaining: 999 })
    expect(del.decision).toMatchObject({ limit: 100, remaining: 98 })
    expect(create.decision).toMatchObject({ limit: 5, remaining: 4 })
    expect(create.decision.policies.map((p) => [p.name, p.layer, p.remaining])).toEqual([
      ['create', undefined, 4],
      ['team', 'team', 4_996],
    ])
    expect(create.plan).toMatchObject({ tag: 'team:acme', layers: [{ name: 'team', key: 'team:acme' }] })
    for (let i = 1; i < 5; i++) await decide(limiter, plan, request('POST', '/v1/jobs', h))
    const sixth = await decide(limiter, plan, request('POST', '/v1/jobs', h))
    expect(sixth.decision).toMatchObject({ allowed: false, violated: ['create'], limit: 5, retryAfterMs: 12_000 })
  })

  it('team ceiling: 5,000/min across all of a team’s keys, all-or-nothing', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: c.now })
    const teams: Record<string, string> = { k1: 'acme', k2: 'acme', k3: 'acme', k4: 'acme', k5: 'acme', k6: 'acme', other: 'globex' }
    const lookup = vi.fn(async (key: string) => teams[key.slice('key:'.length)])
    const plan = managedDevPlan(cachedLookup(lookup))
    let allowed = 0
    let last = await decide(limiter, plan, request('GET', '/v1/runs', { headers: bearer('k1') }))
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']) {
      for (let i = 0; i < 1_000; i++) {
        last = await decide(limiter, plan, request('GET', '/v1/runs', { headers: bearer(k) }))
        if (last.decision.allowed) allowed++
      }
    }
    expect(allowed + 1).toBe(5_000)
    expect(last.decision).toMatchObject({ allowed: false, violated: ['team'], limit: 5_000 })
    // All-or-nothing: k6's own bucket was charged only for the requests the team admitted.
    const k6Own = last.decision.policies.find((p) => p.name === 'read')
    expect(k6Own?.remaining).toBeGreaterThan(0)
    // Another team is unaffected; lookups are cached (one per key).
    const other = await decide(limiter, plan, request('GET', '/v1/runs', { headers: bearer('other') }))
    expect(other.decision).toMatchObject({ allowed: true, remaining: 999 })
    expect(lookup).toHaveBeenCalledTimes(7)
  })

  it('a key without a team has no ceiling', async () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: () => T0 })
    const plan = managedDevPlan(() => undefined)
    const r = await decide(limiter, plan, request('GET', '/v1/runs', { headers: bearer('solo') }))
    expect(r.plan.layers).toBeUndefined()
    expect(r.decision.policies.map((p) => p.name)).toEqual(['read'])
  })

  it('answers synchronously when every resolver does', () => {
    const plan = managedDevPlan(() => 'acme')
    const p = plan(request('GET', '/v1/runs', { headers: bearer('k') }))
    expect(p).not.toBeInstanceOf(Promise)
    const subject = plan.subject(request('GET', '/v1/runs', { headers: bearer('k') }))
    expect(subject).toMatchObject({ key: 'key:k', tier: undefined, team: { key: 'team:acme' } })
    expect(plan.tiers).toEqual([])
    expect(plan.classes.classes).toEqual(['read', 'write', 'create'])
  })
})

describe('providerPlan: APIs.io monthly tool-call quota with a cost', () => {
  function apisIo() {
    const perMinute = tokenBucket({ name: 'per-minute', limit: 600, window: '1m' })
    return providerPlan({
      key: apiKey({ header: 'x-environment' }),
      classes: { routes: { 'POST /api/v1/execute_tool': 'tool-call' } },
      tiers: {
        free: { policies: [perMinute], classes: { 'tool-call': [fixedWindow({ name: 'tool-calls', limit: 5_000, window: 'month' })] } },
        growth: { policies: [perMinute], classes: { 'tool-call': [fixedWindow({ name: 'tool-calls', limit: 200_000, window: 'month' })] } },
      },
      tier: cachedLookup((key) => (key.includes('growth') ? 'growth' : 'free')),
      cost: (req, cls) => (cls === 'tool-call' ? Number(req.headers.get('x-tool-calls') ?? '1') : 0),
    })
  }

  it('Free: 5,000 tool calls a month, hard stop until the 1st; Growth: 200,000', async () => {
    const c = clock(Date.UTC(2026, 0, 31, 23, 0, 0))
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: c.now })
    const plan = apisIo()
    const batch = request('POST', '/api/v1/execute_tool', { headers: { 'x-environment': 'env_free', 'x-tool-calls': '10' } })
    let d = (await decide(limiter, plan, batch)).decision
    for (let i = 1; i < 500; i++) d = (await decide(limiter, plan, batch)).decision
    expect(d).toMatchObject({ allowed: true, remaining: 0, cost: 10, tier: 'free' })
    d = (await decide(limiter, plan, batch)).decision
    expect(d).toMatchObject({ allowed: false, violated: ['tool-calls'], retryAfterMs: 3_600_000 })
    // A read costs no tool call and is not stopped by the quota.
    const list = await decide(limiter, plan, request('GET', '/api/v1/tools', { headers: { 'x-environment': 'env_free' } }))
    expect(list.decision).toMatchObject({ allowed: true, cost: 0 })
    c.set(Date.UTC(2026, 1, 1))
    expect((await decide(limiter, plan, batch)).decision).toMatchObject({ allowed: true, remaining: 4_990 })
    const growth = await decide(limiter, plan, request('POST', '/api/v1/execute_tool', { headers: { 'x-environment': 'env_growth' } }))
    expect(growth.decision).toMatchObject({ tier: 'growth', limit: 200_000, remaining: 199_999 })
  })

  it('a cost above the monthly quota is denied as exceeds-capacity, not thrown', async () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: () => T0 })
    const plan = apisIo()
    const huge = request('POST', '/api/v1/execute_tool', { headers: { 'x-environment': 'env_free', 'x-tool-calls': '5001' } })
    expect((await decide(limiter, plan, huge)).decision).toMatchObject({ allowed: false, reason: 'exceeds-capacity' })
  })
})

describe('providerPlan: tier lookups that fail', () => {
  const plans = (tier: Parameters<typeof providerPlan>[0]['tier']) =>
    providerPlan({
      key: apiKey(),
      tiers: {
        free: { policies: [tokenBucket({ limit: 10, window: '1m' })] },
        pro: { policies: [tokenBucket({ limit: 100, window: '1m' })] },
      },
      tier,
    })

  it('a rejecting lookup rejects the plan with ERR_RK_LOOKUP (never unlimited)', async () => {
    const plan = plans(
      cachedLookup(async () => {
        throw new Error('db down')
      }),
    )
    await expect(plan(request('GET', '/', { headers: { 'x-api-key': 'k' } }))).rejects.toMatchObject({ code: 'ERR_RK_LOOKUP' })
  })

  it('with a fallback tier, the request is decided in that tier', async () => {
    const plan = plans(
      cachedLookup(
        async () => {
          throw new Error('db down')
        },
        { fallback: 'free', onError: () => {} },
      ),
    )
    await expect(plan(request('GET', '/', { headers: { 'x-api-key': 'k' } }))).resolves.toMatchObject({ tier: 'free' })
  })

  it('an unknown tier name is an error, not a default', async () => {
    const plan = plans(async () => 'platinum')
    // The answer is not quoted (a lookup's answers come from request data), the tiers are.
    await expect(plan(request('GET', '/', { headers: { 'x-api-key': 'k' } }))).rejects.toMatchObject({
      code: 'ERR_RK_LOOKUP',
      message: expect.not.stringContaining('platinum'),
    })
    await expect(plan(request('GET', '/', { headers: { 'x-api-key': 'k' } }))).rejects.toThrow(/not one of the tiers/)
    const sync = plans(() => undefined as unknown as string)
    expect(() => sync(request('GET', '/', { headers: { 'x-api-key': 'k' } }))).toThrow(/no tier/)
  })

  it('a request without an IP and without a key fails clearly', () => {
    const plan = plans('free')
    expect(() => plan({ ...request('GET', '/'), ip: undefined })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }))
  })

  it('an address that is no IP address is keyed in one shared bucket and reported through `warn`', () => {
    const plan = plans('free')
    const warnings: string[] = []
    const warn = (code: string) => warnings.push(code)
    const a = plan({ ...request('GET', '/'), ip: 'unknown' }, warn)
    const b = plan({ ...request('GET', '/'), ip: 'not-an-ip' }, warn)
    expect((a as { key: string }).key).toBe((b as { key: string }).key)
    expect(warnings).toEqual(['RK_IP_NOT_AN_ADDRESS', 'RK_IP_NOT_AN_ADDRESS'])
  })

  it('a key function returning a non-string is an error', async () => {
    const plan = providerPlan({ key: () => 42 as unknown as string, limits: { policies: [tokenBucket({ limit: 1, window: '1s' })] } })
    expect(() => plan(request('GET', '/'))).toThrow(/"key" must return a non-empty string/)
  })
})

describe('providerPlan: count modes and costs', () => {
  it('count mode per class', () => {
    const plan = providerPlan({
      classes: { routes: { 'POST /auth/token': 'auth' } },
      limits: { policies: [tokenBucket({ limit: 10, window: '1m' })] },
      countMode: { auth: 'failure' },
    })
    expect(plan(request('POST', '/auth/token'))).toMatchObject({ countMode: 'failure', class: 'auth' })
    expect(plan(request('GET', '/x'))).toMatchObject({ countMode: undefined, class: 'read' })
    const all = providerPlan({ limits: { policies: [tokenBucket({ limit: 10, window: '1m' })] }, countMode: 'success', cost: 3 })
    expect(all(request('GET', '/x'))).toMatchObject({ countMode: 'success', cost: 3 })
  })
})

describe('providerPlan: validation', () => {
  const tb = tokenBucket({ name: 'a', limit: 1, window: '1s' })
  const fails = (options: unknown, pattern: RegExp, code = 'ERR_RK_INVALID_OPTION') => {
    expect(() => providerPlan(options as never)).toThrow(pattern)
    try {
      providerPlan(options as never)
    } catch (error) {
      expect((error as { code: string }).code).toBe(code)
    }
  }

  it('names the option and the value received', () => {
    fails({}, /"limits" or `tiers` is required/)
    fails({ limits: { policies: [tb] }, tiers: {} }, /"limits" must not be given together/)
    fails({ limits: { policies: [] } }, /"limits.policies" must hold at least one policy/)
    fails({ limits: { policies: [{}] } }, /"limits.policies\[0\]" must be a policy/)
    fails({ limits: { policies: [tb, tb] } }, /"limits.policies\[1\].name" must be unique/, 'ERR_RK_DUPLICATE_POLICY')
    fails({ limits: { classes: { read: [tb] } } }, /"limits.classes.write" is missing/)
    fails({ limits: { policies: [tb], classes: { reads: [tb] } } }, /"limits.classes.reads" names a class no request is given/)
    fails({ limits: { policies: [tb], burst: 3 } }, /"limits.burst" is not an option/, 'ERR_RK_UNKNOWN_OPTION')
    fails({ limits: { policies: [tb], also: { reads: [tb] } } }, /"limits.also.reads" names a class no request is given/)
    fails({ limits: { policies: [tb], also: [tb] } }, /"limits.also" must be an object of class/)
    fails({ limits: { policies: [tb], also: { read: [tb] } } }, /"limits.also.read" must not repeat a policy/, 'ERR_RK_DUPLICATE_POLICY')
    fails(
      { limits: { policies: [tb], also: { read: [tokenBucket({ name: tb.name, limit: 1, window: '1s' })] } } },
      /"limits.also.read" must not repeat a policy/,
      'ERR_RK_DUPLICATE_POLICY',
    )
    fails(
      { limits: { policies: [tb], ceiling: [tb] }, team: () => 't' },
      /"limits.ceiling" must not reuse a policy name/,
      'ERR_RK_DUPLICATE_POLICY',
    )
    fails({ limits: { policies: [tb], ceiling: [tokenBucket({ name: 'c', limit: 1, window: '1s' })] } }, /"team" is required/)
    fails({ limits: { policies: [tb] }, team: () => 't' }, /"team" has no use/)
    fails({ tiers: { free: { policies: [tb] } } }, /"tier" must be a tier name or a resolver/)
    fails({ tiers: { free: { policies: [tb] } }, tier: 'pro' }, /"tier" must name one of the tiers \(free\)/)
    fails({ tiers: {}, tier: 'x' }, /"tiers" must hold at least one tier/)
    fails({ tiers: { 'bad\ntier': { policies: [tb] } }, tier: () => 'x' }, /tier names of 1-128 visible ASCII/)
    fails({ limits: { policies: [tb] }, tier: () => 'x' }, /"tier" must be a tier name to report/)
    fails({ limits: { policies: [tb] }, cost: -1 }, /"cost" must be an integer from 0/)
    fails({ limits: { policies: [tb] }, countMode: 'sometimes' }, /"countMode" must be/)
    fails({ limits: { policies: [tb] }, countMode: { login: 'failure' } }, /"countMode.login" must name a request class/)
    fails({ limits: { policies: [tb] }, teamLayer: 'a b' }, /"teamLayer"/)
    fails({ limits: { policies: [tb] }, ipv6Subnet: 8 }, /"ipv6Subnet"/)
    fails({ limits: { policies: [tb] }, key: 'x-api-key' }, /"key" must be a function/)
    fails({ limits: { policies: [tb] }, classes: { routes: { 'GET x': 'read' } } }, /routes\["GET x"\]/)
    fails({ limits: { policies: [tb] }, keys: () => 'x' }, /"keys" is not an option/, 'ERR_RK_UNKNOWN_OPTION')
  })

  it("brings default policies for a limiter made for it (the first tier's first bucket)", () => {
    const plan = providerPlan({
      tiers: { free: { classes: { read: [tb], write: [tb], delete: [tb] } }, pro: { policies: [tb] } },
      tier: () => 'free',
    })
    expect(plan.policies).toEqual([tb])
    expect(plan.tiers).toEqual(['free', 'pro'])
  })

  it('accepts a prebuilt classifier', () => {
    const classes = requestClasses({ routes: { 'POST /auth/token': 'auth' } })
    const plan = providerPlan({ classes, limits: { policies: [tb] } })
    expect(plan.classes).toBe(classes)
  })

  it('builds no policy per request: the same list objects every time', () => {
    const plan = providerPlan({ limits: { policies: [tb] } })
    const a = plan(request('GET', '/a'))
    const b = plan(request('POST', '/b'))
    expect('then' in a).toBe(false)
    expect((a as { policies: unknown }).policies).toBe((b as { policies: unknown }).policies)
  })
})
