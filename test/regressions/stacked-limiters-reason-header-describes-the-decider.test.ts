// A reason header (`headers.reason`) names the binding policy of the limiter that decided: with
// an application-wide limit that sends one and a route limit that doesn't, the route's responses
// must not carry the app-wide limiter's reason header next to the route's figures.
import { describe, expect, it } from 'vitest'
import { fixedWindow, tokenBucket } from '../../src/index.js'
import { build, FRAMEWORKS, type Framework, sendAll } from '../adapters/harness.js'
import { T0 } from '../helpers/http-apps.js'

const now = () => T0

describe.each(FRAMEWORKS)('%s', (framework: Framework) => {
  it("the route's responses carry no reason header of the app-wide limiter", async () => {
    const app = await build(framework, {
      global: { policies: [tokenBucket({ name: '100-per-minute', limit: 100, window: '1m' })], now, headers: { reason: true } },
      route: { policies: [fixedWindow({ name: '5-per-15m', limit: 5, window: '15m' })], now },
    })
    const [route] = await sendAll(app, [{ url: '/users/1' }])
    const [other] = await sendAll(app, [{ url: '/hello' }])
    await app.close()
    expect(route.headers['x-ratelimit-limit']).toBe('5')
    // Fastify's route config inherits the plugin's options (headers included): its route limiter
    // then sends a reason header of its own, naming its own policy. Never the app-wide one.
    expect([undefined, '"5-per-15m"']).toContain(route.headers['ratelimit-reason'])
    expect(other.headers['ratelimit-reason']).toBe('"100-per-minute"')
  })
})
