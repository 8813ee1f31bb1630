// managed.dev's rate limits (seeds/managed-dev-rate-limits.txt), reproduced with ratekeeper on
// Fastify:
//
// | Bucket                                      | Limit (example) | Applies to              |
// | Per-key — read (GET)                        | 1000 / min      | each API key            |
// | Per-key — write (POST/PATCH/PUT/DELETE)     | 100 / min       | each API key            |
// | Per-key — create (job-spawning POST)        | 5 / min         | each API key            |
// | Per-team ceiling                            | 5000 / min      | aggregate all keys on a team |
//
// - token buckets, per key and per team: a request must satisfy both (all or nothing);
// - X-RateLimit-Limit / -Remaining / -Reset (Unix seconds) on every response, Retry-After on a 429;
// - the 429 carries the standard error envelope with a doc_url and the request id;
// - GET /v1/rate-limits returns the caller's live buckets and team ceiling.
//
//   node --import tsx examples/seeds/managed-dev.ts

import { randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import { cachedLookup, createLimiter, type Limiter, providerPlan, tokenBucket } from 'ratekeeper'
import fastifyRateLimit, { apiKey, rateLimitsRoute } from 'ratekeeper/fastify'

export const DOC_URL = 'https://docs.managed.dev/reference/error-codes/#rate_limit.exceeded'

/** Which team each key belongs to: your database. Looked up once a minute per key at most. */
export type TeamOf = (key: string) => Promise<string | undefined>

export const BUCKETS = {
  read: [tokenBucket({ name: 'read', limit: 1000, window: '1m' })],
  write: [tokenBucket({ name: 'write', limit: 100, window: '1m' })],
  create: [tokenBucket({ name: 'create', limit: 5, window: '1m' })],
}
export const TEAM_CEILING = [tokenBucket({ name: 'team', limit: 5000, window: '1m' })]

export async function createApp(options: { now?: () => number; teamOf: TeamOf }): Promise<{ app: FastifyInstance; limiter: Limiter }> {
  const plan = providerPlan({
    // Authorization: Bearer mfk_live_…
    key: apiKey({ bearer: true }),
    // DELETE is a write here; job-spawning POSTs are "create".
    classes: { methods: { DELETE: 'write' }, routes: { 'POST /v1/jobs': 'create' } },
    limits: { classes: BUCKETS, ceiling: TEAM_CEILING },
    team: cachedLookup((key) => options.teamOf(key.replace(/^key:/, '')), { ttl: '1m' }),
  })
  const limiter = createLimiter({ policies: BUCKETS.read, now: options.now })

  const app = Fastify({ genReqId: () => `req_${randomBytes(5).toString('hex').toUpperCase()}` })
  await app.register(fastifyRateLimit, {
    limiter,
    plan,
    body: { format: 'managed-dev', docUrl: DOC_URL },
    headers: { legacy: 'x-ratelimit', standard: false },
  })

  // Reading your limits doesn't spend them (and the route peeks: it charges nothing either).
  app.get('/v1/rate-limits', { config: { rateLimit: false } }, rateLimitsRoute({ limiter, plan, classes: ['read', 'write', 'create'] }))
  app.get('/v1/runs', async (req) => ({ data: [], request_id: req.id }))
  app.post('/v1/runs', async (req, reply) => reply.code(201).send({ data: { id: 'run_1' }, request_id: req.id }))
  app.delete('/v1/runs/:id', async (_req, reply) => reply.code(204).send())
  app.post('/v1/jobs', async (req, reply) => reply.code(202).send({ data: { id: 'job_1', status: 'queued' }, request_id: req.id }))
  return { app, limiter }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const teams: Record<string, string> = { mfk_live_alpha: 'acme', mfk_live_beta: 'acme' }
  const { app } = await createApp({ teamOf: async (key) => teams[key] })
  const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
  console.log(`managed.dev-style API on ${address}/v1/rate-limits (try: -H "Authorization: Bearer mfk_live_alpha")`)
}
