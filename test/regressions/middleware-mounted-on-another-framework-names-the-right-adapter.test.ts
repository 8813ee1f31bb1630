// An adapter's middleware mounted on another framework failed with errors about the framework's
// internals, or never answered: the Express adapter in a Koa app threw "app?.get is not a
// function" and then "res.setHeader is not a function"; the Koa adapter in an Express app
// "Cannot read properties of undefined (reading 'socket')"; the Fetch adapter in an Express app
// left every request hanging, without a response or an error. Each request now fails with
// ERR_RK_INVALID_ARGUMENT naming the adapter the app needs.

import { Hono } from 'hono'
import type { Context, Next } from 'koa'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import { rateLimit as fetchRateLimit } from '../../adapters/fetch.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { EXPRESS, FASTIFY, KOA, perMinute, send, sendFastify } from '../helpers/http-apps.js'

type Middleware = (...args: never[]) => unknown

/** The error a request met, as each app's error handler below reports it. */
function expectNamed(body: string, adapter: string): void {
  const error = JSON.parse(body) as { code: string; message: string }
  expect(error.code).toBe('ERR_RK_INVALID_ARGUMENT')
  expect(error.message).toContain(`from '${adapter}'`)
}

const ON_EXPRESS = [
  ['koa', () => koaRateLimit(perMinute(5)), 'ratekeeper/express'],
  ['fetch', () => fetchRateLimit(perMinute(5)), 'ratekeeper/express'],
] as const

describe.each(EXPRESS)('%s', (_name, express) => {
  it.each(ON_EXPRESS)('the %s adapter mounted on Express names ratekeeper/express, on every request', async (_adapter, make, expected) => {
    const app = express()
    app.use(make() as unknown as Middleware as never)
    app.get('/x', (_req, res) => {
      res.send('ok')
    })
    app.use(
      (error: { code?: string; message: string }, _req: unknown, res: { status(s: number): { json(b: object): void } }, _next: unknown) => {
        res.status(500).json({ code: error.code, message: error.message })
      },
    )
    for (let i = 0; i < 2; i++) {
      const sent = await send(app, 'GET', '/x')
      expect(sent.status).toBe(500)
      expectNamed(sent.body, expected)
    }
  })
})

const ON_KOA = [
  ['express', () => expressRateLimit(perMinute(5))],
  ['fetch', () => fetchRateLimit(perMinute(5))],
] as const

describe.each(KOA)('%s', (_name, Koa) => {
  it.each(ON_KOA)('the %s adapter mounted on Koa names ratekeeper/koa, on every request', async (_adapter, make) => {
    const app = new Koa()
    app.use(async (ctx: Context, next: Next) => {
      try {
        await next()
      } catch (error) {
        ctx.status = 500
        ctx.body = { code: (error as { code?: string }).code, message: (error as Error).message }
      }
    })
    app.use(make() as unknown as Middleware as never)
    app.use((ctx: Context) => {
      ctx.body = 'ok'
    })
    for (let i = 0; i < 2; i++) {
      const sent = await send(app.callback(), 'GET', '/x')
      expect(sent.status).toBe(500)
      expectNamed(sent.body, 'ratekeeper/koa')
    }
  })
})

describe('Hono', () => {
  it.each([
    ['express', () => expressRateLimit(perMinute(5))],
    ['koa', () => koaRateLimit(perMinute(5))],
  ] as const)('the %s adapter mounted on Hono names ratekeeper/fetch', async (_adapter, make) => {
    const app = new Hono()
    app.onError((error, c) => c.json({ code: (error as { code?: string }).code, message: error.message }, 500))
    app.use(make() as unknown as Middleware as never)
    app.get('/x', (c) => c.text('ok'))
    const response = await app.request('/x')
    expect(response.status).toBe(500)
    expectNamed(await response.text(), 'ratekeeper/fetch')
  })
})

describe.each(FASTIFY)('%s', (_name, fastify) => {
  it('the Express adapter as an onRequest hook names ratekeeper/fastify', async () => {
    const app = fastify()
    app.addHook('onRequest', expressRateLimit(perMinute(5)) as unknown as Middleware as never)
    app.get('/x', async () => 'ok')
    const sent = await sendFastify(app, 'GET', '/x')
    expect(sent.status).toBe(500)
    expectNamed(sent.body, 'ratekeeper/fastify')
    await app.close()
  })
})
