// Koa turns `app.proxy` on for any truthy value (the string 'true', even 'false' read from an
// environment variable, or 1), and a `maxIpsCount` that is not a whole number of hops from 1 to 10
// (0.5) makes it take the left-most X-Forwarded-For entry, which the client wrote. Each of these
// is reported once as RK_TRUST_PROXY_ANY; `proxy: false` and one hop are not.
import type Koa3 from 'koa'
import { describe, expect, it } from 'vitest'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { KOA, send, T0 } from '../helpers/http-apps.js'

const ANY = 'RK_TRUST_PROXY_ANY'

describe.each(KOA)('%s', (_name, Koa) => {
  it.each([
    ['proxy true, maxIpsCount 0', true, 0, [ANY]],
    ["proxy 'true', maxIpsCount 0", 'true', 0, [ANY]],
    ["proxy 'false' (truthy), maxIpsCount 0", 'false', 0, [ANY]],
    ['proxy 1, maxIpsCount 0', 1, 0, [ANY]],
    ['proxy true, maxIpsCount 0.5', true, 0.5, [ANY]],
    ['proxy true, maxIpsCount 1.5', true, 1.5, [ANY]],
    ["proxy 'true', maxIpsCount 1", 'true', 1, []],
    ['proxy false, maxIpsCount 0', false, 0, []],
    ['proxy true, maxIpsCount 1', true, 1, []],
  ] as const)('%s', async (_setting, proxy, maxIpsCount, expected) => {
    const app = new (Koa as typeof Koa3)()
    ;(app as { proxy: unknown }).proxy = proxy
    app.maxIpsCount = maxIpsCount
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 100, window: '1m' })], now: () => T0 })
    const codes: string[] = []
    limiter.on('warn', (w) => codes.push(w.code))
    app.use(koaRateLimit({ limiter }))
    app.use((ctx) => {
      ctx.body = 'x'
    })
    const listener = app.callback()
    await send(listener, 'GET', '/x', { 'x-forwarded-for': '203.0.113.9' })
    await send(listener, 'GET', '/x')
    expect(codes).toEqual([...expected])
  })
})
