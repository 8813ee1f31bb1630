import { afterEach, describe, expect, it } from 'vitest'
import { ALLOWANCES, createApp, TOOL_CALLS } from '../../examples/seeds/apis-io-quotas.js'
import { clock } from '../helpers/clock.js'

// Six hours before May: a monthly hard stop then lasts 21,600 s.
const T0 = Date.UTC(2026, 3, 30, 18, 0, 0)
const MAY = Date.UTC(2026, 4, 1)
const ACCOUNTS = {
  sk_free: { id: 'acct_free', plan: 'free' as const, environment: 'env_a' },
  sk_growth: { id: 'acct_growth', plan: 'growth' as const, environment: 'env_b' },
}
let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await close?.()
  close = undefined
})

function start() {
  const c = clock(T0)
  const built = createApp({ accounts: ACCOUNTS, now: c.now })
  close = built.close
  const call = (method: string, path: string, key: string) =>
    built.app.request(
      path,
      { method, headers: { authorization: `Bearer ${key}` } },
      { incoming: { socket: { remoteAddress: '192.0.2.1' } } },
    )
  return { c, call, ...built }
}

describe('seed: APIs.io quota profile (examples/seeds/apis-io-quotas.ts)', () => {
  it('agent tool calls, Free plan: 5,000 per month with a hard stop until the 1st (UTC)', async () => {
    const { c, call, limiter } = start()
    // 4,995 calls already this month.
    await limiter.consume('account:acct_free', { cost: 4_995, policies: TOOL_CALLS.free })
    for (let i = 0; i < 5; i++) expect((await call('POST', '/api/v1/execute_tool', 'sk_free')).status).toBe(200)
    const stopped = await call('POST', '/api/v1/execute_tool', 'sk_free')
    expect(stopped.status).toBe(429)
    expect(stopped.headers.get('retry-after')).toBe(String((MAY - T0) / 1000))
    expect(stopped.headers.get('x-ratelimit-limit')).toBe('5000')
    expect(stopped.headers.get('x-ratelimit-remaining')).toBe('0')
    expect(stopped.headers.get('x-ratelimit-reset')).toBe(String(MAY / 1000))
    expect(stopped.headers.get('ratelimit-policy')).toBe('"tool-calls";q=5000;w=2592000')
    expect(await stopped.json()).toEqual({ error_code: 'RATE_LIMITED', message: 'Rate limit exceeded. Retry after 21600 seconds.' })
    // The management API is another budget.
    expect((await call('GET', '/api/v1/organizations', 'sk_free')).status).toBe(200)
    // May: a new month, a new allowance.
    c.set(MAY)
    const may = await call('POST', '/api/v1/execute_tool', 'sk_free')
    expect(may.status).toBe(200)
    expect(may.headers.get('x-ratelimit-remaining')).toBe('4999')
  })

  it('agent tool calls, Growth plan: 200,000 per month', async () => {
    const { call } = start()
    const res = await call('POST', '/api/v1/execute_tool', 'sk_growth')
    expect(res.headers.get('x-ratelimit-limit')).toBe('200000')
    expect(res.headers.get('x-ratelimit-remaining')).toBe('199999')
  })

  it('M2M tokens: 10,000 free per month, then billed (never refused)', async () => {
    const { call, limiter } = start()
    await limiter.consume('env:env_a', { cost: 9_999, policies: ALLOWANCES.m2mTokens })
    const last = await call('POST', '/oauth/token', 'sk_free')
    expect(last.status).toBe(200)
    expect(await last.json()).toMatchObject({ token_type: 'Bearer', billable: false })
    for (let i = 0; i < 3; i++) {
      const over = await call('POST', '/oauth/token', 'sk_free')
      expect(over.status).toBe(200)
      expect(await over.json()).toMatchObject({ billable: true })
    }
  })

  it('monthly active users: each user counted once a month against 1,000,000 free', async () => {
    const { c, call } = start()
    const login = async (user: string) => (await call('POST', `/api/v1/users/${user}/sessions`, 'sk_free')).json()
    expect(await login('u1')).toEqual({ session: 'ok', counted: true, billable: false })
    expect(await login('u1')).toEqual({ session: 'ok', counted: false, billable: false })
    expect(await login('u2')).toEqual({ session: 'ok', counted: true, billable: false })
    c.set(MAY)
    expect(await login('u1')).toEqual({ session: 'ok', counted: true, billable: false })
  })

  it('monthly active organizations: 100 free, the 101st is billable', async () => {
    const { usage } = start()
    for (let i = 0; i < 100; i++) expect(await usage.organizationActive('env_a', `org_${i}`)).toMatchObject({ counted: true, free: true })
    expect(await usage.organizationActive('env_a', 'org_0')).toEqual({ counted: false, free: true })
    expect(await usage.organizationActive('env_a', 'org_100')).toMatchObject({ counted: true, free: false })
  })
})
