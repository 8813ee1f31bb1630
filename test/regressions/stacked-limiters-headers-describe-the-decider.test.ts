// With an application-wide limit and a route limit stacked (the adapters guide's own example),
// every response's rate-limit headers describe the limiter that decided it, on every framework:
// Hono and Fetch used to put the app-wide figures (Limit 100, Remaining 99) on the route's 429
// next to the route's Retry-After and body; with different header dialects, Express, Koa and
// Fastify mixed both limiters' headers.
import { describe, expect, it } from 'vitest'
import { fixedWindow, tokenBucket } from '../../src/index.js'
import { build, FRAMEWORKS, type Framework, sendAll } from '../adapters/harness.js'
import { T0 } from '../helpers/http-apps.js'

const now = () => T0
const appWide = (extra: object = {}) => ({ policies: [tokenBucket({ name: '100-per-minute', limit: 100, window: '1m' })], now, ...extra })
const login = (extra: object = {}) => ({ policies: [fixedWindow({ name: '5-per-15m', limit: 5, window: '15m' })], now, ...extra })

describe.each(FRAMEWORKS)('%s', (framework: Framework) => {
  it("the route's responses carry the route's figures, its 429 included", async () => {
    const app = await build(framework, { global: appWide(), route: login() })
    const res = await sendAll(
      app,
      Array.from({ length: 6 }, () => ({ url: '/users/1' })),
    )
    await app.close()
    expect(res.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429])
    expect(res.map((r) => r.headers['x-ratelimit-limit'])).toEqual(['5', '5', '5', '5', '5', '5'])
    expect(res.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['4', '3', '2', '1', '0', '0'])
    expect(res[5].headers['ratelimit-policy']).toBe('"5-per-15m";q=5;w=900')
    // The 15-minute window is aligned to the epoch: T0 is 100 s before its end.
    expect(res[5].headers['retry-after']).toBe('100')
    expect(JSON.parse(res[5].body)['violated-policies']).toEqual(['5-per-15m'])
  })

  it('different header dialects: only the deciding limiter’s headers', async () => {
    const app = await build(framework, {
      global: appWide({ headers: { standard: false } }),
      route: login({ headers: { legacy: false, standard: 'draft-6' } }),
    })
    const [allowed] = await sendAll(app, [{ url: '/users/1' }])
    const [other] = await sendAll(app, [{ url: '/hello' }])
    await app.close()
    expect(allowed.headers).toEqual({
      'ratelimit-limit': '5',
      'ratelimit-remaining': '4',
      'ratelimit-reset': '100',
      'ratelimit-policy': '5;w=900',
    })
    expect(Object.keys(other.headers).sort()).toEqual(['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'])
  })
})
