/**
 * The two Scalekit pages (seeds/scalekit-api-rate-limits.md, seeds/scalekit-rate-limit-policy.txt),
 * line by line, against examples/seeds/scalekit.ts over real HTTP, on the memory store and on
 * Redis. Each test quotes the line it checks. Lines that are advice with nothing for the server to
 * do ("use batch operations or pagination", "cache API responses", "implement circuit breakers")
 * have no test here.
 */
import { createLimiter, type Limiter, MemoryStore, type Store, tokenBucket } from 'ratekeeper'
import { RateLimitError } from 'ratekeeper/client'
import { afterEach, expect, it } from 'vitest'
import { createApp, ENVIRONMENT_LIMITS } from '../../examples/seeds/scalekit.js'
import { virtualTime } from '../client/helpers.js'
import { clock } from '../helpers/clock.js'
import { listen, PACING, RETRYING, recordingClient, type SeedServer, type SimulatedClock } from './seed-http.js'
import { describeEachStore } from './seed-stores.js'

const T0 = Date.UTC(2026, 2, 1, 10, 0, 0)
const S0 = T0 / 1000
const CLIENTS = {
  skc_app: { clientId: 'skc_app', secret: 's1', environment: 'env_prod' },
  skc_worker: { clientId: 'skc_worker', secret: 's2', environment: 'env_prod' },
  skc_dev: { clientId: 'skc_dev', secret: 's3', environment: 'env_dev' },
  skc_big: { clientId: 'skc_big', secret: 's4', environment: 'env_big' },
}
type ClientId = keyof typeof CLIENTS
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

describeEachStore('seed: Scalekit (examples/seeds/scalekit.ts)', (kind) => {
  async function start(
    upstream: { status: number; headers: Record<string, string> } = { status: 200, headers: {} },
    shared?: { store?: Store; c: SimulatedClock },
  ) {
    const c = shared?.c ?? clock(T0)
    const built = createApp({
      clients: CLIENTS,
      raised: ['env_big'],
      now: c.now,
      store: shared?.store ?? kind.store(),
      callTool: async () => ({ status: upstream.status, headers: new Headers(upstream.headers), json: async () => ({ contacts: 3 }) }),
    })
    const server = await listen(built.app.callback())
    cleanup.push(built.close, server.close)
    return harness(c, server, built.limiter)
  }

  function harness(c: SimulatedClock, server: SeedServer, limiter: Limiter) {
    const requestToken = (clientId: ClientId, from?: string) =>
      server.send('POST', '/oauth/token', {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=client_credentials&client_id=${clientId}&client_secret=${CLIENTS[clientId].secret}`,
        from,
      })
    const token = async (clientId: ClientId) => {
      const res = await requestToken(clientId)
      expect(res.status).toBe(200)
      return res.json<{ access_token: string }>().access_token
    }
    const call = (method: string, path: string, accessToken: string, body?: string) =>
      server.send(method, path, { headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, body })
    const statuses = async (n: number, send: () => ReturnType<typeof call>) => {
      const out: number[] = []
      for (let i = 0; i < n; i++) out.push((await send()).status)
      return out
    }
    /** Spends an environment's per-minute rate down to `leave` requests. */
    const spendEnvironment = async (environment: string, leave: number, tier: 'standard' | 'raised' = 'standard') => {
      const policies = ENVIRONMENT_LIMITS[tier].ceiling
      const { remaining } = await limiter.peek(`environment:${environment}`, { policies })
      await limiter.consume(`environment:${environment}`, { cost: remaining - leave, policies })
    }
    return { c, server, limiter, requestToken, token, call, statuses, spendEnvironment }
  }
  const times = (n: number, status: number) => Array(n).fill(status)
  const ORGS = '/api/v1/organizations'

  // --- seeds/scalekit-api-rate-limits.md ---

  it('"Scalekit applies a rate limit to the API requests from each environment. When a workload exceeds that limit, the API responds with HTTP `429 Too Many Requests`."', async () => {
    const { token, call, spendEnvironment } = await start()
    const app = await token('skc_app')
    const worker = await token('skc_worker')
    await spendEnvironment('env_prod', 2)
    expect((await call('GET', ORGS, app)).status).toBe(200)
    expect((await call('GET', ORGS, worker)).status).toBe(200)
    const denied = await call('GET', ORGS, app)
    expect(denied.status).toBe(429)
    expect(denied.headers['x-ratelimit-limit']).toBe('2000')
    expect((await call('GET', ORGS, worker)).status).toBe(429)
  })

  it('"Scalekit enforces a per-environment request rate, measured in requests per minute."', async () => {
    const { c, token, call, spendEnvironment } = await start()
    const app = await token('skc_app')
    await spendEnvironment('env_prod', 0)
    expect((await call('GET', ORGS, app)).status).toBe(429)
    // 2,000 a minute: one every 30 ms, all of them back after a minute.
    c.advance(30)
    expect((await call('GET', ORGS, app)).status).toBe(200)
    c.advance(60_000)
    const res = await call('GET', ORGS, app)
    expect(res.status).toBe(200)
  })

  it('"Scalekit tunes the limit per account, so high-throughput workloads can need a higher limit than the default."', async () => {
    const { token, call, limiter, spendEnvironment } = await start()
    const big = await token('skc_big')
    const state = await limiter.peek('environment:env_big', { policies: ENVIRONMENT_LIMITS.raised.ceiling })
    expect(state.limit).toBe(10_000)
    await spendEnvironment('env_big', 1, 'raised')
    expect((await call('GET', ORGS, big)).status).toBe(200)
    const denied = await call('GET', ORGS, big)
    expect(denied.status).toBe(429)
    expect(denied.headers['x-ratelimit-limit']).toBe('10000')
  })

  it('"Routing MCP tool calls through Scalekit on top of authentication traffic": both draw on the environment’s rate', async () => {
    const { token, call, limiter } = await start()
    const remaining = async () => (await limiter.peek('environment:env_prod', { policies: ENVIRONMENT_LIMITS.standard.ceiling })).remaining
    const t = await token('skc_app')
    expect(await remaining()).toBe(1999) // the token request
    await call('POST', '/api/v1/execute_tool', t, JSON.stringify({ tool: 'crm_list_contacts' }))
    expect(await remaining()).toBe(1998) // the tool call
  })

  it('"Back off and retry with exponential backoff rather than retrying immediately.": immediate retries are refused and cost nothing', async () => {
    const { c, token, call, statuses } = await start()
    const t = await token('skc_app')
    await statuses(30, () => call('DELETE', `${ORGS}/org_1`, t))
    const denied = await call('DELETE', `${ORGS}/org_1`, t)
    expect(denied.headers['retry-after']).toBe('2')
    expect(await statuses(10, () => call('DELETE', `${ORGS}/org_1`, t))).toEqual(times(10, 429))
    c.advance(2_000)
    expect(await statuses(2, () => call('DELETE', `${ORGS}/org_1`, t))).toEqual([204, 429])
  })

  it('"| `RATE_LIMITED` | Scalekit\'s own rate limit | Reduce the overall request frequency and back off before retrying. |"', async () => {
    const { token, call, statuses } = await start()
    const t = await token('skc_app')
    await statuses(30, () => call('DELETE', `${ORGS}/org_1`, t))
    const denied = await call('DELETE', `${ORGS}/org_1`, t)
    expect(denied.status).toBe(429)
    expect(denied.json()).toEqual({
      error_code: 'RATE_LIMITED',
      message: 'Rate limit exceeded. Retry after 2 seconds.',
      request_id: denied.headers['x-request-id'],
    })
  })

  it('"| `TOOL_ERROR` | The upstream provider rate-limited the tool call | Apply the provider\'s recommended backoff. |"', async () => {
    const { token, call } = await start({ status: 429, headers: { 'retry-after': '30', 'x-ratelimit-remaining': '0' } })
    const t = await token('skc_app')
    const res = await call('POST', '/api/v1/execute_tool', t, JSON.stringify({ tool: 'crm_list_contacts', input: {} }))
    expect(res.status).toBe(429)
    // The provider's recommended backoff, not ours; our own figures still describe our limits.
    expect(res.headers['retry-after']).toBe('30')
    expect(res.headers['x-ratelimit-limit']).toBe('120')
    expect(res.json()).toMatchObject({ error_code: 'TOOL_ERROR' })
    // Scalekit's own limits are not the ones that ran out.
    expect((await call('GET', ORGS, t)).status).toBe(200)
  })

  it('"Review the detailed error in your dashboard’s tool call logs to confirm which provider and which tool triggered the limit."', async () => {
    const { token, call } = await start({ status: 429, headers: { 'retry-after': '5' } })
    const res = await call('POST', '/api/v1/execute_tool', await token('skc_app'), JSON.stringify({ tool: 'crm_list_contacts' }))
    expect(res.json()).toMatchObject({ error_code: 'TOOL_ERROR', tool: 'crm_list_contacts', request_id: res.headers['x-request-id'] })
  })

  it('"Every Scalekit SDK raises a dedicated exception when the API returns `429`. Catch it, read the error code to determine the source"', async () => {
    const own = await start()
    const t = await own.token('skc_app')
    await own.statuses(30, () => own.call('DELETE', `${ORGS}/org_1`, t))
    const options = { retry: false, pace: false } as const
    const { api } = recordingClient(own.server, own.c, options)
    const mine = await api(`${ORGS}/org_1`, { method: 'DELETE', headers: { authorization: `Bearer ${t}` } }).catch((e: unknown) => e)
    expect(mine).toBeInstanceOf(RateLimitError)
    expect(mine).toMatchObject({ status: 429, errorCode: 'RATE_LIMITED', source: 'server' })

    const upstream = await start({ status: 429, headers: { 'retry-after': '30' } })
    const t2 = await upstream.token('skc_app')
    const { api: tools } = recordingClient(upstream.server, own.c, options)
    const theirs = await tools('/api/v1/execute_tool', {
      method: 'POST',
      headers: { authorization: `Bearer ${t2}` },
      body: JSON.stringify({ tool: 'crm_list_contacts' }),
    }).catch((e: unknown) => e)
    expect(theirs).toBeInstanceOf(RateLimitError)
    expect(theirs).toMatchObject({ status: 429, errorCode: 'TOOL_ERROR', source: 'upstream' })
  })

  it('"Use exponential backoff with jitter, and cap the number of retries so a sustained limit doesn’t block your application indefinitely."', async () => {
    const { c, server, token } = await start({ status: 429, headers: { 'retry-after': '30' } })
    const t = await token('skc_app')
    const { api, seen } = recordingClient(server, c, { retry: { retries: 2 }, maxWaitMs: 600_000 })
    const error = await api('/api/v1/execute_tool', {
      method: 'POST',
      headers: { authorization: `Bearer ${t}` },
      body: JSON.stringify({ tool: 'crm_list_contacts' }),
      rateLimit: { retry: true },
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RateLimitError)
    expect(error).toMatchObject({ errorCode: 'TOOL_ERROR', attempts: 3 })
    expect(seen).toEqual(times(3, 429))
  })

  it('"If your workload needs a higher limit, contact Scalekit support … Scalekit reviews the request and adjusts the limit for your account."', async () => {
    const { token, call } = await start()
    const standard = await call('GET', ORGS, await token('skc_app'))
    const raised = await call('GET', ORGS, await token('skc_big'))
    expect(standard.status).toBe(200)
    expect(raised.status).toBe(200)
    // The category buckets are per client; the raised part is the environment's rate.
    expect(ENVIRONMENT_LIMITS.raised.ceiling[0].limit).toBeGreaterThan(ENVIRONMENT_LIMITS.standard.ceiling[0].limit)
  })

  // --- seeds/scalekit-rate-limit-policy.txt ---

  it('"Rate limits are applied per environment": one environment’s traffic never limits another', async () => {
    const { token, call, spendEnvironment } = await start()
    const prod = await token('skc_app')
    const dev = await token('skc_dev')
    await spendEnvironment('env_prod', 0)
    expect((await call('GET', ORGS, prod)).status).toBe(429)
    expect((await call('GET', ORGS, dev)).status).toBe(200)
  })

  it('"- API endpoint: Different endpoints may have different rate limits"', async () => {
    const { token, call } = await start()
    const t = await token('skc_app')
    expect((await call('GET', ORGS, t)).headers['x-ratelimit-limit']).toBe('600')
    expect((await call('POST', ORGS, t)).headers['x-ratelimit-limit']).toBe('120')
    expect((await call('DELETE', `${ORGS}/org_1`, t)).headers['x-ratelimit-limit']).toBe('30')
  })

  it('"- Authentication credentials: Limits are tracked per client_id": API calls and the token endpoint', async () => {
    const { token, call, statuses, requestToken } = await start()
    const app = await token('skc_app')
    const worker = await token('skc_worker')
    await statuses(30, () => call('DELETE', `${ORGS}/org_1`, app))
    expect((await call('DELETE', `${ORGS}/org_1`, app)).status).toBe(429)
    // Another client_id of the same environment, from the same address.
    expect((await call('DELETE', `${ORGS}/org_1`, worker)).status).toBe(204)
    // Two access tokens of one client are one client.
    const again = await token('skc_app')
    expect((await call('DELETE', `${ORGS}/org_1`, again)).status).toBe(429)
    // The token endpoint counts the client_id presented (20 a minute here), whatever the address.
    const tokenRequests = await statuses(20, () => requestToken('skc_worker', '127.0.0.2'))
    expect(tokenRequests).toEqual([...times(19, 200), 429])
    expect((await requestToken('skc_app', '127.0.0.2')).status).toBe(200)
  })

  it('"- Time window: Limits reset after a specific time period"', async () => {
    const { c, token, call, statuses } = await start()
    const t = await token('skc_app')
    expect(await statuses(31, () => call('DELETE', `${ORGS}/org_1`, t))).toEqual([...times(30, 204), 429])
    c.advance(60_000)
    expect(await statuses(31, () => call('DELETE', `${ORGS}/org_1`, t))).toEqual([...times(30, 204), 429])
  })

  it('"Rate limits may vary based on your Scalekit plan."', async () => {
    const { token, call, spendEnvironment } = await start()
    const app = await token('skc_app')
    const big = await token('skc_big')
    await spendEnvironment('env_prod', 0)
    await spendEnvironment('env_big', 7_999, 'raised')
    expect((await call('GET', ORGS, app)).status).toBe(429)
    expect((await call('GET', ORGS, big)).status).toBe(200)
  })

  it('"Maximum number of requests allowed in the current time window" / "Number of requests remaining" / "Unix timestamp when the rate limit window resets"', async () => {
    const { c, token, call, statuses } = await start()
    const t = await token('skc_app')
    const first = await call('GET', ORGS, t)
    expect(first.headers).toMatchObject({ 'x-ratelimit-limit': '600', 'x-ratelimit-remaining': '599', 'x-ratelimit-reset': String(S0 + 1) })
    expect(first.headers.ratelimit).toBeUndefined()
    await statuses(3, () => call('DELETE', `${ORGS}/org_1`, t))
    const del = await call('DELETE', `${ORGS}/org_1`, t)
    const remaining = Number(del.headers['x-ratelimit-remaining'])
    expect(remaining).toBe(26)
    expect(del.headers['x-ratelimit-reset']).toBe(String(S0 + 8)) // 4 deletes at one per 2 s
    expect(await statuses(remaining + 1, () => call('DELETE', `${ORGS}/org_1`, t))).toEqual([...times(remaining, 204), 429])
    c.advance((S0 + 60) * 1000 - c.now())
    expect((await call('DELETE', `${ORGS}/org_1`, t)).headers['x-ratelimit-remaining']).toBe('29')
  })

  it('"When you exceed the rate limit, the API returns a429 Too Many Requests error:" / "Number of seconds to wait before retrying the request"', async () => {
    const { c, token, call, statuses } = await start()
    const t = await token('skc_app')
    await statuses(120, () => call('POST', ORGS, t))
    const denied = await call('POST', ORGS, t)
    expect(denied.status).toBe(429)
    expect(denied.headers['retry-after']).toBe('1') // one every 500 ms, rounded up
    c.advance(Number(denied.headers['retry-after']) * 1000)
    expect((await call('POST', ORGS, t)).status).toBe(201)
    expect((await call('GET', ORGS, t)).headers['retry-after']).toBeUndefined()
  })

  it('"Always check rate limit headers in API responses to avoid hitting limits": a client that does never meets a 429', async () => {
    const { c, server, token } = await start()
    const t = await token('skc_app')
    const { api, seen } = recordingClient(server, c, PACING)
    for (let i = 0; i < 45; i++)
      await (await api(`${ORGS}/org_1`, { method: 'DELETE', headers: { authorization: `Bearer ${t}` } })).arrayBuffer()
    expect(seen).toEqual(times(45, 204))
  })

  it('"When you encounter rate limits, use exponential backoff to retry requests"', async () => {
    const { c, server, token, call, statuses } = await start()
    const t = await token('skc_app')
    await statuses(30, () => call('DELETE', `${ORGS}/org_1`, t))
    const { api, seen } = recordingClient(server, c, RETRYING)
    expect((await api(`${ORGS}/org_1`, { method: 'DELETE', headers: { authorization: `Bearer ${t}` } })).status).toBe(204)
    expect(seen).toEqual([429, 204])
    expect(c.now() - T0).toBeGreaterThanOrEqual(2_000)
  })

  it('"| Read operations | Higher limits |" / "| Write operations | Moderate limits | POST, PUT, PATCH" / "| Delete operations | Lower limits |"', async () => {
    const { token, call } = await start()
    const t = await token('skc_app')
    const limitOf = async (method: string, path: string) => Number((await call(method, path, t)).headers['x-ratelimit-limit'])
    const read = await limitOf('GET', ORGS)
    const write = await limitOf('POST', ORGS)
    const del = await limitOf('DELETE', `${ORGS}/org_1`)
    expect(read).toBeGreaterThan(write)
    expect(write).toBeGreaterThan(del)
    expect(await limitOf('PUT', `${ORGS}/org_1`)).toBe(write)
    expect(await limitOf('PATCH', `${ORGS}/org_1`)).toBe(write)
  })

  it('"| Authentication | Special limits | Token generation and validation endpoints |"', async () => {
    const { server, requestToken, statuses } = await start()
    const issued = await requestToken('skc_app')
    expect(issued.headers['x-ratelimit-limit']).toBe('20')
    const accessToken = issued.json<{ access_token: string }>().access_token
    const introspect = () =>
      server.send('POST', '/oauth/introspect', {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${accessToken}&client_id=skc_app&client_secret=s1`,
      })
    const validated = await introspect()
    expect(validated.json()).toEqual({ active: true, client_id: 'skc_app' })
    expect(validated.headers).toMatchObject({ 'x-ratelimit-limit': '20', 'x-ratelimit-remaining': '18' })
    expect(await statuses(19, introspect)).toEqual([...times(18, 200), 429])
  })

  it('"Add API requests to a queue" / "Process requests at a controlled rate" / "Adjust processing speed based on remaining quota"', async () => {
    // 40 calls wait at once: virtual timers (the earliest fires first), not a clock each sleep pushes.
    const time = virtualTime(T0)
    const { server, token } = await start(undefined, { c: time })
    const t = await token('skc_app')
    const { api, seen } = recordingClient(server, time, {
      queue: { rate: { limit: 30, window: '1m', burst: 1 }, concurrency: 1 },
      maxWaitMs: 120_000,
    })
    const results = await Promise.all(
      Array.from({ length: 40 }, () => api(`${ORGS}/org_1`, { method: 'DELETE', headers: { authorization: `Bearer ${t}` } })),
    )
    expect(results.map((r) => r.status)).toEqual(times(40, 204))
    expect(seen).toEqual(times(40, 204))
    // 30 a minute, one at a time: the 40th went out 78 s after the first.
    expect(time.now() - T0).toBeGreaterThanOrEqual(78_000)
  })

  it('"Use a shared cache (Redis, Memcached) to track API usage" / "Distribute quota across application instances": two servers, one budget', async () => {
    const c = clock(T0)
    // On memory the two servers share one MemoryStore (one process); on Redis, one prefix.
    const store = kind.store() ?? new MemoryStore()
    const a = await start(undefined, { store, c })
    const b = await start(undefined, { store, c })
    const ta = await a.token('skc_app')
    const tb = await b.token('skc_app')
    for (let i = 0; i < 15; i++) {
      expect((await a.call('DELETE', `${ORGS}/org_1`, ta)).status).toBe(204)
      expect((await b.call('DELETE', `${ORGS}/org_1`, tb)).status).toBe(204)
    }
    expect((await a.call('DELETE', `${ORGS}/org_1`, ta)).status).toBe(429)
    expect((await b.call('DELETE', `${ORGS}/org_1`, tb)).status).toBe(429)
    // On the client side: two processes sharing one outgoing budget in Redis.
    const budget = createLimiter({
      store,
      now: c.now,
      sleep: async (ms) => c.advance(ms),
      policies: [tokenBucket({ name: 'outgoing', limit: 10, window: '1m' })],
    })
    const clients = [a, b].map((s) => recordingClient(s.server, c, { limiter: budget, key: () => 'scalekit-api' }).api)
    const before = c.now()
    for (let i = 0; i < 12; i++)
      await (await clients[i % 2](ORGS, { headers: { authorization: `Bearer ${i % 2 ? tb : ta}` } })).arrayBuffer()
    // 12 calls against a shared 10 a minute: the last two waited for the budget.
    expect(c.now() - before).toBeGreaterThanOrEqual(6_000)
    await budget.close()
  })

  it('"Log rate limit headers from API responses" / "Alert when remaining quota drops below a threshold" / "Track 429 errors"', async () => {
    const { token, call, statuses, limiter } = await start()
    const limited: string[] = []
    const low: number[] = []
    limiter.on('limited', (d) => limited.push(...d.violated))
    limiter.on('decision', (d) => {
      if (d.allowed && d.remaining < 3) low.push(d.remaining)
    })
    const t = await token('skc_app')
    await statuses(32, () => call('DELETE', `${ORGS}/org_1`, t))
    expect(low).toEqual([2, 1, 0])
    expect(limited).toEqual(['delete', 'delete'])
  })
})
