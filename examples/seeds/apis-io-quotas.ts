// The APIs.io rate-limit profile of Scalekit (seeds/apis-io-scalekit-rate-limit-profile.txt):
// limits in units other than requests, monthly quotas with hard stops, and allowances billed
// beyond the free amount. Reproduced with ratekeeper on Hono (the Fetch adapter):
//
// | limit              | scope       | unit          | allowance                                   |
// | Agent Tool Calls   | account     | requests      | 5,000/month (Free, hard stop); 200,000/month (Growth) |
// | M2M Tokens         | environment | tokens        | 10,000 free per month (then $5 per 1,000)   |
// | Monthly Active Users | environment | users       | 1,000,000 free per month                    |
// | Monthly Active Organizations | environment | organizations | 100 free per month            |
//
// Months are UTC calendar months (`fixedWindow({ window: 'month' })`): a hard stop lasts until
// the 1st, 00:00 UTC, and Retry-After says how long that is. Allowances that are billed beyond
// the free amount never block: a denial from their policy means "billable" instead.
//
//   node --import tsx examples/seeds/apis-io-quotas.ts

import { createServer } from 'node:http'
import { pathToFileURL } from 'node:url'
import { Hono } from 'hono'
import { createLimiter, fixedWindow, type Limiter, type Policy, providerPlan, tokenBucket } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/fetch'

export const TOOL_CALLS = {
  free: [fixedWindow({ name: 'tool-calls', limit: 5_000, window: 'month' })],
  growth: [fixedWindow({ name: 'tool-calls-growth', limit: 200_000, window: 'month' })],
}
/** The management API's request rate (the profile leaves the figure to the provider's docs). */
const MANAGEMENT = [tokenBucket({ name: 'management', limit: 600, window: '1m' })]

/** Free allowances per environment and month; beyond them, usage is billed, never refused. */
export const ALLOWANCES = {
  m2mTokens: [fixedWindow({ name: 'm2m-tokens', limit: 10_000, window: 'month' })],
  mau: [fixedWindow({ name: 'mau', limit: 1_000_000, window: 'month' })],
  mao: [fixedWindow({ name: 'mao', limit: 100, window: 'month' })],
}
/** "Seen this month": once per user (or organization) and month, so each is counted once. */
const FIRST_SEEN = [fixedWindow({ name: 'first-seen', limit: 1, window: 'month' })]

export interface Account {
  readonly id: string
  readonly plan: 'free' | 'growth'
  readonly environment: string
}

/** Counts usage against the allowances, in their own units. */
export function createUsage(limiter: Limiter) {
  const charge = async (subject: string, policies: readonly Policy[], cost = 1) => {
    const d = await limiter.consume(subject, { policies, cost })
    // Denied by an allowance = beyond the free amount: billable, and not counted again.
    return { free: d.allowed, remaining: d.remaining }
  }
  const firstTime = async (subject: string) => (await limiter.consume(subject, { policies: FIRST_SEEN })).allowed
  return {
    /** One M2M access token issued in `environment`. */
    tokenIssued: (environment: string) => charge(`env:${environment}`, ALLOWANCES.m2mTokens),
    /** A user was active; counted once per month. `counted: false` when already seen this month. */
    async userActive(environment: string, userId: string) {
      if (!(await firstTime(`user:${environment}:${userId}`))) return { counted: false, free: true }
      return { counted: true, ...(await charge(`env:${environment}`, ALLOWANCES.mau)) }
    },
    /** An organization was active; counted once per month. */
    async organizationActive(environment: string, orgId: string) {
      if (!(await firstTime(`org:${environment}:${orgId}`))) return { counted: false, free: true }
      return { counted: true, ...(await charge(`env:${environment}`, ALLOWANCES.mao)) }
    },
  }
}

export function createApp(options: { accounts: Readonly<Record<string, Account>>; now?: () => number }) {
  const accountOf = (authorization: string | undefined): Account | undefined => {
    const match = /^Bearer (\S+)$/i.exec(authorization ?? '')
    return match === null ? undefined : options.accounts[match[1]]
  }
  const limiter = createLimiter({ policies: MANAGEMENT, now: options.now })
  const usage = createUsage(limiter)
  const plan = providerPlan({
    // Tool calls are counted per account (an unknown key: per IP, on the free plan).
    key: (_raw, req) => {
      const account = accountOf(req.headers.get('authorization'))
      return account === undefined ? undefined : `account:${account.id}`
    },
    classes: { routes: { 'POST /api/v1/execute_tool': 'tool-call' } },
    tiers: {
      free: { policies: MANAGEMENT, classes: { 'tool-call': TOOL_CALLS.free } },
      growth: { policies: MANAGEMENT, classes: { 'tool-call': TOOL_CALLS.growth } },
    },
    tier: (_key, req) => accountOf(req.headers.get('authorization'))?.plan ?? 'free',
  })

  const app = new Hono()
  app.use('/api/*', rateLimit({ limiter, plan, body: 'scalekit' }))
  app.post('/api/v1/execute_tool', (c) => c.json({ data: { status: 'ok' } }))
  app.get('/api/v1/organizations', (c) => c.json({ organizations: [] }))

  // Client credentials: issuing a token counts against the M2M allowance (billed beyond it).
  app.post('/oauth/token', async (c) => {
    const account = accountOf(c.req.header('authorization'))
    if (account === undefined) return c.json({ error: 'invalid_client' }, 401)
    const { free } = await usage.tokenIssued(account.environment)
    return c.json({ access_token: `at_${crypto.randomUUID()}`, token_type: 'Bearer', expires_in: 3600, billable: !free })
  })
  // A user signed in: an active user this month.
  app.post('/api/v1/users/:id/sessions', async (c) => {
    const account = accountOf(c.req.header('authorization'))
    if (account === undefined) return c.json({ error: 'unauthorized' }, 401)
    const mau = await usage.userActive(account.environment, c.req.param('id'))
    return c.json({ session: 'ok', counted: mau.counted, billable: !mau.free }, 201)
  })
  return { app, limiter, usage, close: () => limiter.close() }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { app } = createApp({ accounts: { sk_demo_free: { id: 'acct_free', plan: 'free', environment: 'env_demo' } } })
  const port = Number(process.env.PORT ?? 3000)
  // A minimal node:http bridge (what @hono/node-server does).
  createServer(async (req, res) => {
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value)
    const response = await app.fetch(new Request(`http://127.0.0.1:${port}${req.url}`, { method: req.method, headers }), { incoming: req })
    res.writeHead(response.status, Object.fromEntries(response.headers)).end(Buffer.from(await response.arrayBuffer()))
  }).listen(port, '127.0.0.1', () => {
    console.log(`Quota example on http://127.0.0.1:${port}`)
    console.log(`  curl -i -X POST http://127.0.0.1:${port}/api/v1/execute_tool -H "Authorization: Bearer sk_demo_free"`)
  })
}
