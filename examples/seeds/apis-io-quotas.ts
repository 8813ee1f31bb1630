// The APIs.io rate-limit profile of Scalekit (seeds/apis-io-scalekit-rate-limit-profile.txt):
// limits in units other than requests, monthly quotas with hard stops, and allowances billed
// beyond the free amount. Reproduced with ratekeeper on Hono (the Fetch adapter):
//
// | limit              | scope       | unit          | allowance                                   |
// | Management API     | environment | requests      | a per-environment request rate (here 600/min) |
// | Token endpoint     | client      | requests      | per client (here 30/min, burst 10), within the environment's rate |
// | Agent Tool Calls   | account     | requests      | 5,000/month (Free, hard stop); 200,000/month (Growth) |
// | M2M Tokens         | environment | tokens        | 10,000 free per month (then $5 per 1,000)   |
// | Monthly Active Users | environment | users       | 1,000,000 free per month                    |
// | Monthly Active Organizations | environment | organizations | 100 free per month            |
//
// Months are UTC calendar months (`fixedWindow({ window: 'month' })`): a hard stop lasts until
// the 1st, 00:00 UTC, and Retry-After says how long that is. Allowances that are billed beyond
// the free amount never block: a denial from their policy means "billable" instead. Monthly
// active users and organizations are distinct counts, exact (a set per environment and month in
// memory or in Redis: see ./distinct.ts), never a rate limiter's keys, which a bounded store evicts.
//
//   node --import tsx examples/seeds/apis-io-quotas.ts                                 # memory
//   REDIS_URL=redis://127.0.0.1:6379 node --import tsx examples/seeds/apis-io-quotas.ts  # Redis

import { createServer, type IncomingMessage, type RequestListener } from 'node:http'
import { pathToFileURL } from 'node:url'
import { Hono } from 'hono'
import { createLimiter, fixedWindow, type Limiter, type Policy, type Store, tokenBucket } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/fetch'
import { providerPlan, requestClasses } from 'ratekeeper/provider'
import { type MonthlyDistinct, memoryMonthlyDistinct, redisMonthlyDistinct } from './distinct.js'
import { redisFromEnvironment } from './redis.js'

export const TOOL_CALLS = {
  free: [fixedWindow({ name: 'tool-calls', limit: 5_000, window: 'month' })],
  growth: [fixedWindow({ name: 'tool-calls-growth', limit: 200_000, window: 'month' })],
  enterprise: [fixedWindow({ name: 'tool-calls-enterprise', limit: 2_000_000, window: 'month' })],
}
/**
 * The management API's request rate, per environment (the profile leaves the figure to the
 * provider's docs): every key of an environment draws on it, and nothing else does.
 */
export const MANAGEMENT = [tokenBucket({ name: 'management', limit: 600, window: '1m' })]
/**
 * The client-credentials token endpoint, per client (here: an API key of an account in one
 * environment). A client that reuses its token until it expires needs one an hour.
 */
export const TOKEN_ENDPOINT = [tokenBucket({ name: 'token-endpoint', limit: 30, window: '1m', burst: 10 })]

/** Free allowances per environment and month; beyond them, usage is billed, never refused. */
export const ALLOWANCES = {
  m2mTokens: [fixedWindow({ name: 'm2m-tokens', limit: 10_000, window: 'month' })],
}
/** Monthly active users (organizations) free per environment: distinct ones, counted once a month. */
export const FREE_MAU = 1_000_000
export const FREE_MAO = 100
/** User and organization ids: what the distinct counts remember (bounded, so memory per member is). */
const MEMBER_ID = /^[A-Za-z0-9_-]{1,64}$/

export interface Account {
  readonly id: string
  readonly plan: 'free' | 'growth' | 'enterprise'
  readonly environment: string
}

/** Counts usage against the allowances, in their own units. */
export function createUsage(limiter: Limiter, distinct: MonthlyDistinct, now: () => number) {
  const charge = async (subject: string, policies: readonly Policy[], cost = 1) => {
    const d = await limiter.consume(subject, { policies, cost })
    // Denied by an allowance = beyond the free amount: billable, and not counted again.
    return { free: d.allowed, remaining: d.remaining }
  }
  const active = async (kind: 'users' | 'organizations', environment: string, id: string, free: number) => {
    const { added, count } = await distinct.add(`${kind}:${environment}`, id, now())
    // Once a month per member; the free allowance covers the first `free` distinct members.
    return added ? { counted: true, free: count <= free, count } : { counted: false, free: true, count }
  }
  return {
    /** One M2M access token issued in `environment`. */
    tokenIssued: (environment: string) => charge(`env:${environment}`, ALLOWANCES.m2mTokens),
    /** A user was active; counted once per month. `counted: false` when already seen this month. */
    userActive: (environment: string, userId: string) => active('users', environment, userId, FREE_MAU),
    /** An organization was active; counted once per month. */
    organizationActive: (environment: string, orgId: string) => active('organizations', environment, orgId, FREE_MAO),
    /** This month's monthly active users of `environment`, and how many of them are billed. */
    async activeUsers(environment: string) {
      const count = await distinct.count(`users:${environment}`, now())
      return { count, billable: Math.max(0, count - FREE_MAU) }
    },
  }
}

export interface ApisIoOptions {
  /** Accounts by API key: the account, its plan, and the environment the key belongs to. */
  accounts: Readonly<Record<string, Account>>
  now?: () => number
  /** Where the limits are kept: the default is a `MemoryStore`; a `RedisStore` shares them across servers. */
  store?: Store
  /** Where monthly active users and organizations are counted. @default memoryMonthlyDistinct() */
  distinct?: MonthlyDistinct
}

export function createApp(options: ApisIoOptions) {
  const accountOf = (authorization: string | undefined): Account | undefined => {
    const match = /^Bearer (\S+)$/i.exec(authorization ?? '')
    return match === null || !Object.hasOwn(options.accounts, match[1]) ? undefined : options.accounts[match[1]]
  }
  const now = options.now ?? Date.now
  const limiter = createLimiter({ policies: MANAGEMENT, now: options.now, store: options.store })
  const usage = createUsage(limiter, options.distinct ?? memoryMonthlyDistinct(), now)
  const classes = requestClasses({ routes: { 'POST /api/v1/execute_tool': 'tool-call' } })
  const plan = providerPlan({
    // Tool calls count per account; the management API per environment. A request without a
    // known key counts per IP (on the free plan), and is then refused with 401.
    key: (_raw, req) => {
      const account = accountOf(req.headers.get('authorization'))
      if (account === undefined) return undefined
      return classes.classify(req) === 'tool-call' ? `account:${account.id}` : `environment:${account.environment}`
    },
    classes,
    tiers: {
      free: { policies: MANAGEMENT, classes: { 'tool-call': TOOL_CALLS.free } },
      growth: { policies: MANAGEMENT, classes: { 'tool-call': TOOL_CALLS.growth } },
      enterprise: { policies: MANAGEMENT, classes: { 'tool-call': TOOL_CALLS.enterprise } },
    },
    tier: (_key, req) => accountOf(req.headers.get('authorization'))?.plan ?? 'free',
  })
  // The token endpoint: per client, and (an auth endpoint) within its environment's rate too.
  const tokenPlan = providerPlan({
    key: (_raw, req) => {
      const account = accountOf(req.headers.get('authorization'))
      return account === undefined ? undefined : `client:${account.id}:${account.environment}`
    },
    limits: { policies: TOKEN_ENDPOINT, ceiling: MANAGEMENT },
    team: (_key, req) => accountOf(req.headers.get('authorization'))?.environment,
    teamLayer: 'environment',
  })

  const app = new Hono()
  app.use('/api/*', rateLimit({ limiter, plan, body: 'scalekit' }))
  app.use('/oauth/token', rateLimit({ limiter, plan: tokenPlan, body: 'scalekit' }))
  // The API needs a key of an account: without one a request is on no account and no
  // environment. It has been counted by IP above, and is refused.
  app.use('/api/*', async (c, next) => {
    if (accountOf(c.req.header('authorization')) === undefined) {
      return c.json({ error_code: 'UNAUTHENTICATED', message: 'An API key of an account is required.' }, 401)
    }
    await next()
  })
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
    const id = c.req.param('id')
    if (!MEMBER_ID.test(id)) return c.json({ error_code: 'INVALID_REQUEST', message: 'user ids are 1-64 letters, digits, _ or -' }, 400)
    const mau = await usage.userActive(account.environment, id)
    return c.json({ session: 'ok', counted: mau.counted, billable: !mau.free }, 201)
  })
  return { app, limiter, usage, close: () => limiter.close() }
}

/** The app as a Node request listener (what @hono/node-server does, in a few lines). */
export function nodeListener(app: Hono): RequestListener {
  return async (req: IncomingMessage, res) => {
    try {
      const headers = new Headers()
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string') headers.set(name, value)
        else if (Array.isArray(value)) for (const v of value) headers.append(name, v)
      }
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks)
      const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, { method: req.method, headers, body })
      const response = await app.fetch(request, { incoming: req })
      res.writeHead(response.status, [...response.headers].flat())
      res.end(Buffer.from(await response.arrayBuffer()))
    } catch (error) {
      console.error(error)
      if (!res.headersSent) res.writeHead(500)
      res.end()
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { store, client } = await redisFromEnvironment('rk-seed-apis-io')
  const distinct = client === undefined ? undefined : redisMonthlyDistinct(client, 'rk-seed-apis-io-active')
  const { app } = createApp({ accounts: { sk_demo_free: { id: 'acct_free', plan: 'free', environment: 'env_demo' } }, store, distinct })
  const port = Number(process.env.PORT ?? 3000)
  createServer(nodeListener(app)).listen(port, '127.0.0.1', () => {
    console.log(`Quota example on http://127.0.0.1:${port}`)
    console.log(`  curl -i -X POST http://127.0.0.1:${port}/api/v1/execute_tool -H "Authorization: Bearer sk_demo_free"`)
  })
}
