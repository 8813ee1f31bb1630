// skakio's rate limits (seeds/skakio-rate-limits.txt), reproduced with ratekeeper on Express:
//
// | Tier             | Per Minute | Per Day | Burst |     | Auth endpoints       | Limit    | Burst |
// | Public Key (pk_) | 100        | 10,000  | 150   |     | POST /auth/token     | 10 req/s | 20    |
// | Secret Key (sk_) | 1,000      | 100,000 | 1,500 |     | POST /auth/validate  | 10 req/s | 20    |
//                                                          | POST /auth/refresh   | 10 req/s | 20    |
//
// - limits per API key (Authorization: Bearer pk_…/sk_…), or per IP for unauthenticated requests
//   (which get the public-key limits);
// - every response carries X-RateLimit-Limit, -Remaining, -Reset (Unix seconds) and -Tier
//   (public_key / secret_key); a 429 adds Retry-After and skakio's error envelope;
// - pagination: at most 50 items per request (`limit`), 20 by default.
//
//   node --import tsx examples/seeds/skakio.ts

import { pathToFileURL } from 'node:url'
import express, { type Express } from 'express'
import { fixedWindow, type Limiter, providerPlan, tierByPrefix, tokenBucket } from 'ratekeeper'
import { apiKey, rateLimit } from 'ratekeeper/express'

/** A tier: per minute with a burst, and per day. The auth bucket is separate and stricter. */
function tier(perMinute: number, burst: number, perDay: number) {
  const limits = [
    tokenBucket({ name: 'per-minute', limit: perMinute, window: '1m', burst }),
    fixedWindow({ name: 'per-day', limit: perDay, window: '1d' }),
  ]
  return { policies: limits, classes: { auth: [tokenBucket({ name: 'auth', limit: 10, window: '1s', burst: 20 })] } }
}

export const SKAKIO_TIERS = {
  public_key: tier(100, 150, 10_000),
  secret_key: tier(1000, 1500, 100_000),
}

export function createApp(options: { now?: () => number } = {}): { app: Express; limiter: Limiter; close(): Promise<void> } {
  const plan = providerPlan({
    key: apiKey({ bearer: true }),
    classes: { routes: { 'POST /auth/token': 'auth', 'POST /auth/validate': 'auth', 'POST /auth/refresh': 'auth' } },
    tiers: SKAKIO_TIERS,
    // Unauthenticated requests (counted per IP) get the public-key limits.
    tier: tierByPrefix({ pk_: 'public_key', sk_: 'secret_key' }, { otherwise: 'public_key' }),
  })
  const limit = rateLimit({ plan, body: 'skakio', headers: { legacy: 'x-ratelimit', standard: false, tier: true }, now: options.now })

  const app = express()
  app.set('trust proxy', false)
  app.use(limit)

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
  app.get('/api/listing/:id', (req, res) => {
    const listing = listings.find((l) => String(l.id) === req.params.id)
    if (listing === undefined)
      res.status(404).json({ code: 404, status: 'error', error: { code: 'NOT_FOUND', message: 'No such listing' } })
    else res.json({ data: listing })
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
  createApp().app.listen(port, '127.0.0.1', () => console.log(`skakio-style API on http://127.0.0.1:${port}/api/store-listings`))
}
