// `app.use(rateLimit(…))` written after the routes (Express) or after `app.use(router.routes())`
// (Koa) limits none of them: they answer without reaching it, uncounted and without headers, and
// nothing said so. The first request that does reach it (an unknown route, say) now reports it
// once, as RK_MOUNTED_AFTER_ROUTES naming the routes; mounted first, or on a route, it says nothing.
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { createLimiter, type Limiter } from '../../src/index.js'
import { EXPRESS, KOA, perMinute, Router, send } from '../helpers/http-apps.js'

const CODE = 'RK_MOUNTED_AFTER_ROUTES'

function watched(): { limiter: Limiter; warnings: { code: string; message: string }[] } {
  const limiter = createLimiter(perMinute(10))
  const warnings: { code: string; message: string }[] = []
  limiter.on('warn', (w) => warnings.push(w))
  return { limiter, warnings }
}

describe.each(EXPRESS)('%s', (_name, express) => {
  it('mounted after two routes: reported once, naming them', async () => {
    const { limiter, warnings } = watched()
    const app = express()
    app.get('/things', (_req, res) => {
      res.send('things')
    })
    app.post('/login', (_req, res) => {
      res.send('welcome')
    })
    app.use(expressRateLimit({ limiter }))
    expect((await send(app, 'GET', '/things')).headers['x-ratelimit-limit']).toBeUndefined()
    expect(warnings).toEqual([])
    await send(app, 'GET', '/unknown')
    await send(app, 'GET', '/unknown')
    expect(warnings.map((w) => w.code)).toEqual([CODE])
    expect(warnings[0].message).toMatch(/2 routes/)
    expect(warnings[0].message).toContain('GET /things')
    expect(warnings[0].message).toContain('POST /login')
  })

  it('mounted before the routes, or on a route: nothing reported', async () => {
    const { limiter, warnings } = watched()
    const app = express()
    app.use(expressRateLimit({ limiter }))
    app.get('/things', (_req, res) => {
      res.send('things')
    })
    app.post('/login', expressRateLimit({ limiter }), (_req, res) => {
      res.send('welcome')
    })
    await send(app, 'GET', '/things')
    await send(app, 'POST', '/login')
    await send(app, 'GET', '/unknown')
    expect(warnings).toEqual([])
  })
})

describe.each(KOA)('%s', (_name, Koa) => {
  it('mounted after a router: reported once', async () => {
    const { limiter, warnings } = watched()
    const app = new Koa()
    const router = new Router()
    router.get('/things', (ctx) => {
      ctx.body = 'things'
    })
    app.use(router.routes())
    app.use(koaRateLimit({ limiter }))
    await send(app.callback(), 'GET', '/things')
    expect(warnings).toEqual([])
    await send(app.callback(), 'GET', '/unknown')
    await send(app.callback(), 'GET', '/unknown')
    expect(warnings.map((w) => w.code)).toEqual([CODE])
  })

  it('mounted before the router, or on a route: nothing reported', async () => {
    const { limiter, warnings } = watched()
    const app = new Koa()
    const router = new Router()
    router.get('/things', koaRateLimit({ limiter }), (ctx) => {
      ctx.body = 'things'
    })
    app.use(koaRateLimit({ limiter }))
    app.use(router.routes())
    await send(app.callback(), 'GET', '/things')
    await send(app.callback(), 'GET', '/unknown')
    expect(warnings).toEqual([])
  })
})
