// The 429 the limiter answers itself kept the headers earlier middleware had set for the response
// it replaced. Under an app-wide `Cache-Control: public, max-age=600` (a CDN-fronted API, a cache
// middleware), a shared cache could store one client's 429 and serve it to every client of that
// URL for ten minutes: one client spending its limit denied everyone. A limited answer now says
// `Cache-Control: no-store` on every adapter; allowed responses keep the app's header.
import { Hono } from 'hono'
import { fixedWindow } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/express'
import fastifyRateLimit from 'ratekeeper/fastify'
import { rateLimit as fetchRateLimit } from 'ratekeeper/fetch'
import { rateLimit as koaRateLimit } from 'ratekeeper/koa'
import { describe, expect, it } from 'vitest'
import { EXPRESS, FASTIFY, KOA, type Sent, send, sendFastify } from '../helpers/http-apps.js'

const CACHED = 'public, max-age=600'
const options = () => ({ policies: [fixedWindow({ limit: 1, window: '1m' })] })

function expectOnlyTheAllowedCached(sent: Sent[]): void {
  expect(sent.map((r) => r.status)).toEqual([200, 429])
  expect(sent[0].headers['cache-control']).toBe(CACHED)
  expect(sent[1].headers['cache-control']).toBe('no-store')
}

describe.each(EXPRESS)('%s', (_name, express) => {
  it('a 429 after a cache header is no-store', async () => {
    const app = express()
    app.use((_req, res, next) => {
      res.setHeader('Cache-Control', CACHED)
      next()
    })
    app.use(rateLimit(options()))
    app.get('/x', (_req, res) => {
      res.send('ok')
    })
    expectOnlyTheAllowedCached([await send(app, 'GET', '/x'), await send(app, 'GET', '/x')])
  })
})

describe.each(KOA)('%s', (_name, Koa) => {
  it('a 429 after a cache header is no-store', async () => {
    const app = new Koa()
    app.use((ctx, next) => {
      ctx.set('Cache-Control', CACHED)
      return next()
    })
    app.use(koaRateLimit(options()))
    app.use((ctx) => {
      ctx.body = 'ok'
    })
    const listener = app.callback()
    expectOnlyTheAllowedCached([await send(listener, 'GET', '/x'), await send(listener, 'GET', '/x')])
  })
})

describe.each(FASTIFY)('%s', (_name, fastify) => {
  it('a 429 after a cache header is no-store', async () => {
    const app = fastify()
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('cache-control', CACHED)
    })
    await app.register(fastifyRateLimit, options())
    app.get('/x', async () => 'ok')
    expectOnlyTheAllowedCached([await sendFastify(app, 'GET', '/x'), await sendFastify(app, 'GET', '/x')])
    await app.close()
  })
})

describe('fetch', () => {
  it('a 429 is no-store (Hono, and a plain check)', async () => {
    const app = new Hono()
    app.use(fetchRateLimit({ ...options(), ip: () => '192.0.2.1' }))
    app.get('/x', (c) => c.text('ok'))
    expect((await app.request('/x')).status).toBe(200)
    const denied = await app.request('/x')
    expect(denied.status).toBe(429)
    expect(denied.headers.get('cache-control')).toBe('no-store')
    const limit = fetchRateLimit(options())
    await limit(new Request('http://x/'), { ip: '192.0.2.1' })
    expect((await limit(new Request('http://x/'), { ip: '192.0.2.1' }))?.headers.get('cache-control')).toBe('no-store')
  })
})
