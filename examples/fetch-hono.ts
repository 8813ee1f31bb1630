// Fetch-API servers: Hono middleware, and a bare `(request) => Response` handler wrapped with
// `withRateLimit` (the shape of Next.js route handlers, Bun, Deno and Cloudflare Workers).
//
//   node --import tsx examples/fetch-hono.ts        then: curl -i http://127.0.0.1:3000/api/hello

import { createServer, type IncomingMessage, type Server } from 'node:http'
import { pathToFileURL } from 'node:url'
import { Hono } from 'hono'
import { apiKey, slidingWindow, tokenBucket } from 'ratekeeper'
import { rateLimit, withRateLimit } from 'ratekeeper/fetch'

/** A Hono app limited per client IP, with a stricter per-route limit on /api/search. */
export function createHonoApp(options: { now?: () => number } = {}) {
  const app = new Hono()
  const global = rateLimit({ policies: [tokenBucket({ name: 'per-minute', limit: 60, window: '1m' })], now: options.now })
  const search = rateLimit({ policies: [slidingWindow({ name: 'search', limit: 10, window: '10s' })], now: options.now })
  app.use(global)
  app.get('/api/hello', (c) => c.json({ hello: 'world' }))
  app.get('/api/search', search, (c) => c.json({ results: [], q: c.req.query('q') ?? '' }))
  return {
    app,
    close: async () => {
      await global.close()
      await search.close()
    },
  }
}

/** A plain fetch handler (e.g. a Next.js `GET` export) limited per API key. */
export function createHandler(options: { now?: () => number } = {}) {
  // The second argument is whatever your runtime passes the handler (here: `{ ip }`).
  const handler = async (request: Request, _context?: { ip?: string }) => Response.json({ path: new URL(request.url).pathname })
  return withRateLimit(handler, {
    policies: [tokenBucket({ name: 'per-second', limit: 5, window: '1s', burst: 10 })],
    key: apiKey({ bearer: true }),
    // No key: counted by the address the caller passes (`{ ip }`) or the runtime's connection.
    ip: (_request, context) => (context as { ip?: string } | undefined)?.ip,
    route: '/api/items',
    now: options.now,
  })
}

/** Serves a fetch handler on node:http (what @hono/node-server does), passing the socket along. */
export function serveFetch(
  fetch: (request: Request, env: { incoming: IncomingMessage }) => Response | Promise<Response>,
  port: number,
): Server {
  return createServer(async (req, res) => {
    try {
      let body: ArrayBuffer | undefined
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        const chunks: Buffer[] = []
        for await (const chunk of req) chunks.push(chunk as Buffer)
        const bytes = Buffer.concat(chunks)
        body = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
      }
      const headers = new Headers()
      for (const [name, value] of Object.entries(req.headers))
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value)
      const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, { method: req.method, headers, body })
      const response = await fetch(request, { incoming: req })
      res.writeHead(response.status, Object.fromEntries(response.headers))
      res.end(Buffer.from(await response.arrayBuffer()))
    } catch (error) {
      console.error(error)
      res.writeHead(500).end()
    }
  }).listen(port, '127.0.0.1')
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  const { app } = createHonoApp()
  serveFetch((request, env) => app.fetch(request, env), port)
  console.log(`Hono example on http://127.0.0.1:${port}/api/hello`)
}
