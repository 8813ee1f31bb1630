// A Fastify route's `config.rateLimit` outside the plugin's encapsulation context (the plugin
// registered inside `app.register(async (i) => { … })`, as apps commonly organise plugins, and the
// route declared on the root or in another context) was silently ignored: every request passed.
// Start-up now fails naming the route; routes the plugin does reach are limited as before.
import { fixedWindow } from 'ratekeeper'
import fastifyRateLimit from 'ratekeeper/fastify'
import { describe, expect, it } from 'vitest'
import { FASTIFY, sendFastify } from '../helpers/http-apps.js'

const strict = () => ({ policies: [fixedWindow({ name: 'strict', limit: 2, window: '15m' })] })
const loose = () => ({ policies: [fixedWindow({ limit: 100, window: '1m' })] })

describe.each(FASTIFY)('%s', (_name, fastify) => {
  /** The ratekeeper plugin registered in an encapsulated context of its own (no fastify-plugin wrapper). */
  async function encapsulatedPlugin(app: ReturnType<typeof fastify>) {
    await app.register(async function rateLimitPlugin(instance) {
      await instance.register(fastifyRateLimit, loose())
    })
  }

  async function readyError(app: ReturnType<typeof fastify>): Promise<unknown> {
    try {
      await app.ready()
    } catch (error) {
      return error
    } finally {
      await app.close()
    }
    return undefined
  }

  it('a route on the root: start-up fails naming the route, never 5 x 200', async () => {
    const app = fastify()
    await encapsulatedPlugin(app)
    app.post('/login', { config: { rateLimit: strict() } }, async () => 'ok')
    const error = await readyError(app)
    expect(error).toMatchObject({ code: 'ERR_RK_INVALID_OPTION' })
    expect((error as Error).message).toMatch(/POST \/login/)
    expect((error as Error).message).toMatch(/config\.rateLimit/)
  })

  it('a route in a sibling context: start-up fails naming the route', async () => {
    const app = fastify()
    await encapsulatedPlugin(app)
    app.register(async (api) => {
      api.get('/things', { config: { rateLimit: strict() } }, async () => 'ok')
    })
    const error = await readyError(app)
    expect((error as Error).message).toMatch(/GET \/things/)
  })

  it('a route in the plugin context and its children is limited, and start-up succeeds', async () => {
    const app = fastify()
    await app.register(async (instance) => {
      await instance.register(fastifyRateLimit, loose())
      instance.post('/login', { config: { rateLimit: strict() } }, async () => 'ok')
      instance.register(async (child) => {
        child.post('/child', { config: { rateLimit: strict() } }, async () => 'ok')
      })
    })
    await app.ready()
    for (const url of ['/login', '/child']) {
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await sendFastify(app, 'POST', url)).status)
      expect(statuses).toEqual([200, 200, 429])
    }
    await app.close()
  })

  it('rateLimit: false outside the plugin context is no error (nothing is limited there anyway)', async () => {
    const app = fastify()
    await encapsulatedPlugin(app)
    app.get('/open', { config: { rateLimit: false } }, async () => 'ok')
    await app.ready()
    expect((await sendFastify(app, 'GET', '/open')).status).toBe(200)
    await app.close()
  })

  it('the plugin on the root reaches every route declared after it', async () => {
    const app = fastify()
    await app.register(fastifyRateLimit, loose())
    app.register(async (api) => {
      api.post('/login', { config: { rateLimit: strict() } }, async () => 'ok')
    })
    await app.ready()
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await sendFastify(app, 'POST', '/login')).status)
    expect(statuses).toEqual([200, 200, 429])
    await app.close()
  })
})
