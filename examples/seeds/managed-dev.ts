// managed.dev's rate limits (seeds/managed-dev-rate-limits.txt), reproduced with ratekeeper on
// Fastify:
//
// | Bucket                                      | Limit (example) | Applies to              |
// | Per-key — read (GET)                        | 1000 / min      | each API key            |
// | Per-key — write (POST/PATCH/PUT/DELETE)     | 100 / min       | each API key            |
// | Per-key — create (job-spawning POST)        | 5 / min         | each API key            |
// | Per-team ceiling                            | 5000 / min      | aggregate all keys on a team |
//
// Higher plan tiers get larger per-key buckets and a higher team ceiling (`tierOf`).
// Every key of the API is on a team (`teamOf`): a key on none — made up — or no key at all is
// counted by IP (the same buckets, no team) and answered 401, so new keys are never new headroom.
// - token buckets, per key and per team: a request must satisfy both (all or nothing);
// - X-RateLimit-Limit / -Remaining / -Reset (Unix seconds) on every response, Retry-After on a 429;
// - the 429 carries the standard error envelope with a doc_url and the request id;
// - GET /v1/rate-limits returns the caller's live buckets and team ceiling. Like every response
//   it carries X-RateLimit-* headers: those of a cheap bucket of its own (60 a minute per key),
//   so asking charges nothing to the buckets it reports, yet can't be used to hammer the store.
//
//   node --import tsx examples/seeds/managed-dev.ts                                 # memory store
//   REDIS_URL=redis://127.0.0.1:6379 node --import tsx examples/seeds/managed-dev.ts  # state in Redis

import { randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { createLimiter, type Limiter, type Store, tokenBucket } from 'ratekeeper'
import fastifyRateLimit, { rateLimitsRoute } from 'ratekeeper/fastify'
import { apiKey } from 'ratekeeper/http'
import { cachedLookup, providerPlan } from 'ratekeeper/provider'
import { redisFromEnvironment } from './redis.js'

export const ERROR_CODES_URL = 'https://docs.managed.dev/reference/error-codes/'
export const DOC_URL = `${ERROR_CODES_URL}#rate_limit.exceeded`

/**
 * Which team each key belongs to: your database. Looked up once a minute per key at most.
 * `undefined`: not a key of the API (answered 401).
 */
export type TeamOf = (key: string) => Promise<string | undefined>

export const BUCKETS = {
  read: [tokenBucket({ name: 'read', limit: 1000, window: '1m' })],
  write: [tokenBucket({ name: 'write', limit: 100, window: '1m' })],
  create: [tokenBucket({ name: 'create', limit: 5, window: '1m' })],
}
export const TEAM_CEILING = [tokenBucket({ name: 'team', limit: 5000, window: '1m' })]

/**
 * "Rate limits track your plan tier: higher tiers get larger per-key buckets and a higher team
 * ceiling." The page's figures are the standard tier; the larger tier's are examples too.
 */
export const TIERS = {
  standard: { classes: BUCKETS, ceiling: TEAM_CEILING },
  scale: {
    classes: {
      read: [tokenBucket({ name: 'read', limit: 5000, window: '1m' })],
      write: [tokenBucket({ name: 'write', limit: 500, window: '1m' })],
      create: [tokenBucket({ name: 'create', limit: 25, window: '1m' })],
    },
    ceiling: [tokenBucket({ name: 'team', limit: 25_000, window: '1m' })],
  },
}
export type Tier = keyof typeof TIERS
/** GET /v1/rate-limits per key (or IP) and minute: its own bucket, outside the ones it reports. */
export const INTROSPECTION_LIMIT = 60

export interface ManagedDevOptions {
  /** Which team a key belongs to (your database). */
  teamOf: TeamOf
  /** The plan tier of a key (your database); `undefined` (or no function): `standard`. */
  tierOf?: (key: string) => Promise<Tier | undefined>
  /** The clock (tests inject one). */
  now?: () => number
  /** Where the buckets are kept: the default is a `MemoryStore`; a `RedisStore` shares them across servers. */
  store?: Store
}

export async function createApp(options: ManagedDevOptions): Promise<{ app: FastifyInstance; limiter: Limiter }> {
  const tierOf = options.tierOf
  // Authorization: Bearer mfk_live_…
  const bearer = apiKey({ bearer: true })
  const teamOfToken = cachedLookup((token) => options.teamOf(token), { ttl: '1m' })
  /** The team of each request that presented a key of the API (set before the limiter runs). */
  const teams = new WeakMap<FastifyRequest, string>()
  // A key of the API: its own buckets; anything else counts by IP.
  const key = (raw: unknown, req: Parameters<typeof bearer>[1]) => (teams.has(raw as FastifyRequest) ? bearer(raw, req) : undefined)
  const plan = providerPlan({
    key,
    // DELETE is a write here; job-spawning POSTs are "create".
    classes: { methods: { DELETE: 'write' }, routes: { 'POST /v1/jobs': 'create' } },
    tiers: TIERS,
    tier:
      tierOf === undefined
        ? 'standard'
        : cachedLookup(async (key) => (await tierOf(key.replace(/^key:/, ''))) ?? 'standard', { ttl: '1m' }),
    team: (_key, req) => teams.get(req.raw as FastifyRequest),
  })
  const limiter = createLimiter({ policies: BUCKETS.read, now: options.now, store: options.store })
  // The introspection endpoint's own bucket, per key: no class of the API, no team ceiling.
  const introspectionPlan = providerPlan({
    key,
    limits: { policies: [tokenBucket({ name: 'rate-limits', limit: INTROSPECTION_LIMIT, window: '1m' })] },
  })

  const app = Fastify({ genReqId: () => `req_${randomBytes(5).toString('hex').toUpperCase()}` })
  // Authentication, before the limiter: which team (if any) the presented key is on.
  app.addHook('onRequest', async (request) => {
    const value = request.headers.authorization
    const token = value !== undefined && /^bearer /i.test(value) ? value.slice(7).trim() : ''
    if (token.length === 0) return
    const headers = { get: (name: string) => request.headers[name]?.toString() }
    const team = await teamOfToken(token, { method: request.method, route: undefined, path: request.url, ip: request.ip, headers })
    if (team !== undefined) teams.set(request, team)
  })
  // After the limiter (which counted it by IP): a request without a key of the API is refused.
  app.addHook('preHandler', async (request, reply) => {
    if (teams.has(request)) return
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer error="invalid_token"')
      .send({
        error: {
          type: 'authentication',
          code: 'authentication.invalid_key',
          message: 'unknown API key',
          doc_url: `${ERROR_CODES_URL}#authentication.invalid_key`,
        },
        request_id: request.id,
      })
  })
  await app.register(fastifyRateLimit, {
    limiter,
    plan,
    body: { format: 'managed-dev', docUrl: DOC_URL },
    headers: { legacy: 'x-ratelimit', standard: false },
  })

  // Reading your limits doesn't spend them: the handler peeks, and the route is decided on a
  // bucket of its own (whose headers it carries) instead of the read bucket and team ceiling.
  app.get(
    '/v1/rate-limits',
    { config: { rateLimit: { plan: introspectionPlan } } },
    rateLimitsRoute({ limiter, plan, classes: ['read', 'write', 'create'] }),
  )
  app.get('/v1/runs', async (req) => ({ data: [], request_id: req.id }))
  app.post('/v1/runs', async (req, reply) => reply.code(201).send({ data: { id: 'run_1' }, request_id: req.id }))
  app.patch('/v1/runs/:id', async (req) => ({ data: { id: 'run_1' }, request_id: req.id }))
  app.put('/v1/runs/:id', async (req) => ({ data: { id: 'run_1' }, request_id: req.id }))
  app.delete('/v1/runs/:id', async (_req, reply) => reply.code(204).send())
  app.post('/v1/jobs', async (req, reply) => reply.code(202).send({ data: { id: 'job_1', status: 'queued' }, request_id: req.id }))
  return { app, limiter }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const teams: Record<string, string> = { mfk_live_alpha: 'acme', mfk_live_beta: 'acme' }
  const { store } = await redisFromEnvironment('rk-seed-managed-dev')
  const { app } = await createApp({ teamOf: async (key) => teams[key], store })
  const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
  console.log(`managed.dev-style API on ${address}/v1/rate-limits (try: -H "Authorization: Bearer mfk_live_alpha")`)
}
