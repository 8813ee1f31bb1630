// Koa's error handling removes every response header before it answers an error, then sets the
// error's own `headers`: a handler that threw (a 500) or called ctx.throw(400) was answered
// without the rate-limit headers the middleware had set, unlike Express, Fastify and Fetch
// ("headers on every response"). The headers now ride on the error and survive; headers the
// error carries itself (an `Allow` of a 405) win, and stacked limiters still show the decider's.
import type Koa3 from 'koa'
import { describe, expect, it } from 'vitest'
import { rateLimit } from '../../adapters/koa.js'
import { tokenBucket } from '../../src/index.js'
import { KOA, Router, send, T0 } from '../helpers/http-apps.js'

const now = () => T0

describe.each(KOA)('%s', (_name, Koa) => {
  function app(): Koa3 {
    const a = new (Koa as typeof Koa3)()
    a.silent = true
    a.use(rateLimit({ policies: [tokenBucket({ name: 'app', limit: 10, window: '1m' })], now }))
    const router = new Router()
    router.get('/boom', () => {
      throw new Error('handler failed')
    })
    router.get('/bad', (ctx) => ctx.throw(400, 'bad request'))
    router.get('/method', (ctx) => ctx.throw(405, 'no', { headers: { Allow: 'POST', 'X-RateLimit-Limit': 'mine' } }))
    router.get(
      '/route',
      rateLimit({ policies: [tokenBucket({ name: 'route', limit: 3, window: '1m' })], now, headers: { legacy: false } }),
      () => {
        throw new Error('handler failed')
      },
    )
    a.use(router.routes())
    return a
  }

  it('a thrown error (500) keeps the headers', async () => {
    const res = await send(app().callback(), 'GET', '/boom')
    expect(res.status).toBe(500)
    expect(res.headers['x-ratelimit-remaining']).toBe('9')
    expect(res.headers.ratelimit).toBe('"app";r=9;t=6')
    expect(res.headers['ratelimit-policy']).toBe('"app";q=10;w=60')
  })

  it('ctx.throw(400) keeps the headers', async () => {
    const res = await send(app().callback(), 'GET', '/bad')
    expect(res.status).toBe(400)
    expect(res.headers['x-ratelimit-limit']).toBe('10')
    expect(res.headers.ratelimit).toBe('"app";r=9;t=6')
  })

  it("an error's own headers win", async () => {
    const res = await send(app().callback(), 'GET', '/method')
    expect(res.status).toBe(405)
    expect(res.headers.allow).toBe('POST')
    expect(res.headers['x-ratelimit-limit']).toBe('mine')
    expect(res.headers.ratelimit).toBe('"app";r=9;t=6')
  })

  it('an error object thrown again elsewhere carries no headers of an earlier request', async () => {
    const shared = Object.assign(new Error('gone'), { status: 410, expose: true })
    const a = new (Koa as typeof Koa3)()
    a.silent = true
    const router = new Router()
    router.get('/limited', rateLimit({ policies: [tokenBucket({ name: 'route', limit: 3, window: '1m' })], now }), () => {
      throw shared
    })
    router.get('/open', () => {
      throw shared
    })
    a.use(router.routes())
    const limited = await send(a.callback(), 'GET', '/limited')
    expect(limited.headers.ratelimit).toBe('"route";r=2;t=20')
    const open = await send(a.callback(), 'GET', '/open')
    expect(open.status).toBe(410)
    expect(open.headers.ratelimit).toBeUndefined()
    expect(open.headers['x-ratelimit-remaining']).toBeUndefined()
    expect((shared as { headers?: unknown }).headers).toBeUndefined()
  })

  it("stacked limiters: the route's headers, none left from the app's", async () => {
    const res = await send(app().callback(), 'GET', '/route')
    expect(res.status).toBe(500)
    expect(res.headers.ratelimit).toBe('"route";r=2;t=20')
    expect(res.headers['x-ratelimit-limit']).toBeUndefined()
  })
})
