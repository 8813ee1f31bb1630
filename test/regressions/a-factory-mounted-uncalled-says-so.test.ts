// The factory mounted itself, uncalled (`app.use(rateLimit)`, as a few middlewares allow, or
// `preHandler: fastifyRateLimit`), is handed a request, a Koa or Hono context or a Fastify reply
// as its options. Each request then failed with "`_events` (or `raw`, `request`, `env`) is not an
// option", naming an internal of the framework and keeping the request's fields in `received`.
// It now says the function was mounted uncalled and how to mount it, quoting nothing of the
// request.
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { rateLimit as fetchRateLimit } from '../../adapters/fetch.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { ConfigurationError } from '../../src/index.js'
import { EXPRESS, FASTIFY, KOA, send, sendFastify } from '../helpers/http-apps.js'

const SECRET = 'sk_live_do_not_log'

function expectTold(error: unknown, mount: RegExp): void {
  expect(error).toBeInstanceOf(ConfigurationError)
  const e = error as ConfigurationError
  expect(e.code).toBe('ERR_RK_INVALID_ARGUMENT')
  expect(e.option).toBe('options')
  expect(e.message).toMatch(/mounted uncalled/)
  expect(e.message).toMatch(mount)
  expect(e.message).not.toContain(SECRET)
  expect(e.received).toBeUndefined()
}

describe.each(EXPRESS)('%s', (_name, express) => {
  it('app.use(rateLimit) tells how to mount it', async () => {
    const app = express()
    app.use(expressRateLimit as never)
    app.get('/x', (_req, res) => {
      res.send('ok')
    })
    let caught: unknown
    app.use((error: unknown, _req: unknown, res: { status(n: number): { end(): void } }, _next: unknown) => {
      caught = error
      res.status(500).end()
    })
    expect((await send(app, 'GET', '/x', { authorization: SECRET })).status).toBe(500)
    expectTold(caught, /app\.use\(rateLimit\(\{ policies/)
  })
})

describe.each(KOA)('%s', (_name, Koa) => {
  it('app.use(rateLimit) tells how to mount it', async () => {
    const app = new Koa()
    let caught: unknown
    app.use(async (_ctx, next) => {
      try {
        await next()
      } catch (error) {
        caught = error
      }
    })
    app.use(koaRateLimit as never)
    await send(app.callback(), 'GET', '/x', { authorization: SECRET })
    expectTold(caught, /app\.use\(rateLimit\(\{ policies/)
  })
})

it('hono: app.use(rateLimit) tells how to mount it', async () => {
  const app = new Hono()
  let caught: unknown
  app.onError((error, c) => {
    caught = error
    return c.text('error', 500)
  })
  app.use(fetchRateLimit as never)
  app.get('/x', (c) => c.text('ok'))
  expect((await app.request('/x', { headers: { authorization: SECRET } })).status).toBe(500)
  expectTold(caught, /app\.use\(rateLimit\(\{ policies/)
})

describe.each(FASTIFY)('%s', (_name, Fastify) => {
  it('a route hook fastifyRateLimit tells to register the plugin', async () => {
    const app = Fastify()
    let caught: unknown
    app.setErrorHandler((error, _request, reply) => {
      caught = error
      reply.code(500).send('error')
    })
    app.get('/x', { preHandler: fastifyRateLimit as never }, async () => 'ok')
    expect((await sendFastify(app, 'GET', '/x', { authorization: SECRET })).status).toBe(500)
    expectTold(caught, /app\.register\(fastifyRateLimit, \{ policies/)
    await app.close()
  })
})
