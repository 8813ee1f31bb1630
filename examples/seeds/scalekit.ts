// Scalekit's rate limits (seeds/scalekit-api-rate-limits.md, seeds/scalekit-rate-limit-policy.txt),
// reproduced with ratekeeper on Koa:
//
// - a per-environment request rate, per minute, that Scalekit tunes per account (here: 2,000/min,
//   raised to 10,000/min for accounts that asked support);
// - limits per endpoint category — read (higher), write (moderate), delete (lower), auth
//   (special: POST /oauth/token, POST /oauth/introspect) — tracked per client_id: the client of
//   the access token on the API, the client_id presented (form body or HTTP Basic) on the token
//   endpoints; a request with no token of a known client is counted per IP and answered 401;
// - X-RateLimit-Limit / -Remaining / -Reset (Unix timestamp) on responses, Retry-After on a 429;
// - a 429 says where the limit came from: `error_code: "RATE_LIMITED"` for Scalekit's own limit,
//   `"TOOL_ERROR"` when the upstream provider a tool call went to rate-limited it.
// The page publishes no figures per category; the numbers below are examples.
//
//   node --import tsx examples/seeds/scalekit.ts                                 # memory store
//   REDIS_URL=redis://127.0.0.1:6379 node --import tsx examples/seeds/scalekit.ts  # state in Redis

import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { pathToFileURL } from 'node:url'
import Router from '@koa/router'
import Koa from 'koa'
import { type Limiter, type Store, tokenBucket } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/koa'
import { providerPlan, requestClasses, type UpstreamResponse, upstreamRateLimit } from 'ratekeeper/provider'
import { redisFromEnvironment } from './redis.js'

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
  /** Where the limits are kept: the default is a `MemoryStore`; a `RedisStore` shares them across servers. */
  store?: Store
}

/** The token endpoints (OAuth 2.0 client credentials, and token introspection): the auth category. */
const classes = requestClasses({ routes: { 'POST /oauth/token': 'auth', 'POST /oauth/introspect': 'auth' } })
/** The most a token request's form body may hold: client credentials are a few hundred bytes. */
const MAX_FORM_BYTES = 8 * 1024

/** The client credentials a request presents: HTTP Basic (RFC 6749 §2.3.1) or the form body. */
function presentedCredentials(authorization: string | undefined, form: URLSearchParams | undefined) {
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(authorization ?? '')
  if (basic !== null) {
    const text = Buffer.from(basic[1], 'base64').toString('utf8')
    const colon = text.indexOf(':')
    if (colon < 0) return undefined
    try {
      // Both parts are form-urlencoded before the Base64.
      const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '))
      return { clientId: decode(text.slice(0, colon)), secret: decode(text.slice(colon + 1)) }
    } catch {
      return undefined
    }
  }
  const clientId = form?.get('client_id')
  return clientId === null || clientId === undefined ? undefined : { clientId, secret: form?.get('client_secret') ?? undefined }
}

export function createApp(options: ScalekitOptions): { app: Koa; limiter: Limiter; close(): Promise<void> } {
  // Access tokens issued by POST /oauth/token (client credentials): token → client.
  const tokens = new Map<string, Client>()
  const clientOfToken = (authorization: string | undefined): Client | undefined => {
    const match = /^Bearer (\S+)$/i.exec(authorization ?? '')
    return match === null ? undefined : tokens.get(match[1])
  }
  const known = (clientId: string | undefined) =>
    clientId !== undefined && Object.hasOwn(options.clients, clientId) ? options.clients[clientId] : undefined
  const raised = new Set(options.raised ?? [])

  const plan = providerPlan({
    // Limits are tracked per client_id: the client of the access token on the API, and the
    // client_id presented (with whatever secret) on the token endpoints, so two clients behind
    // one address never limit each other. Anything else — an unknown client_id, no credentials —
    // counts per IP, so made-up client_ids can't mint fresh allowances. A wrong secret counts
    // against the client_id presented: that is what stops guessing a client's secret (and a
    // client that reuses its tokens rarely needs the endpoint, so it is rarely in the way).
    key: (raw, req) => {
      const ctx = raw as Koa.Context
      const client =
        classes.classify(req) === 'auth'
          ? known(presentedCredentials(req.headers.get('authorization'), ctx.state.form as URLSearchParams | undefined)?.clientId)
          : clientOfToken(req.headers.get('authorization'))
      return client === undefined ? undefined : `client:${client.clientId}`
    },
    classes,
    tiers: ENVIRONMENT_LIMITS,
    tier: (key) => {
      const client = key.startsWith('client:') ? known(key.slice(7)) : undefined
      return client !== undefined && raised.has(client.environment) ? 'raised' : 'standard'
    },
    // The per-environment rate is a layer every client of the environment shares (auth traffic included).
    team: (key) => (key.startsWith('client:') ? known(key.slice(7))?.environment : undefined),
    teamLayer: 'environment',
  })
  const limit = rateLimit({
    plan,
    store: options.store,
    body: 'scalekit',
    headers: { standard: false },
    requestId: 'x-request-id',
    now: options.now,
  })

  const app = new Koa()
  const router = new Router()
  app.use(async (ctx, next) => {
    const id = `req_${randomBytes(6).toString('hex')}`
    ctx.request.headers['x-request-id'] = id
    ctx.set('X-Request-Id', id)
    await next()
  })
  // The token endpoints' form is read before the limiter (bounded), so it can key by client_id.
  app.use(async (ctx, next) => {
    if (
      classes.classify({ method: ctx.method, route: undefined, path: ctx.path }) === 'auth' &&
      ctx.is('application/x-www-form-urlencoded')
    ) {
      const text = await readBody(ctx.req, MAX_FORM_BYTES)
      // Too large: no client_id to key it by. It is counted by IP first, and refused below.
      if (text === undefined) ctx.state.formTooLarge = true
      else ctx.state.form = new URLSearchParams(text)
    }
    await next()
  })
  app.use(limit)
  app.use(async (ctx, next) => {
    if (ctx.state.formTooLarge !== true) return next()
    ctx.status = 413
    // The rest of the body is not wanted: close the connection rather than read it.
    ctx.set('Connection', 'close')
    ctx.body = { error: 'invalid_request', error_description: 'the request body is too large' }
  })
  // The API needs an access token of a known client (the token endpoints check the client's
  // credentials themselves). Anything else belongs to no client and no environment: it has been
  // counted by IP above, and is refused.
  app.use(async (ctx, next) => {
    const tokenEndpoint = classes.classify({ method: ctx.method, route: undefined, path: ctx.path }) === 'auth'
    if (tokenEndpoint || clientOfToken(ctx.get('authorization') || undefined) !== undefined) return next()
    ctx.status = 401
    ctx.set('WWW-Authenticate', 'Bearer')
    ctx.body = { error_code: 'UNAUTHENTICATED', message: 'A valid access token is required: POST /oauth/token.' }
  })

  const authenticate = (ctx: Koa.Context) => {
    const presented = presentedCredentials(ctx.get('authorization') || undefined, ctx.state.form as URLSearchParams | undefined)
    const client = known(presented?.clientId)
    return client === undefined || client.secret !== presented?.secret ? undefined : client
  }
  router.post('/oauth/token', (ctx) => {
    const client = authenticate(ctx)
    if (client === undefined) {
      ctx.status = 401
      ctx.body = { error: 'invalid_client' }
      return
    }
    const token = `at_${randomBytes(16).toString('hex')}`
    tokens.set(token, { clientId: client.clientId, environment: client.environment })
    // Reuse the token until it expires rather than minting one per request.
    ctx.body = { access_token: token, token_type: 'Bearer', expires_in: 86_400 }
  })
  // Token validation (RFC 7662): is this access token active?
  router.post('/oauth/introspect', (ctx) => {
    if (authenticate(ctx) === undefined) {
      ctx.status = 401
      ctx.body = { error: 'invalid_client' }
      return
    }
    const token = (ctx.state.form as URLSearchParams | undefined)?.get('token') ?? ''
    const client = tokens.get(token)
    ctx.body = client === undefined ? { active: false } : { active: true, client_id: client.clientId }
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
    const text = await readBody(ctx.req, 64 * 1024)
    let parsed: { tool?: unknown; input?: unknown } = {}
    try {
      parsed = text ? (JSON.parse(text) as typeof parsed) : {}
    } catch {
      // handled below: no tool
    }
    const { tool, input } = parsed
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

/**
 * The body as text, or `undefined` when it is longer than `max` bytes. Past `max` it stops
 * reading without destroying the request (Node discards the rest once the response is sent):
 * a destroyed request has no socket, and the limiter still has to read the client's address.
 */
function readBody(stream: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const settle = (value: string | undefined, error?: unknown) => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
      if (error !== undefined) reject(error)
      else resolve(value)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= max) return void chunks.push(chunk)
      stream.pause()
      settle(undefined)
    }
    const onEnd = () => settle(Buffer.concat(chunks).toString('utf8'))
    const onError = (error: unknown) => settle(undefined, error)
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('error', onError)
  })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { store } = await redisFromEnvironment('rk-seed-scalekit')
  const { app } = createApp({
    store,
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
