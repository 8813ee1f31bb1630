// A route registered for every method (`all`) or for a list of methods is one route: its
// per-route limit is one bucket, whatever the method of each request. Counting each method
// apart gave a handler limited to 2 requests one run per method.
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { rateLimit as fetchRateLimit } from '../../adapters/fetch.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { EXPRESS, FASTIFY, KOA, METHODS, perMinute, Router, send, sendFastify } from '../helpers/http-apps.js'

const LIMIT = 2

describe.each(EXPRESS)('%s', (_name, express) => {
  it('app.all: one bucket for every method', async () => {
    const app = express()
    let runs = 0
    app.all('/x', expressRateLimit(perMinute(LIMIT)), (_req, res) => {
      runs++
      res.end('x')
    })
    for (const method of METHODS) await send(app, method, '/x')
    expect(runs).toBe(LIMIT)
  })

  it('router.all under a mount: one bucket for every method', async () => {
    const app = express()
    const router = express.Router()
    let runs = 0
    router.all('/x', expressRateLimit(perMinute(LIMIT)), (_req, res) => {
      runs++
      res.end('x')
    })
    app.use('/api', router)
    for (const method of METHODS) await send(app, method, '/api/x')
    expect(runs).toBe(LIMIT)
  })

  it('one route with several methods (app.route().get().post()): one bucket', async () => {
    const app = express()
    const limit = expressRateLimit(perMinute(LIMIT))
    let runs = 0
    const handler = (_req: unknown, res: { end: (s: string) => void }) => {
      runs++
      res.end('x')
    }
    app.route('/x').get(limit, handler).post(limit, handler).put(limit, handler)
    for (const method of ['GET', 'POST', 'PUT', 'GET', 'POST', 'PUT']) await send(app, method, '/x')
    expect(runs).toBe(LIMIT)
  })

  it('separate routes on one path keep buckets of their own', async () => {
    const app = express()
    const limit = expressRateLimit(perMinute(1))
    app.get('/x', limit, (_req, res) => {
      res.end('get')
    })
    app.post('/x', limit, (_req, res) => {
      res.end('post')
    })
    expect([(await send(app, 'GET', '/x')).status, (await send(app, 'POST', '/x')).status]).toEqual([200, 200])
    expect([(await send(app, 'GET', '/x')).status, (await send(app, 'POST', '/x')).status]).toEqual([429, 429])
  })
})

describe.each(KOA)('%s', (_name, Koa) => {
  it('router.all: one bucket for every method', async () => {
    const app = new Koa()
    const router = new Router()
    let runs = 0
    router.all('/x', koaRateLimit(perMinute(LIMIT)), (ctx) => {
      runs++
      ctx.body = 'x'
    })
    app.use(router.routes())
    const listener = app.callback()
    for (const method of METHODS) await send(listener, method, '/x')
    expect(runs).toBe(LIMIT)
  })

  it('router.register with a method list: one bucket', async () => {
    const app = new Koa()
    const router = new Router()
    let runs = 0
    router.register(
      '/x',
      ['get', 'post', 'put'],
      [
        koaRateLimit(perMinute(LIMIT)),
        (ctx) => {
          runs++
          ctx.body = 'x'
        },
      ],
    )
    app.use(router.routes())
    const listener = app.callback()
    for (const method of ['GET', 'POST', 'PUT', 'GET', 'POST', 'PUT']) await send(listener, method, '/x')
    expect(runs).toBe(LIMIT)
  })

  it('separate routes on one path keep buckets of their own', async () => {
    const app = new Koa()
    const router = new Router()
    const limit = koaRateLimit(perMinute(1))
    router.get('/x', limit, (ctx) => {
      ctx.body = 'get'
    })
    router.post('/x', limit, (ctx) => {
      ctx.body = 'post'
    })
    app.use(router.routes())
    const listener = app.callback()
    expect([(await send(listener, 'GET', '/x')).status, (await send(listener, 'POST', '/x')).status]).toEqual([200, 200])
    expect([(await send(listener, 'GET', '/x')).status, (await send(listener, 'POST', '/x')).status]).toEqual([429, 429])
  })
})

describe.each(FASTIFY)('%s', (_name, fastify) => {
  it('app.all and a method list: one bucket for every method', async () => {
    const app = fastify()
    await app.register(fastifyRateLimit, { ...perMinute(100) })
    let all = 0
    let list = 0
    app.all('/all', { config: { rateLimit: perMinute(LIMIT) } }, async () => {
      all++
      return 'x'
    })
    app.route({
      method: ['GET', 'POST', 'PUT'],
      url: '/list',
      config: { rateLimit: perMinute(LIMIT) },
      handler: async () => {
        list++
        return 'x'
      },
    })
    await app.ready()
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) await sendFastify(app, method, '/all')
    for (const method of ['GET', 'POST', 'PUT', 'GET', 'POST', 'PUT']) await sendFastify(app, method, '/list')
    expect([all, list]).toEqual([LIMIT, LIMIT])
    await app.close()
  })
})

describe('hono', () => {
  it('app.all and app.on(methods): one bucket for every method', async () => {
    const app = new Hono()
    let all = 0
    let on = 0
    const ip = () => '192.0.2.1'
    app.all('/all', fetchRateLimit({ ...perMinute(LIMIT), ip }), (c) => {
      all++
      return c.text('x')
    })
    app.on(['GET', 'POST', 'PUT'], '/on', fetchRateLimit({ ...perMinute(LIMIT), ip }), (c) => {
      on++
      return c.text('x')
    })
    for (const method of METHODS) await app.request('/all', { method })
    for (const method of ['GET', 'POST', 'PUT', 'GET', 'POST', 'PUT']) await app.request('/on', { method })
    expect([all, on]).toEqual([LIMIT, LIMIT])
  })
})

describe('fetch', () => {
  it('a plain check with a route: one bucket for the route, whatever the method', async () => {
    const limit = fetchRateLimit(perMinute(LIMIT))
    const statuses: number[] = []
    for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
      const check = await limit.check(new Request('http://x/things', { method }), { ip: '192.0.2.1', route: '/things' })
      statuses.push(check.response?.status ?? 200)
    }
    expect(statuses).toEqual([200, 200, 429, 429])
  })
})
