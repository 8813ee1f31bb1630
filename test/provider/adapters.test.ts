/**
 * The seeds' provider policies on every adapter (Express 4/5, Koa 2/3, Fastify 4/5, Fetch plain
 * and Hono): each scenario runs the same requests on every framework, asserts the documented
 * numbers and shapes, and the transcripts are compared across frameworks at the end.
 */
import { afterAll, describe, expect, it, vi } from 'vitest'
import { apiKey } from '../../src/http/keys.js'
import { createLimiter, type Decision, fixedWindow, type Limiter, tokenBucket } from '../../src/index.js'
import { cachedLookup, providerPlan, tierByPrefix } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'
import { FRAMEWORKS, type Framework, gate, makeApp, type Reply, type TestApp } from './harness.js'
import { managedDevPlan } from './helpers.js'

/** A whole second, so reset figures are easy to read: 2026-06-23T05:20:00Z = 1782192000. */
const T0 = 1_782_192_000_000
const S0 = T0 / 1000

const transcripts = new Map<string, Map<Framework, Reply[]>>()
function record(scenario: string, framework: Framework, replies: Reply[]): void {
  let byFramework = transcripts.get(scenario)
  if (byFramework === undefined) {
    byFramework = new Map()
    transcripts.set(scenario, byFramework)
  }
  byFramework.set(framework, replies)
}

const apps: TestApp[] = []
async function open(framework: Framework, setup: Parameters<typeof makeApp>[1]): Promise<TestApp> {
  const app = await makeApp(framework, setup)
  apps.push(app)
  return app
}
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()))
})

const bearer = (token: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra })
const limiterAt = (now: () => number, extra: Partial<Parameters<typeof createLimiter>[0]> = {}) =>
  createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now, ...extra })

/** A tiny metrics exporter: 429s per policy, decisions, near-limit warnings (Scalekit's monitoring advice). */
function metrics(limiter: Limiter) {
  const limitedByPolicy: Record<string, number> = {}
  const counts = { decisions: 0, nearLimit: 0, dryRun: 0 }
  limiter.on('decision', () => counts.decisions++)
  limiter.on('near-limit', () => counts.nearLimit++)
  limiter.on('limited', (d: Decision) => {
    if (d.dryRun) counts.dryRun++
    for (const name of d.violated) limitedByPolicy[name] = (limitedByPolicy[name] ?? 0) + 1
  })
  return { limitedByPolicy, counts }
}

// ---------------------------------------------------------------- skakio

function skakioPlan() {
  const auth = tokenBucket({ name: 'auth', limit: 10, window: '1s', burst: 20 })
  return providerPlan({
    key: apiKey({ bearer: true }),
    classes: { routes: { 'POST /auth/token': 'auth', 'POST /auth/validate': 'auth', 'POST /auth/refresh': 'auth' } },
    tiers: {
      public_key: {
        policies: [
          tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 }),
          fixedWindow({ name: 'per-day', limit: 10_000, window: '1d' }),
        ],
        classes: { auth: [auth] },
      },
      secret_key: {
        policies: [
          tokenBucket({ name: 'per-minute', limit: 1_000, window: '1m', burst: 1_500 }),
          fixedWindow({ name: 'per-day', limit: 100_000, window: '1d' }),
        ],
        classes: { auth: [auth] },
      },
    },
    tier: tierByPrefix({ pk_: 'public_key', sk_: 'secret_key' }, { otherwise: 'public_key' }),
  })
}

describe.each(FRAMEWORKS)('provider features on %s', (framework) => {
  it('skakio: tiers by key prefix, headers with X-RateLimit-Tier, the 429 body with the tier, stricter auth endpoints, events', async () => {
    const c = clock(T0)
    const limiter = limiterAt(c.now, { nearLimit: 10 })
    const m = metrics(limiter)
    const app = await open(framework, { options: { limiter, plan: skakioPlan(), body: 'skakio', requestId: 'x-request-id' } })
    const replies: Reply[] = []
    const pk = bearer('pk_live_4f2a')

    const first = await app.request('GET', '/v1/runs', pk)
    replies.push(first)
    expect(first.status).toBe(200)
    expect(first.headers).toMatchObject({ 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '149', 'x-ratelimit-tier': 'public_key' })
    expect(first.headers['x-ratelimit-reset']).toBe(String(S0 + 1))
    // The IETF fields carry every policy of the tier.
    expect(first.headers['ratelimit-policy']).toBe('"per-minute";q=100;w=60, "per-day";q=10000;w=86400')
    for (let i = 1; i < 150; i++) expect((await app.request('GET', '/v1/runs', pk)).status).toBe(200)
    const limited = await app.request('GET', '/v1/runs', pk)
    replies.push(limited)
    expect(limited.status).toBe(429)
    expect(limited.headers).toMatchObject({ 'retry-after': '1', 'x-ratelimit-remaining': '0', 'x-ratelimit-tier': 'public_key' })
    expect(JSON.parse(limited.body)).toEqual({
      code: 429,
      status: 'error',
      error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Rate limit exceeded. Retry after 1 second.', tier: 'public_key' },
    })

    // Secret keys: 10x the rate of public keys.
    const sk = await app.request('GET', '/v1/runs', bearer('sk_live_9c1d'))
    replies.push(sk)
    expect(sk.headers).toMatchObject({ 'x-ratelimit-limit': '1000', 'x-ratelimit-remaining': '1499', 'x-ratelimit-tier': 'secret_key' })

    // Auth endpoints: 10 req/s, burst 20, whatever the key's own bucket says.
    for (let i = 0; i < 20; i++) expect((await app.request('POST', '/auth/token', pk)).status).toBe(200)
    const authLimited = await app.request('POST', '/auth/token', pk)
    replies.push(authLimited)
    expect(authLimited.status).toBe(429)
    expect(authLimited.headers).toMatchObject({ 'x-ratelimit-limit': '10', 'retry-after': '1' })
    c.advance(100)
    expect((await app.request('POST', '/auth/token', pk)).status).toBe(200)

    expect(m.limitedByPolicy).toEqual({ 'per-minute': 1, auth: 1 })
    expect(m.counts.decisions).toBe(1 + 149 + 1 + 1 + 20 + 1 + 1)
    expect(m.counts.nearLimit).toBeGreaterThan(0)
    record('skakio', framework, replies)
  })

  it('managed.dev: read/write/create buckets, the 429 envelope, a team ceiling across keys, GET /v1/rate-limits', async () => {
    const c = clock(T0)
    const limiter = limiterAt(c.now)
    const teams: Record<string, string> = {
      'key:mfk_live_1': 'acme',
      'key:mfk_live_2': 'acme',
      'key:g1': 'globex',
      'key:g2': 'globex',
      'key:g3': 'globex',
    }
    const plan = managedDevPlan(cachedLookup(async (key) => teams[key]))
    // The plan's ceiling, rebuilt: a policy's identity is its name and numbers, so this one reads the same state.
    const ceiling = [tokenBucket({ name: 'team', limit: 5_000, window: '1m' })]
    const app = await open(framework, {
      options: {
        limiter,
        plan,
        headers: { standard: false },
        body: { format: 'managed-dev', docUrl: 'https://docs.managed.dev/reference/error-codes/#rate_limit.exceeded' },
        requestId: 'x-request-id',
      },
      introspection: { limiter, plan, requestId: 'x-request-id' },
    })
    const replies: Reply[] = []
    const k1 = bearer('mfk_live_1', { 'x-request-id': 'req_01J9F2KQ' })

    const read = await app.request('GET', '/v1/runs', k1)
    replies.push(read)
    expect(read.headers).toEqual({ 'x-ratelimit-limit': '1000', 'x-ratelimit-remaining': '999', 'x-ratelimit-reset': String(S0 + 1) })
    for (let i = 0; i < 5; i++) expect((await app.request('POST', '/v1/jobs', k1)).status).toBe(201)
    const limited = await app.request('POST', '/v1/jobs', k1)
    replies.push(limited)
    expect(limited.status).toBe(429)
    expect(limited.headers).toEqual({
      'retry-after': '12',
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(S0 + 60),
      'content-type': 'application/json',
    })
    expect(JSON.parse(limited.body)).toEqual({
      error: {
        type: 'rate_limit',
        code: 'rate_limit.exceeded',
        message: 'rate limit exceeded; retry after 12s',
        doc_url: 'https://docs.managed.dev/reference/error-codes/#rate_limit.exceeded',
      },
      request_id: 'req_01J9F2KQ',
    })
    const del = await app.request('DELETE', '/v1/runs/run_42', k1)
    replies.push(del)
    expect(del.headers['x-ratelimit-limit']).toBe('100')

    // Team ceiling: globex has 10 requests left; three keys share them, all-or-nothing.
    await limiter.consume('team:globex', { policies: ceiling, cost: 4_990, tag: 'team:globex' })
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) {
      const r = await app.request('GET', '/v1/runs', bearer(`g${(i % 3) + 1}`))
      statuses.push(r.status)
      if (i === 10) {
        replies.push(r)
        expect(r.headers).toMatchObject({ 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0', 'retry-after': '1' })
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 429])

    // Introspection: peeks (the middleware charged this GET as a read, nothing more).
    const state = await app.request('GET', '/v1/rate-limits', k1)
    replies.push(state)
    expect(state.status).toBe(200)
    expect(state.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(JSON.parse(state.body)).toEqual({
      data: {
        buckets: [
          { class: 'read', limit: 1_000, remaining: 998, reset: S0 + 1 },
          { class: 'write', limit: 100, remaining: 99, reset: S0 + 1 },
          { class: 'create', limit: 5, remaining: 0, reset: S0 + 60 },
        ],
        team_ceiling: { limit: 5_000, remaining: 4_992, reset: S0 + 1 },
      },
      request_id: 'req_01J9F2KQ',
    })
    record('managed.dev', framework, replies)
  })

  it('Scalekit: endpoint categories per client_id, an environment ceiling, RATE_LIMITED vs an upstream TOOL_ERROR', async () => {
    const limiter = limiterAt(() => T0)
    const plan = providerPlan({
      key: (_raw, req) => {
        const id = req.headers.get('x-client-id')
        return id === undefined ? undefined : `client:${id}`
      },
      classes: { routes: { 'POST /auth/token': 'auth', 'POST /api/v1/execute_tool': 'write' } },
      limits: {
        classes: {
          read: [tokenBucket({ name: 'read', limit: 600, window: '1m' })],
          write: [tokenBucket({ name: 'write', limit: 120, window: '1m' })],
          delete: [tokenBucket({ name: 'delete', limit: 10, window: '1m' })],
          auth: [tokenBucket({ name: 'auth', limit: 30, window: '1m' })],
        },
        ceiling: [tokenBucket({ name: 'environment', limit: 3_000, window: '1m' })],
      },
      team: (key) => (key.startsWith('client:skc_prod_') ? 'prod' : 'dev'),
      teamLayer: 'environment',
    })
    const app = await open(framework, { options: { limiter, plan, body: 'scalekit', requestId: 'x-request-id' } })
    const replies: Reply[] = []
    const client = { 'x-client-id': 'skc_prod_123', 'x-request-id': 'req_sk_1' }
    for (let i = 0; i < 10; i++) expect((await app.request('DELETE', `/v1/runs/r${i}`, client)).status).toBe(200)
    const limited = await app.request('DELETE', '/v1/runs/r10', client)
    replies.push(limited)
    expect(limited.status).toBe(429)
    expect(limited.headers).toMatchObject({ 'retry-after': '6', 'x-ratelimit-limit': '10' })
    expect(JSON.parse(limited.body)).toEqual({
      error_code: 'RATE_LIMITED',
      message: 'Rate limit exceeded. Retry after 6 seconds.',
      request_id: 'req_sk_1',
    })
    // Reads are a category of their own.
    const read = await app.request('GET', '/v1/runs', client)
    replies.push(read)
    expect(read.headers).toMatchObject({ 'x-ratelimit-limit': '600', 'x-ratelimit-remaining': '599' })
    expect(read.headers.ratelimit).toBe('"read";r=599;t=1, "environment";r=2989;t=1')

    // The upstream provider limited the tool call: our own limit admitted it (our headers say so).
    const upstream = await app.request('POST', '/api/v1/execute_tool', { ...client, 'x-upstream-retry-after': '30' })
    replies.push(upstream)
    expect(upstream.status).toBe(429)
    expect(upstream.headers).toMatchObject({ 'retry-after': '30', 'x-ratelimit-limit': '120', 'x-ratelimit-remaining': '119' })
    const body = JSON.parse(upstream.body)
    expect(body).toMatchObject({ error_code: 'TOOL_ERROR', provider: 'crm', tool: 'list_contacts', request_id: 'req_sk_1' })
    record('scalekit', framework, replies)
  })

  it('APIs.io: tool calls as cost against a calendar-month quota with a hard stop', async () => {
    const c = clock(Date.UTC(2026, 5, 30, 23, 0, 0))
    const limiter = limiterAt(c.now)
    const perMinute = tokenBucket({ name: 'requests', limit: 600, window: '1m' })
    const plan = providerPlan({
      key: apiKey({ header: 'x-environment' }),
      classes: { routes: { 'POST /api/v1/execute_tool': 'tool-call' } },
      tiers: {
        free: {
          policies: [perMinute],
          classes: { 'tool-call': [perMinute, fixedWindow({ name: 'tool-calls', limit: 5_000, window: 'month' })] },
        },
        growth: {
          policies: [perMinute],
          classes: { 'tool-call': [perMinute, fixedWindow({ name: 'tool-calls', limit: 200_000, window: 'month' })] },
        },
      },
      tier: tierByPrefix({ env_free_: 'free', env_growth_: 'growth' }),
      cost: (req, cls) => (cls === 'tool-call' ? Number(req.headers.get('x-tool-calls') ?? '1') : 1),
    })
    const app = await open(framework, { options: { limiter, plan, headers: { standard: false }, requestId: 'x-request-id' } })
    const replies: Reply[] = []
    const free = { 'x-environment': 'env_free_1', 'x-tool-calls': '250' }
    // 250 tool calls in one batch costs 250 of the 600/min request rate too: fine for 2 batches a minute.
    for (let i = 0; i < 20; i++) {
      const r = await app.request('POST', '/api/v1/execute_tool', free)
      expect(r.status).toBe(200)
      c.advance(30_000)
    }
    c.set(Date.UTC(2026, 5, 30, 23, 30, 0))
    const stopped = await app.request('POST', '/api/v1/execute_tool', { ...free, 'x-tool-calls': '1' })
    replies.push(stopped)
    expect(stopped.status).toBe(429)
    // A hard stop until the 1st, 00:00 UTC.
    expect(stopped.headers).toMatchObject({
      'retry-after': '1800',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-tier': 'free',
    })
    expect(JSON.parse(stopped.body)).toMatchObject({ status: 429, 'violated-policies': ['tool-calls'], 'retry-after': 1800 })
    const growth = await app.request('POST', '/api/v1/execute_tool', { 'x-environment': 'env_growth_1', 'x-tool-calls': '3' })
    replies.push(growth)
    expect(growth.headers).toMatchObject({ 'x-ratelimit-tier': 'growth', 'x-ratelimit-remaining': '597' })
    c.set(Date.UTC(2026, 6, 1))
    expect((await app.request('POST', '/api/v1/execute_tool', free)).status).toBe(200)
    record('apis.io', framework, replies)
  })

  it('class routing: spellings of an auth route are still the auth class', async () => {
    const limiter = limiterAt(() => T0)
    const plan = providerPlan({
      classes: { routes: { 'POST /auth/token': 'auth' } },
      limits: {
        policies: [tokenBucket({ name: 'api', limit: 100, window: '1m' })],
        classes: { auth: [tokenBucket({ name: 'auth', limit: 3, window: '1m' })] },
      },
    })
    const app = await open(framework, { options: { limiter, plan, requestId: 'x-request-id' } })
    const replies: Reply[] = []
    for (const path of ['/auth/token', '/Auth/Token', '/auth/token/', '/%61uth/token']) {
      const r = await app.request('POST', path)
      // Fastify and Hono route case-sensitively (404), the others answer; either way the auth bucket counts it.
      replies.push({ ...r, status: 0, body: '' })
    }
    expect(replies.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0', '0'])
    expect(replies[3].headers['retry-after']).toBe('20')
    record('class-routing', framework, replies)
  })

  it('tier lookups that fail: a 500 through the framework (never hung, never unlimited), or the fallback tier', async () => {
    const limiter = limiterAt(() => T0)
    const tiers = {
      free: { policies: [tokenBucket({ name: 'free', limit: 10, window: '1m' })] },
      pro: { policies: [tokenBucket({ name: 'pro', limit: 100, window: '1m' })] },
    }
    const failing = providerPlan({
      key: apiKey(),
      tiers,
      tier: cachedLookup(async () => {
        throw new Error('plans database unreachable')
      }),
    })
    const app = await open(framework, { options: { limiter, plan: failing } })
    const r = await app.request('GET', '/v1/runs', { 'x-api-key': 'acct_1' })
    expect(r.status).toBe(500)
    expect(r.body).not.toContain('plans database')
    const onError = vi.fn()
    const degraded = providerPlan({
      key: apiKey(),
      tiers,
      tier: cachedLookup(
        async () => {
          throw new Error('plans database unreachable')
        },
        { fallback: 'free', onError },
      ),
    })
    const app2 = await open(framework, { options: { limiter, plan: degraded } })
    const ok = await app2.request('GET', '/v1/runs', { 'x-api-key': 'acct_1' })
    expect(ok.status).toBe(200)
    expect(ok.headers).toMatchObject({ 'x-ratelimit-tier': 'free', 'x-ratelimit-limit': '10' })
    expect(onError).toHaveBeenCalledTimes(1)
    // The 500 page is the framework's own: only its status is compared.
    record('tier-failure', framework, [{ status: r.status, headers: {}, body: '' }, ok])
  })

  it('count mode failure (failed logins), a success refunded, an aborted request not refunded', async () => {
    const limiter = limiterAt(() => T0)
    const logins = fixedWindow({ name: 'logins', limit: 3, window: '15m' })
    const plan = providerPlan({
      classes: { routes: { 'POST /auth/token': 'auth', 'GET /slow': 'auth' } },
      limits: { policies: [tokenBucket({ name: 'api', limit: 100, window: '1m' })], classes: { auth: [logins] } },
      countMode: { auth: 'failure' },
    })
    const g = gate()
    const app = await open(framework, { options: { limiter, plan, requestId: 'x-request-id' }, gate: g })
    const remaining = async () => (await limiter.peek(`ip:127.0.0.1`, { cost: 0, policies: [logins] })).remaining
    const replies: Reply[] = []
    for (let i = 0; i < 5; i++) {
      const r = await app.request('POST', '/auth/token')
      expect(r.status).toBe(200)
      if (i === 0) replies.push(r)
    }
    // Each success is refunded when its response finishes.
    await vi.waitFor(async () => expect(await remaining()).toBe(3))
    // A client that hangs up is not refunded, whatever the status would have been.
    await app.abortSlow({ 'x-status': '200' })
    expect(await remaining()).toBe(2)
    const r401 = await app.request('POST', '/auth/token', { 'x-status': '401' })
    replies.push(r401)
    expect(r401.status).toBe(401)
    expect(await app.request('POST', '/auth/token', { 'x-status': '401' })).toMatchObject({ status: 401 })
    const locked = await app.request('POST', '/auth/token', { 'x-status': '200' })
    replies.push(locked)
    expect(locked.status).toBe(429)
    expect(await remaining()).toBe(0)
    record('count-mode', framework, replies)
  })

  it('dry run: over the limit, requests still pass with headers and limited events', async () => {
    const limiter = limiterAt(() => T0, { dryRun: true })
    const m = metrics(limiter)
    const plan = providerPlan({ key: apiKey(), limits: { policies: [tokenBucket({ name: 'new-limit', limit: 3, window: '1m' })] } })
    const app = await open(framework, { options: { limiter, plan, requestId: 'x-request-id' } })
    const replies: Reply[] = []
    for (let i = 0; i < 5; i++) replies.push(await app.request('GET', '/v1/runs', { 'x-api-key': 'k' }))
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    expect(replies.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0', '0', '0'])
    expect(replies[4].headers['retry-after']).toBeUndefined()
    expect(m.counts.dryRun).toBe(2)
    expect(m.limitedByPolicy).toEqual({ 'new-limit': 2 })
    record('dry-run', framework, replies)
  })
})

describe('every framework answers identically', () => {
  it.each(['skakio', 'managed.dev', 'scalekit', 'apis.io', 'class-routing', 'tier-failure', 'count-mode', 'dry-run'])('%s', (scenario) => {
    const byFramework = transcripts.get(scenario)
    expect(byFramework?.size).toBe(FRAMEWORKS.length)
    const reference = byFramework?.get('express5')
    for (const framework of FRAMEWORKS) expect(byFramework?.get(framework), framework).toEqual(reference)
  })
})
