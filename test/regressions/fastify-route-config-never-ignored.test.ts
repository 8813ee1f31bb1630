// A Fastify route's `config.rateLimit` applies however the route and the plugin are ordered: a
// route declared before the plugin, or after a `register` that was not awaited, had its limits,
// its `rateLimit: false` and even invalid options silently ignored. (The compiler's side is
// test/adapters/fastify-route-config.types.ts.)
import { describe, expect, it } from 'vitest'
import fastifyRateLimit from '../../adapters/fastify.js'
import { FASTIFY, perMinute, sendFastify } from '../helpers/http-apps.js'

type Order = 'route declared before the plugin' | 'plugin registered without await'
const ORDERS: Order[] = ['route declared before the plugin', 'plugin registered without await']

describe.each(FASTIFY)('%s', (_name, fastify) => {
  /** An app with a plugin limit of 100 and the routes `declare` adds, in the given order. */
  async function build(order: Order, declare: (app: ReturnType<typeof fastify>) => void) {
    const app = fastify()
    app.setErrorHandler((error, _request, reply) => {
      reply.code(500).send({ code: (error as { code?: string }).code, message: (error as Error).message })
    })
    if (order === 'route declared before the plugin') {
      declare(app)
      await app.register(fastifyRateLimit, perMinute(100))
    } else {
      app.register(fastifyRateLimit, perMinute(100))
      declare(app)
    }
    return app
  }

  it.each(ORDERS)('%s: the route limit applies', async (order) => {
    const app = await build(order, (a) => a.get('/strict', { config: { rateLimit: perMinute(1, 'strict') } }, async () => 's'))
    await app.ready()
    const res = [await sendFastify(app, 'GET', '/strict'), await sendFastify(app, 'GET', '/strict')]
    expect(res.map((r) => r.status)).toEqual([200, 429])
    expect(res[0].headers['ratelimit-policy']).toBe('"strict";q=1;w=60')
    await app.close()
  })

  it.each(ORDERS)('%s: rateLimit: false exempts the route', async (order) => {
    const app = await build(order, (a) => a.get('/open', { config: { rateLimit: false } }, async () => 'o'))
    await app.ready()
    const res = await sendFastify(app, 'GET', '/open')
    expect(res.status).toBe(200)
    expect(res.headers['x-ratelimit-limit']).toBeUndefined()
    await app.close()
  })

  it.each(ORDERS)('%s: invalid options are an error naming the route and the option, never ignored', async (order) => {
    const app = await build(order, (a) => a.get('/bad', { config: { rateLimit: { polices: [] } as never } }, async () => 'b'))
    let failure: unknown
    try {
      await app.ready()
      const res = await sendFastify(app, 'GET', '/bad')
      failure = JSON.parse(res.body)
      expect(res.status).toBe(500)
    } catch (error) {
      failure = error
    }
    expect(failure).toMatchObject({ code: 'ERR_RK_UNKNOWN_OPTION' })
    expect((failure as { message: string }).message).toMatch(/GET \/bad/)
    expect((failure as { message: string }).message).toMatch(/"polices"/)
    await app.close()
  })

  it.each(ORDERS)('%s: a route config that is not an object or false is an error', async (order) => {
    const app = await build(order, (a) => a.get('/five', { config: { rateLimit: 5 as never } }, async () => 'f'))
    let failure: unknown
    try {
      await app.ready()
      failure = JSON.parse((await sendFastify(app, 'GET', '/five')).body)
    } catch (error) {
      failure = error
    }
    expect(failure).toMatchObject({ code: 'ERR_RK_INVALID_OPTION' })
    expect((failure as { message: string }).message).toMatch(/GET \/five/)
    await app.close()
  })

  it('a method list declared before the plugin: one bucket, methods alike', async () => {
    const app = await build('route declared before the plugin', (a) =>
      a.route({ method: ['GET', 'POST'], url: '/m', config: { rateLimit: perMinute(2) }, handler: async () => 'm' }),
    )
    await app.ready()
    const statuses = []
    for (const method of ['POST', 'GET', 'POST', 'GET']) statuses.push((await sendFastify(app, method, '/m')).status)
    expect(statuses).toEqual([200, 200, 429, 429])
    await app.close()
  })
})
