// Scalekit's rate limits (seeds/scalekit-api-rate-limits.md, seeds/scalekit-rate-limit-policy.txt),
// reproduced with ratekeeper on Koa:
//
// - a per-environment request rate, per minute, that Scalekit tunes per account (here: 2,000/min,
//   raised to 10,000/min for accounts that asked support);
// - limits per endpoint category — read (higher), write (moderate), delete (lower), auth
//   (special) — tracked per client_id;
// - X-RateLimit-Limit / -Remaining / -Reset (Unix timestamp) on responses, Retry-After on a 429;
// - a 429 says where the limit came from: `error_code: "RATE_LIMITED"` for Scalekit's own limit,
//   `"TOOL_ERROR"` when the upstream provider a tool call went to rate-limited it.
// The page publishes no figures per category; the numbers below are examples.
//
//   node --import tsx examples/seeds/scalekit.ts

import { randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import Router from '@koa/router'
import Koa from 'koa'
import { type Limiter, providerPlan, tokenBucket, type UpstreamResponse, upstreamRateLimit } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/koa'

/** Per client_id, per endpoint category (per minute). */
const CATEGORIES = {
  read: [tokenBucket({ name: 'read', limit: 600, window: '1m' })],
  write: [tokenBucket({ name: 'write', limit: 120, window: '1m' })],
  delete: [tokenBucket({ name: 'delete', limit: 30, window: '1m' })],
  auth: [tokenBucket({ name: 'auth', limit: 20, window: '1m' })],
}

/** The environment's rate: the default, and the raised one support grants. */
export const ENVIRONMENT_LIMITS = {
  standard: { classes: CATEGORIES, ceiling: [tokenBucket({ name: 'environment', limit: 2000, window: '1m' })] },
  raised: { classes: CATEGORIES, ceiling: [tokenBucket({ name: 'environment-raised', limit: 10_000, window: '1m' })] },
}

export interface Client {
  readonly clientId: string
  readonly environment: string
}

export interface ScalekitOptions {
  /** Clients by client_id, with their secret and environment. */
  clients: Readonly<Record<string, Client & { secret: string }>>
  /** Environments whose account has a raised limit. */
  raised?: readonly string[]
  /** Calls the upstream provider of a tool (a CRM, a data API…). */
  callTool: (tool: string, input: unknown) => Promise<UpstreamResponse & { json(): Promise<unknown> }>
  now?: () => number
}

export function createApp(options: ScalekitOptions): { app: Koa; limiter: Limiter; close(): Promise<void> } {
  // Access tokens issued by POST /oauth/token (client credentials): token → client.
  const tokens = new Map<string, Client>()
  const clientOf = (authorization: string | undefined): Client | undefined => {
    const match = /^Bearer (\S+)$/i.exec(authorization ?? '')
    return match === null ? undefined : tokens.get(match[1])
  }
  const raised = new Set(options.raised ?? [])

  const plan = providerPlan({
    // Limits are tracked per client_id; requests without a valid token count per IP.
    key: (_raw, req) => {
      const client = clientOf(req.headers.get('authorization'))
      return client === undefined ? undefined : `client:${client.clientId}`
    },
    classes: { routes: { 'POST /oauth/token': 'auth', 'POST /oauth/introspect': 'auth' } },
    tiers: ENVIRONMENT_LIMITS,
    tier: (_key, req) => {
      const client = clientOf(req.headers.get('authorization'))
      return client !== undefined && raised.has(client.environment) ? 'raised' : 'standard'
    },
    // The per-environment rate is a layer every client of the environment shares.
    team: (_key, req) => clientOf(req.headers.get('authorization'))?.environment,
    teamLayer: 'environment',
  })
  const limit = rateLimit({ plan, body: 'scalekit', headers: { standard: false }, requestId: 'x-request-id', now: options.now })

  const app = new Koa()
  const router = new Router()
  app.use(async (ctx, next) => {
    const id = `req_${randomBytes(6).toString('hex')}`
    ctx.request.headers['x-request-id'] = id
    ctx.set('X-Request-Id', id)
    await next()
  })
  app.use(limit)

  router.post('/oauth/token', async (ctx) => {
    const form = new URLSearchParams(await readBody(ctx.req))
    const client = options.clients[form.get('client_id') ?? '']
    if (client === undefined || client.secret !== form.get('client_secret')) {
      ctx.status = 401
      ctx.body = { error: 'invalid_client' }
      return
    }
    const token = `at_${randomBytes(16).toString('hex')}`
    tokens.set(token, { clientId: client.clientId, environment: client.environment })
    // Reuse the token until it expires rather than minting one per request.
    ctx.body = { access_token: token, token_type: 'Bearer', expires_in: 86_400 }
  })
  router.get('/api/v1/organizations', (ctx) => {
    ctx.body = { organizations: [] }
  })
  router.post('/api/v1/organizations', (ctx) => {
    ctx.status = 201
    ctx.body = { organization: { id: 'org_1' } }
  })
  router.delete('/api/v1/organizations/:id', (ctx) => {
    ctx.status = 204
  })
  router.post('/api/v1/execute_tool', async (ctx) => {
    const { tool, input } = JSON.parse((await readBody(ctx.req)) || '{}') as { tool?: string; input?: unknown }
    if (typeof tool !== 'string') {
      ctx.status = 400
      ctx.body = { error_code: 'INVALID_REQUEST', message: 'tool is required' }
      return
    }
    const upstream = await options.callTool(tool, input)
    // The provider's 429 is not ours: pass it on as TOOL_ERROR, with its Retry-After.
    const limited = upstreamRateLimit(upstream, { format: 'scalekit', tool, requestId: ctx.get('x-request-id'), now: options.now })
    if (limited !== undefined) {
      ctx.status = limited.status
      ctx.set(limited.headers)
      ctx.type = limited.contentType
      ctx.body = limited.body
      return
    }
    ctx.body = { data: await upstream.json() }
  })
  app.use(router.routes())
  app.use(router.allowedMethods())
  return { app, limiter: limit.limiter, close: () => limit.close() }
}

async function readBody(stream: AsyncIterable<unknown>): Promise<string> {
  let text = ''
  for await (const chunk of stream) text += String(chunk)
  return text
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { app } = createApp({
    clients: { skc_demo: { clientId: 'skc_demo', secret: 'demo-secret', environment: 'env_dev' } },
    // A stand-in upstream that rate-limits every third call.
    callTool: (() => {
      let calls = 0
      return async () => {
        calls++
        const status = calls % 3 === 0 ? 429 : 200
        return { status, headers: new Headers(status === 429 ? { 'retry-after': '30' } : {}), json: async () => ({ ok: true }) }
      }
    })(),
  })
  const port = Number(process.env.PORT ?? 3000)
  app.listen(port, '127.0.0.1', () => {
    console.log(`Scalekit-style API on http://127.0.0.1:${port}`)
    console.log(`  curl -s -X POST http://127.0.0.1:${port}/oauth/token -d client_id=skc_demo -d client_secret=demo-secret`)
  })
}
