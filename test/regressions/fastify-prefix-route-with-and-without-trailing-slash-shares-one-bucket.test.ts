// Fastify 4 registers a prefixed plugin's `/` route twice, as `/v1` and `/v1/` (its default
// `prefixTrailingSlash: 'both'`), each with a context of its own. A `config.rateLimit` on that
// route was scoped by each twin's URL, so a client alternating `/v1` and `/v1/` had twice the
// route's allowance (4 x 200 under a limit of 2). Both spellings are now one route, one bucket.
import { fixedWindow } from 'ratekeeper'
import fastifyRateLimit from 'ratekeeper/fastify'
import { describe, expect, it } from 'vitest'
import { FASTIFY, sendFastify } from '../helpers/http-apps.js'

const strict = () => ({ policies: [fixedWindow({ name: 'strict', limit: 2, window: '15m' })] })

describe.each(FASTIFY)('%s', (_name, fastify) => {
  it("a route limit on a prefix's '/' route is not doubled by the trailing slash", async () => {
    const app = fastify()
    await app.register(fastifyRateLimit, { policies: [fixedWindow({ limit: 100, window: '1m' })] })
    app.register(
      async (api) => {
        api.get('/', { config: { rateLimit: strict() } }, async () => 'ok')
      },
      { prefix: '/v1' },
    )
    await app.ready()
    const statuses = []
    for (const url of ['/v1', '/v1/', '/v1', '/v1/']) statuses.push((await sendFastify(app, 'GET', url)).status)
    expect(statuses).toEqual([200, 200, 429, 429])
    await app.close()
  })

  it('a plan sees one route template for both spellings', async () => {
    const app = fastify()
    const seen = new Set<string | undefined>()
    await app.register(fastifyRateLimit, {
      policies: [fixedWindow({ limit: 100, window: '1m' })],
      key: (_req, info) => {
        seen.add(info.route)
        return 'k'
      },
    })
    app.register(
      async (api) => {
        api.get('/', async () => 'ok')
      },
      { prefix: '/v1' },
    )
    await app.ready()
    for (const url of ['/v1', '/v1/']) expect((await sendFastify(app, 'GET', url)).status).toBe(200)
    expect([...seen]).toEqual(['/v1'])
    await app.close()
  })
})
