/**
 * The APIs.io profile of Scalekit (seeds/apis-io-scalekit-rate-limit-profile.txt), line by line,
 * against examples/seeds/apis-io-quotas.ts over real HTTP, on the memory store and on Redis (the
 * limits in a RedisStore, the monthly active users and organizations in Redis sets). Each test
 * quotes the line it checks.
 */
import { afterEach, expect, it } from 'vitest'
import {
  type Account,
  ALLOWANCES,
  createApp,
  FREE_MAU,
  MANAGEMENT,
  nodeListener,
  TOKEN_ENDPOINT,
  TOOL_CALLS,
} from '../../examples/seeds/apis-io-quotas.js'
import { memoryMonthlyDistinct, redisMonthlyDistinct } from '../../examples/seeds/distinct.js'
import { clock } from '../helpers/clock.js'
import { listen, RETRYING, recordingClient } from './seed-http.js'
import { describeEachStore } from './seed-stores.js'

// Six hours before May: a monthly hard stop then lasts 21,600 s.
const T0 = Date.UTC(2026, 3, 30, 18, 0, 0)
const MAY = Date.UTC(2026, 4, 1)
const ACCOUNTS: Record<string, Account> = {
  sk_free: { id: 'acct_free', plan: 'free', environment: 'env_a' },
  sk_free_prod: { id: 'acct_free', plan: 'free', environment: 'env_a_prod' },
  sk_free_ci: { id: 'acct_other', plan: 'free', environment: 'env_a' },
  sk_growth: { id: 'acct_growth', plan: 'growth', environment: 'env_b' },
  sk_enterprise: { id: 'acct_ent', plan: 'enterprise', environment: 'env_c' },
}
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

describeEachStore('seed: APIs.io profile of Scalekit (examples/seeds/apis-io-quotas.ts)', (kind) => {
  async function start() {
    const c = clock(T0)
    const redis = kind.redis()
    const distinct = redis === undefined ? memoryMonthlyDistinct() : redisMonthlyDistinct(redis.client, redis.prefix)
    const built = createApp({ accounts: ACCOUNTS, now: c.now, store: kind.store(), distinct })
    const server = await listen(nodeListener(built.app))
    cleanup.push(built.close, server.close)
    const send = (method: string, path: string, key: string) => server.send(method, path, { headers: { authorization: `Bearer ${key}` } })
    const statuses = async (n: number, method: string, path: string, key: string) => {
      const out: number[] = []
      for (let i = 0; i < n; i++) out.push((await send(method, path, key)).status)
      return out
    }
    return { c, send, statuses, server, distinct, redis, ...built }
  }
  const times = (n: number, status: number) => Array(n).fill(status)
  const TOOL = '/api/v1/execute_tool'
  const ORGS = '/api/v1/organizations'

  it('"Scalekit enforces per-environment API rate limits on its management and auth REST endpoints, returning HTTP 429 when a client exceeds its allowance."', async () => {
    const { send, limiter } = await start()
    await limiter.consume('environment:env_a', { cost: MANAGEMENT[0].burst - 1, policies: MANAGEMENT })
    expect((await send('GET', ORGS, 'sk_free')).status).toBe(200)
    const denied = await send('GET', ORGS, 'sk_free')
    expect(denied.status).toBe(429)
    expect(await denied.json()).toMatchObject({ error_code: 'RATE_LIMITED' })
    // The token endpoint is an auth endpoint of the same environment: refused too.
    const token = await send('POST', '/oauth/token', 'sk_free_ci')
    expect(token.status).toBe(429)
    expect(token.headers['x-ratelimit-limit']).toBe('600')
  })

  it('"Usage allowances (M2M tokens, tool calls, MAU/MAO, connections) also act as plan-level quotas."', async () => {
    const { send, limiter, usage } = await start()
    await limiter.consume('account:acct_free', { cost: 5_000, policies: TOOL_CALLS.free })
    expect((await send('POST', TOOL, 'sk_free')).status).toBe(429)
    await limiter.consume('env:env_a', { cost: 10_000, policies: ALLOWANCES.m2mTokens })
    expect((await send('POST', '/oauth/token', 'sk_free')).json()).toMatchObject({ billable: true })
    for (let i = 0; i < 100; i++) await usage.organizationActive('env_a', `org_${i}`)
    expect(await usage.organizationActive('env_a', 'org_100')).toMatchObject({ counted: true, free: false })
  })

  it('"6 Limits Throttle: 429": every refusal is a 429 with Retry-After', async () => {
    const { send, limiter, statuses } = await start()
    await limiter.consume('account:acct_free', { cost: 5_000, policies: TOOL_CALLS.free })
    await limiter.consume('environment:env_b', { cost: 600, policies: MANAGEMENT })
    await statuses(10, 'POST', '/oauth/token', 'sk_free_prod')
    const refusals = [
      await send('POST', TOOL, 'sk_free'),
      await send('GET', ORGS, 'sk_growth'),
      await send('POST', '/oauth/token', 'sk_free_prod'),
    ]
    for (const r of refusals) {
      expect(r.status).toBe(429)
      expect(r.headers['retry-after']).toMatch(/^[1-9]\d*$/)
      expect(r.json()).toMatchObject({ error_code: 'RATE_LIMITED' })
    }
  })

  it('"Management API Requests environment requests" / "Per-environment request rate on organization/connection/directory/membership endpoints."', async () => {
    const { send, limiter } = await start()
    await limiter.consume('environment:env_a', { cost: 600, policies: MANAGEMENT })
    // Every key of env_a, whichever account, shares the rate…
    expect((await send('GET', ORGS, 'sk_free')).status).toBe(429)
    expect((await send('GET', ORGS, 'sk_free_ci')).status).toBe(429)
    // …the same account's other environment has its own.
    const prod = await send('GET', ORGS, 'sk_free_prod')
    expect(prod.status).toBe(200)
    expect(prod.headers['x-ratelimit-remaining']).toBe('599')
    // Tool calls are not management requests.
    expect((await send('POST', TOOL, 'sk_free')).status).toBe(200)
  })

  it('"Token Endpoint (client credentials) client requests": a limit per client', async () => {
    const { send, statuses } = await start()
    const burst = TOKEN_ENDPOINT[0].burst
    expect(await statuses(burst + 1, 'POST', '/oauth/token', 'sk_free')).toEqual([...times(burst, 200), 429])
    // Another client, same environment: its own allowance.
    expect((await send('POST', '/oauth/token', 'sk_free_ci')).status).toBe(200)
    // Unknown credentials: 401, counted per IP.
    expect((await send('POST', '/oauth/token', 'sk_nobody')).status).toBe(401)
  })

  it('"OAuth 2.0 token issuance at /oauth/token; cache and reuse access tokens until expiry."', async () => {
    const { c, send } = await start()
    const res = await send('POST', '/oauth/token', 'sk_growth')
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({ token_type: 'Bearer', expires_in: 3600, access_token: expect.stringMatching(/^at_/) })
    // A client that reuses its token needs one an hour: well inside the limit, every hour.
    for (let h = 0; h < 24; h++) {
      c.advance(3_600_000)
      expect((await send('POST', '/oauth/token', 'sk_growth')).status).toBe(200)
    }
  })

  it('"M2M Tokens environment tokens" / "10000 free per month (then $5 per 1,000)"', async () => {
    const { c, send, limiter } = await start()
    // 9,999 tokens issued in env_a this month (by any client of the environment).
    await limiter.consume('env:env_a', { cost: 9_999, policies: ALLOWANCES.m2mTokens })
    expect((await send('POST', '/oauth/token', 'sk_free')).json()).toMatchObject({ billable: false })
    // Beyond the free 10,000: issued, and billable, never refused — for every client of env_a.
    expect((await send('POST', '/oauth/token', 'sk_free')).json()).toMatchObject({ billable: true })
    expect((await send('POST', '/oauth/token', 'sk_free_ci')).json()).toMatchObject({ billable: true })
    // Another environment has its own allowance; May brings a new one.
    expect((await send('POST', '/oauth/token', 'sk_free_prod')).json()).toMatchObject({ billable: false })
    c.set(MAY)
    expect((await send('POST', '/oauth/token', 'sk_free')).json()).toMatchObject({ billable: false })
  })

  it('"Agent Tool Calls account requests 5,000/month (Free, hard stop)" and "Tool execution via /api/v1/execute_tool counts against the tool-call allowance."', async () => {
    const { c, send, limiter } = await start()
    // 4,995 calls already this month.
    await limiter.consume('account:acct_free', { cost: 4_995, policies: TOOL_CALLS.free })
    for (let i = 0; i < 5; i++) expect((await send('POST', TOOL, i % 2 ? 'sk_free' : 'sk_free_prod')).status).toBe(200)
    // Per account: the account's keys in both its environments are one allowance.
    const stopped = await send('POST', TOOL, 'sk_free_prod')
    expect(stopped.status).toBe(429)
    expect(stopped.headers['retry-after']).toBe(String((MAY - T0) / 1000))
    expect(stopped.headers['x-ratelimit-limit']).toBe('5000')
    expect(stopped.headers['x-ratelimit-remaining']).toBe('0')
    expect(stopped.headers['x-ratelimit-reset']).toBe(String(MAY / 1000))
    expect(stopped.headers['ratelimit-policy']).toBe('"tool-calls";q=5000;w=2592000')
    expect(stopped.json()).toEqual({ error_code: 'RATE_LIMITED', message: 'Rate limit exceeded. Retry after 21600 seconds.' })
    // Another account of the same environment is not affected.
    expect((await send('POST', TOOL, 'sk_free_ci')).status).toBe(200)
    // May: a new month, a new allowance.
    c.set(MAY)
    const may = await send('POST', TOOL, 'sk_free')
    expect(may.status).toBe(200)
    expect(may.headers['x-ratelimit-remaining']).toBe('4999')
  })

  it('"200,000/month (Growth)"', async () => {
    const { send, limiter } = await start()
    const res = await send('POST', TOOL, 'sk_growth')
    expect(res.headers['x-ratelimit-limit']).toBe('200000')
    expect(res.headers['x-ratelimit-remaining']).toBe('199999')
    await limiter.consume('account:acct_growth', { cost: 199_999, policies: TOOL_CALLS.growth })
    expect((await send('POST', TOOL, 'sk_growth')).status).toBe(429)
  })

  it('"Monthly Active Users (MAU) environment users" / "1,000,000 free per month": each user once a month, per environment', async () => {
    const { c, send } = await start()
    const login = async (user: string, key = 'sk_free') => (await send('POST', `/api/v1/users/${user}/sessions`, key)).json()
    expect(await login('u1')).toEqual({ session: 'ok', counted: true, billable: false })
    expect(await login('u1')).toEqual({ session: 'ok', counted: false, billable: false })
    expect(await login('u1', 'sk_free_ci')).toEqual({ session: 'ok', counted: false, billable: false }) // same environment
    expect(await login('u1', 'sk_free_prod')).toEqual({ session: 'ok', counted: true, billable: false }) // another one
    expect(await login('u2')).toEqual({ session: 'ok', counted: true, billable: false })
    c.set(MAY)
    expect(await login('u1')).toEqual({ session: 'ok', counted: true, billable: false })
    expect((await send('POST', '/api/v1/users/not%20an%20id/sessions', 'sk_free')).status).toBe(400)
  })

  it('"Plan-level quota; usage beyond is billed per MAU.": the 1,000,000th user is free, the next is billed', async () => {
    const { send, usage, redis, c } = await start()
    // 999,999 users already this month, added in bulk (the HTTP route adds one per request).
    if (redis === undefined) {
      for (let i = 0; i < FREE_MAU - 1; i++) await usage.userActive('env_a', `bulk_${i}`)
    } else {
      const key = `${redis.prefix}:{users:env_a}:2026-04`
      for (let i = 0; i < FREE_MAU - 1; i += 10_000) {
        const members = Array.from({ length: Math.min(10_000, FREE_MAU - 1 - i) }, (_, j) => `bulk_${i + j}`)
        await redis.client.sadd(key, ...members)
      }
    }
    const login = async (user: string) => (await send('POST', `/api/v1/users/${user}/sessions`, 'sk_free')).json()
    expect(await login('the_millionth')).toEqual({ session: 'ok', counted: true, billable: false })
    expect(await login('one_more')).toEqual({ session: 'ok', counted: true, billable: true })
    expect(await login('bulk_7')).toEqual({ session: 'ok', counted: false, billable: false })
    expect(await usage.activeUsers('env_a')).toEqual({ count: FREE_MAU + 1, billable: 1 })
    c.set(MAY)
    expect(await usage.activeUsers('env_a')).toEqual({ count: 0, billable: 0 })
  }, 120_000)

  it('"Monthly Active Organizations (MAO) environment organizations" / "100 free per month"', async () => {
    const { usage, c } = await start()
    for (let i = 0; i < 100; i++) expect(await usage.organizationActive('env_a', `org_${i}`)).toMatchObject({ counted: true, free: true })
    expect(await usage.organizationActive('env_a', 'org_0')).toMatchObject({ counted: false, free: true })
    expect(await usage.organizationActive('env_a', 'org_100')).toMatchObject({ counted: true, free: false })
    expect(await usage.organizationActive('env_b', 'org_100')).toMatchObject({ counted: true, free: true })
    c.set(MAY)
    expect(await usage.organizationActive('env_a', 'org_100')).toMatchObject({ counted: true, free: true })
  })

  it('"Tiered Limits" / "Allowances raise as accounts move from Free to Growth and via Enterprise agreements."', async () => {
    const { send } = await start()
    const limits = []
    for (const key of ['sk_free', 'sk_growth', 'sk_enterprise'])
      limits.push(Number((await send('POST', TOOL, key)).headers['x-ratelimit-limit']))
    expect(limits).toEqual([5_000, 200_000, 2_000_000])
  })

  it('"Token Reuse" / "Obtain a client-credentials access token and reuse it until expiry rather than minting one per request."', async () => {
    const { statuses } = await start()
    // A client that mints a token per request is stopped at the token endpoint…
    const burst = TOKEN_ENDPOINT[0].burst
    expect(await statuses(50, 'POST', '/oauth/token', 'sk_growth')).toEqual([...times(burst, 200), ...times(50 - burst, 429)])
    // …while its API requests (with a reused token) go on.
    expect(await statuses(50, 'GET', ORGS, 'sk_growth')).toEqual(times(50, 200))
  })

  it('"Backoff Strategy" / "Clients should implement exponential backoff with jitter and honor Retry-After on 429 responses."', async () => {
    const { c, server, statuses } = await start()
    await statuses(TOKEN_ENDPOINT[0].burst, 'POST', '/oauth/token', 'sk_growth')
    const { api, seen } = recordingClient(server, c, RETRYING)
    const res = await api('/oauth/token', { method: 'POST', headers: { authorization: 'Bearer sk_growth' }, rateLimit: { retry: true } })
    expect(res.status).toBe(200)
    expect(seen).toEqual([429, 200])
    // 30 a minute: the next token 2 s away, and the client waited at least that.
    expect(c.now() - T0).toBeGreaterThanOrEqual(2_000)
  })
})
