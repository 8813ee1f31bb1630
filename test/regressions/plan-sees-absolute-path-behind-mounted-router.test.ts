// The `path` a plan (and every key, cost and skip function) sees is the absolute path of the
// request, wherever the limiter is mounted: behind `app.use('/auth', auth)`, a mount-relative
// `/token` escaped the request class written for `/auth/…`.
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { rateLimit as fetchRateLimit } from '../../adapters/fetch.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import type { HttpRequestInfo, RequestPlan } from '../../src/http/request.js'
import { fixedWindow } from '../../src/index.js'
import { EXPRESS, FASTIFY, KOA, Router, send, sendFastify, T0 } from '../helpers/http-apps.js'

/** A plan with an `auth` class (1 per minute) for `/auth/…`, and 100 per minute for the rest; it records what it saw. */
function classes() {
  const seen: string[] = []
  const auth = [fixedWindow({ name: 'auth', limit: 1, window: '1m' })]
  const rest = [fixedWindow({ name: 'rest', limit: 100, window: '1m' })]
  const plan = (info: HttpRequestInfo<unknown>): RequestPlan => {
    seen.push(info.path)
    const isAuth = info.path.startsWith('/auth/')
    return { key: `${isAuth ? 'auth' : 'rest'}|ip:${info.ip}`, policies: isAuth ? auth : rest }
  }
  return { seen, options: { policies: rest, plan, now: () => T0 } }
}

describe.each(EXPRESS)('%s', (_name, express) => {
  it('router.use(rateLimit({ plan })) behind app.use("/auth", router)', async () => {
    const { seen, options } = classes()
    const app = express()
    const auth = express.Router()
    auth.use(expressRateLimit(options as never))
    auth.post('/token', (_req, res) => {
      res.end('token')
    })
    app.use('/auth', auth)
    const statuses = [(await send(app, 'POST', '/auth/token?x=1')).status, (await send(app, 'POST', '/auth/token')).status]
    expect(seen).toEqual(['/auth/token', '/auth/token'])
    expect(statuses).toEqual([200, 429])
  })

  it('a route of a router mounted on a regular expression, in a sub-app', async () => {
    const { seen, options } = classes()
    const app = express()
    const sub = express()
    const router = express.Router()
    router.post('/token', expressRateLimit(options as never), (_req, res) => {
      res.end('token')
    })
    sub.use(/^\/auth/, router)
    app.use('/v1', sub)
    await send(app, 'POST', '/v1/auth/token')
    expect(seen).toEqual(['/v1/auth/token'])
  })
})

describe.each(KOA)('%s', (_name, Koa) => {
  it('router.use(rateLimit({ plan })) in a router nested under /auth', async () => {
    const { seen, options } = classes()
    const app = new Koa()
    const auth = new Router()
    auth.use(koaRateLimit(options as never))
    auth.post('/token', (ctx) => {
      ctx.body = 'token'
    })
    const root = new Router()
    root.use('/auth', auth.routes())
    app.use(root.routes())
    const listener = app.callback()
    const statuses = [(await send(listener, 'POST', '/auth/token')).status, (await send(listener, 'POST', '/auth/token')).status]
    expect(seen).toEqual(['/auth/token', '/auth/token'])
    expect(statuses).toEqual([200, 429])
  })

  it('behind a mount that rewrites ctx.path to the mount-relative path (as koa-mount does)', async () => {
    const { seen, options } = classes()
    const app = new Koa()
    const limit = koaRateLimit(options as never)
    app.use(async (ctx, next) => {
      if (!ctx.path.startsWith('/auth/')) return next()
      const original = ctx.path
      ctx.path = ctx.path.slice('/auth'.length)
      try {
        await limit(ctx, async () => {
          ctx.body = 'token'
        })
      } finally {
        ctx.path = original
      }
    })
    await send(app.callback(), 'POST', '/auth/token?q=1')
    expect(seen).toEqual(['/auth/token'])
  })
})

describe.each(FASTIFY)('%s', (_name, fastify) => {
  it('the plugin registered in a context with the prefix /auth', async () => {
    const { seen, options } = classes()
    const app = fastify()
    await app.register(
      async (auth) => {
        await auth.register(fastifyRateLimit, options as never)
        auth.post('/token', async () => 'token')
      },
      { prefix: '/auth' },
    )
    const statuses = [(await sendFastify(app, 'POST', '/auth/token')).status, (await sendFastify(app, 'POST', '/auth/token?x')).status]
    expect(seen).toEqual(['/auth/token', '/auth/token'])
    expect(statuses).toEqual([200, 429])
    await app.close()
  })
})

describe('hono', () => {
  it('middleware of a sub-app routed under /auth', async () => {
    const { seen, options } = classes()
    const auth = new Hono()
    auth.use(fetchRateLimit({ ...(options as object), ip: () => '192.0.2.1' } as never))
    auth.post('/token', (c) => c.text('token'))
    const app = new Hono()
    app.route('/auth', auth)
    const statuses = [
      (await app.request('/auth/token', { method: 'POST' })).status,
      (await app.request('/auth/token', { method: 'POST' })).status,
    ]
    expect(seen).toEqual(['/auth/token', '/auth/token'])
    expect(statuses).toEqual([200, 429])
  })
})

describe('fetch', () => {
  it('a plain check sees the request path', async () => {
    const { seen, options } = classes()
    const limit = fetchRateLimit(options as never)
    await limit(new Request('http://x/auth/token?y=2', { method: 'POST' }), { ip: '192.0.2.1' })
    expect(seen).toEqual(['/auth/token'])
  })
})
