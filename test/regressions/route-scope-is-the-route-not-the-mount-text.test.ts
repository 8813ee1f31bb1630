// A per-route limit counts one bucket per registered route, whatever text of the URL reached it:
// a router mounted on a regular expression (`/v1`, `/v2`, `/v00001`…), on a list of paths, on a
// path with parameters or at several places, and a route registered with a list of paths. Keying
// by the matched prefix text gave each spelling a fresh allowance.
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { EXPRESS, KOA, perMinute, Router, send } from '../helpers/http-apps.js'

const LIMIT = 2

describe.each(EXPRESS)('%s', (_name, express) => {
  /** An app whose `router` has `POST /login` limited to LIMIT; `mount` mounts it. */
  function app(mount: (app: ReturnType<typeof express>, router: ReturnType<typeof express.Router>) => void) {
    const a = express()
    const router = express.Router()
    const counter = { runs: 0 }
    router.post('/login', expressRateLimit(perMinute(LIMIT)), (_req, res) => {
      counter.runs++
      res.end('in')
    })
    mount(a, router)
    return { app: a, counter }
  }

  it('a router mounted on a regular expression: one bucket for /v1, /v2, /v00001…', async () => {
    const { app: a, counter } = app((a, r) => a.use(/^\/v\d+/, r))
    for (const url of ['/v1/login', '/v2/login', '/v00001/login', '/v3/login', '/v42/login']) await send(a, 'POST', url)
    expect(counter.runs).toBe(LIMIT)
  })

  it('a router mounted on a list of paths: one bucket for all of them', async () => {
    const { app: a, counter } = app((a, r) => a.use(['/api', '/v1', '/legacy'], r))
    for (const url of ['/api/login', '/v1/login', '/legacy/login', '/api/login']) await send(a, 'POST', url)
    expect(counter.runs).toBe(LIMIT)
  })

  it('one router mounted at two places: one bucket', async () => {
    const { app: a, counter } = app((a, r) => {
      a.use('/a', r)
      a.use('/b', r)
    })
    for (const url of ['/a/login', '/b/login', '/a/login', '/b/login']) await send(a, 'POST', url)
    expect(counter.runs).toBe(LIMIT)
  })

  it('a router mounted at a path with parameters: one bucket for every value', async () => {
    const { app: a, counter } = app((a, r) => a.use('/orgs/:org', r))
    for (const url of ['/orgs/1/login', '/orgs/2/login', '/orgs/3/login', '/ORGS/4/login']) await send(a, 'POST', url)
    expect(counter.runs).toBe(LIMIT)
  })

  it('nested routers on regular expressions: one bucket', async () => {
    const { app: a, counter } = app((a, r) => {
      const outer = express.Router()
      outer.use(/^\/t\d+/, r)
      a.use(/^\/v\d+/, outer)
    })
    for (const url of ['/v1/t1/login', '/v2/t1/login', '/v1/t2/login', '/v9/t9/login']) await send(a, 'POST', url)
    expect(counter.runs).toBe(LIMIT)
  })

  it('two routers with the same route text at different mounts keep buckets of their own', async () => {
    const a = express()
    for (const prefix of ['/a', '/b']) {
      const r = express.Router()
      r.post('/login', expressRateLimit(perMinute(1)), (_req, res) => {
        res.end('in')
      })
      a.use(prefix, r)
    }
    const statuses = []
    for (const url of ['/a/login', '/b/login', '/a/login', '/b/login']) statuses.push((await send(a, 'POST', url)).status)
    expect(statuses).toEqual([200, 200, 429, 429])
  })
})

describe.each(KOA)('%s', (_name, Koa) => {
  it('a route registered with a list of paths: one bucket', async () => {
    const app = new Koa()
    const router = new Router()
    let runs = 0
    router.post(['/login', '/signin', '/sign-in'], koaRateLimit(perMinute(LIMIT)), (ctx) => {
      runs++
      ctx.body = 'in'
    })
    app.use(router.routes())
    const listener = app.callback()
    for (const url of ['/login', '/signin', '/sign-in', '/login']) await send(listener, 'POST', url)
    expect(runs).toBe(LIMIT)
  })

  it('a nested router mounted on a list of prefixes, or twice: one bucket', async () => {
    const app = new Koa()
    const users = new Router()
    let runs = 0
    users.post('/login', koaRateLimit(perMinute(LIMIT)), (ctx) => {
      runs++
      ctx.body = 'in'
    })
    const api = new Router()
    api.use(['/v1', '/v2'], users.routes())
    api.use('/legacy', users.routes())
    app.use(api.routes())
    const listener = app.callback()
    for (const url of ['/v1/login', '/v2/login', '/legacy/login', '/v1/login']) await send(listener, 'POST', url)
    expect(runs).toBe(LIMIT)
  })

  it('routes with a regular-expression path or parameters: one bucket', async () => {
    const app = new Koa()
    const router = new Router()
    let runs = 0
    router.post('/:version/login', koaRateLimit(perMinute(LIMIT)), (ctx) => {
      runs++
      ctx.body = 'in'
    })
    app.use(router.routes())
    const listener = app.callback()
    for (const url of ['/v1/login', '/v2/login', '/v3/login']) await send(listener, 'POST', url)
    expect(runs).toBe(LIMIT)
  })

  it('two routes with their own handlers keep buckets of their own', async () => {
    const app = new Koa()
    const router = new Router()
    const limit = koaRateLimit(perMinute(1))
    router.post('/a', limit, (ctx) => {
      ctx.body = 'a'
    })
    router.post('/b', limit, (ctx) => {
      ctx.body = 'b'
    })
    app.use(router.routes())
    const listener = app.callback()
    const statuses = []
    for (const url of ['/a', '/b', '/a', '/b']) statuses.push((await send(listener, 'POST', url)).status)
    expect(statuses).toEqual([200, 200, 429, 429])
  })
})
