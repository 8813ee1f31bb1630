// skakio's rate limits (seeds/skakio-rate-limits.txt), reproduced with ratekeeper on Express:
//
// | Tier             | Per Minute | Per Day | Burst |     | Auth endpoints       | Limit    | Burst |
// | Public Key (pk_) | 100        | 10,000  | 150   |     | POST /auth/token     | 10 req/s | 20    |
// | Secret Key (sk_) | 1,000      | 100,000 | 1,500 |     | POST /auth/validate  | 10 req/s | 20    |
//                                                          | POST /auth/refresh   | 10 req/s | 20    |
//
// - limits per API key (Authorization: Bearer pk_…/sk_…), or per IP for unauthenticated requests
//   (which get the public-key limits); a key the API does not know (`isKey`) authenticates
//   nothing: it is counted per IP like no key, then answered 401, so made-up keys are never a
//   fresh budget nor a way into the secret tier;
// - each auth endpoint has a bucket of its own (10 req/s, burst 20), and "stricter" means on top
//   of the key's tier limits, never instead: an auth request must pass both;
// - every response carries X-RateLimit-Limit, -Remaining, -Reset (Unix seconds) and -Tier
//   (public_key / secret_key); a 429 adds Retry-After and skakio's error envelope;
// - pagination: at most 50 items per request (`limit`), 20 by default; `?expand=publication`
//   includes a listing's publications (one request instead of two).
//
//   node --import tsx examples/seeds/skakio.ts                                 # memory store
//   REDIS_URL=redis://127.0.0.1:6379 node --import tsx examples/seeds/skakio.ts  # state in Redis

import { pathToFileURL } from 'node:url'
import express, { type Express, type NextFunction, type Request, type Response } from 'express'
import { fixedWindow, type Limiter, type Policy, type Store, tokenBucket } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/express'
import { apiKey } from 'ratekeeper/http'
import { providerPlan, tierByPrefix } from 'ratekeeper/provider'
import { redisFromEnvironment } from './redis.js'

/** The auth endpoints and their request classes: one class, and one bucket, per endpoint. */
export const AUTH_ENDPOINTS = {
  'POST /auth/token': 'auth-token',
  'POST /auth/validate': 'auth-validate',
  'POST /auth/refresh': 'auth-refresh',
} as const

/** Each auth endpoint's own bucket: 10 req/s with bursts of 20, per key (or IP), whatever the tier. */
export const AUTH_LIMITS: Record<string, readonly Policy[]> = {}
for (const cls of Object.values(AUTH_ENDPOINTS)) AUTH_LIMITS[cls] = [tokenBucket({ name: cls, limit: 10, window: '1s', burst: 20 })]

/**
 * A tier: per minute with a burst (a token bucket), and per day (a UTC calendar day: a spent day
 * comes back at 00:00 UTC); the auth endpoints' buckets come on top (`also`).
 */
function tier(perMinute: number, burst: number, perDay: number) {
  const policies = [
    tokenBucket({ name: 'per-minute', limit: perMinute, window: '1m', burst }),
    fixedWindow({ name: 'per-day', limit: perDay, window: '1d' }),
  ]
  return { policies, also: AUTH_LIMITS }
}

export const SKAKIO_TIERS = {
  public_key: tier(100, 150, 10_000),
  secret_key: tier(1000, 1500, 100_000),
}

export interface SkakioOptions {
  /**
   * Whether `key` (the bearer token, e.g. `pk_live_…`) is a key of the API: your database. Any
   * other key gets 401, after being counted against its IP's budget.
   */
  isKey: (key: string) => boolean | Promise<boolean>
  /** The clock (tests inject one). */
  now?: () => number
  /** Where the limits are kept: the default is a `MemoryStore`; a `RedisStore` shares them across servers. */
  store?: Store
}

export function createApp(options: SkakioOptions): { app: Express; limiter: Limiter; close(): Promise<void> } {
  const bearer = apiKey({ bearer: true })
  /** Requests that presented a key of the API (set before the limiter runs). */
  const authenticated = new WeakSet<Request>()
  const plan = providerPlan({
    // The presented key when the API knows it; anything else counts per IP.
    key: (raw, req) => (authenticated.has(raw as Request) ? bearer(raw, req) : undefined),
    classes: { routes: AUTH_ENDPOINTS },
    tiers: SKAKIO_TIERS,
    // Unauthenticated requests (counted per IP) get the public-key limits.
    tier: tierByPrefix({ pk_: 'public_key', sk_: 'secret_key' }, { otherwise: 'public_key' }),
  })
  const limit = rateLimit({
    plan,
    store: options.store,
    body: 'skakio',
    headers: { legacy: 'x-ratelimit', standard: false, tier: true },
    now: options.now,
  })

  const app = express()
  app.set('trust proxy', false)
  app.use(function authenticate(req: Request, _res: Response, next: NextFunction) {
    const value = req.get('authorization')
    const token = value !== undefined && /^bearer /i.test(value) ? value.slice(7).trim() : ''
    if (token.length === 0) return next()
    new Promise<boolean>((resolve) => resolve(options.isKey(token))).then((known) => {
      if (known === true) authenticated.add(req)
      next()
    }, next)
  })
  app.use(limit)
  // A key the API does not know: counted by IP above, and refused.
  app.use(function refuseUnknownKeys(req: Request, res: Response, next: NextFunction) {
    if (req.get('authorization') === undefined || authenticated.has(req)) return next()
    res
      .status(401)
      .set('WWW-Authenticate', 'Bearer error="invalid_token"')
      .json({
        code: 401,
        status: 'error',
        error: { code: 'INVALID_API_KEY', message: 'Unknown API key: send a pk_ or sk_ key of this API, or no key at all.' },
      })
  })

  const listings = Array.from({ length: 120 }, (_, i) => ({ id: i + 1, name: `Listing ${i + 1}` }))
  app.get('/api/store-listings', (req, res) => {
    const text = req.query.limit
    const limitParam = text === undefined ? 20 : typeof text === 'string' && /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN
    const page = req.query.page === undefined ? 1 : Number(req.query.page)
    if (!Number.isInteger(limitParam) || limitParam < 1 || limitParam > 50 || !Number.isInteger(page) || page < 1) {
      res
        .status(400)
        .json({ code: 400, status: 'error', error: { code: 'INVALID_PAGINATION', message: 'limit must be 1-50 and page >= 1' } })
      return
    }
    const data = listings.slice((page - 1) * limitParam, page * limitParam)
    res.json({ data, meta: { pagination: { page, limit: limitParam, total_pages: Math.ceil(listings.length / limitParam) } } })
  })
  const publicationsOf = (id: number) => [{ id: `pub_${id}_1`, channel: 'web' }]
  const notFound = (res: express.Response) =>
    res.status(404).json({ code: 404, status: 'error', error: { code: 'NOT_FOUND', message: 'No such listing' } })
  // "Batch where possible": `?expand=publication` includes the publications, saving a request.
  app.get('/api/listing/:id', (req, res) => {
    const listing = listings.find((l) => String(l.id) === req.params.id)
    if (listing === undefined) notFound(res)
    else if (req.query.expand === 'publication') res.json({ data: { ...listing, publications: publicationsOf(listing.id) } })
    else res.json({ data: listing })
  })
  app.get('/api/listing/:id/publications', (req, res) => {
    const listing = listings.find((l) => String(l.id) === req.params.id)
    if (listing === undefined) notFound(res)
    else res.json({ data: publicationsOf(listing.id) })
  })
  const token = (_req: express.Request, res: express.Response) => {
    res.json({ access_token: 'at_demo', expires_in: 3600 })
  }
  app.post('/auth/token', token)
  app.post('/auth/refresh', token)
  app.post('/auth/validate', (_req, res) => {
    res.json({ valid: true })
  })
  return { app, limiter: limit.limiter, close: () => limit.close() }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  const { store } = await redisFromEnvironment('rk-seed-skakio')
  // The keys this example knows (a real API looks up a hash of the key in its database).
  const keys = new Set(['pk_test_demo', 'sk_test_demo'])
  createApp({ store, isKey: (key) => keys.has(key) }).app.listen(port, '127.0.0.1', () => {
    console.log(`skakio-style API on http://127.0.0.1:${port}/api/store-listings (${store === undefined ? 'memory' : 'Redis'} store)`)
    console.log(`  curl -i http://127.0.0.1:${port}/api/listing/1 -H "Authorization: Bearer pk_test_demo"`)
  })
}
