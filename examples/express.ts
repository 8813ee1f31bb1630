// Express: an app-wide limit per API key (or per IP without one), and a login route that locks
// out after 5 failed attempts in 15 minutes, where successful logins don't count.
//
//   node --import tsx examples/express.ts        then: curl -i http://127.0.0.1:3000/hello

import { pathToFileURL } from 'node:url'
import express, { type Express } from 'express'
import { apiKey, ipKey, slidingWindow, tokenBucket } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/express'

export function createApp(options: { now?: () => number } = {}): { app: Express; close(): Promise<void> } {
  const app = express()
  // The app sits behind no proxy here; behind one reverse proxy, use 1 (see docs/security.md).
  app.set('trust proxy', false)

  // 100 per minute with bursts of 150, per X-Api-Key (per client IP when the header is missing).
  const perKey = rateLimit({
    policies: [tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 })],
    key: apiKey(),
    now: options.now,
  })

  // Failed logins per IP: charged on arrival, refunded when the response is a success (< 400).
  const failedLogins = rateLimit({
    policies: [slidingWindow({ name: 'failed-logins', limit: 5, window: '15m' })],
    plan: (info) => ({ key: ipKey(info.ip), countMode: 'failure' }),
    now: options.now,
  })

  app.use(perKey)
  app.get('/hello', (_req, res) => {
    res.json({ hello: 'world' })
  })
  app.post('/login', failedLogins, express.json(), (req, res) => {
    const ok = (req.body as { password?: unknown } | undefined)?.password === 'open sesame'
    if (ok) res.json({ token: 'demo-token' })
    else res.status(401).json({ error: 'invalid credentials' })
  })

  return {
    app,
    close: async () => {
      await perKey.close()
      await failedLogins.close()
    },
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  const { app } = createApp()
  app.listen(port, '127.0.0.1', () => console.log(`Express example on http://127.0.0.1:${port}/hello`))
}
