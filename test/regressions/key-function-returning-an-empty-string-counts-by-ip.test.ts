// A key function returning '' failed every such request with a 500 (ERR_RK_INVALID_ARGUMENT):
// Koa's `ctx.get('x-api-key')` answers '' for a missing header, so every request without a key
// failed, and with Express a client sending an empty `X-Api-Key:` got 500s, never counted. The
// key helpers (apiKey(), userKey()) already read '' as "no key". A key function's '' now means
// the same as undefined: the request is counted by client IP.
import type { Context } from 'koa'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { EXPRESS, KOA, perMinute, send } from '../helpers/http-apps.js'

describe.each(KOA)('%s', (_name, Koa) => {
  it("key: ctx.get('x-api-key') without the header counts by IP", async () => {
    const app = new Koa()
    app.silent = true
    app.use(koaRateLimit({ ...perMinute(2), key: (ctx: Context) => ctx.get('x-api-key') }))
    app.use((ctx: Context) => {
      ctx.body = 'ok'
    })
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await send(app.callback(), 'GET', '/x')).status)
    expect(statuses).toEqual([200, 200, 429])
    // A request with a key is counted under it, apart from the address.
    expect((await send(app.callback(), 'GET', '/x', { 'x-api-key': 'k1' })).status).toBe(200)
  })
})

describe.each(EXPRESS)('%s', (_name, express) => {
  it("key: req.get('x-api-key') with an empty header counts by IP", async () => {
    const app = express()
    app.use(expressRateLimit({ ...perMinute(2), key: (req) => req.get('x-api-key') }))
    app.get('/x', (_req, res) => {
      res.send('ok')
    })
    app.use((_error: unknown, _req: unknown, res: { sendStatus(s: number): void }, _next: unknown) => {
      res.sendStatus(500)
    })
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await send(app, 'GET', '/x', { 'x-api-key': '' })).status)
    expect(statuses).toEqual([200, 200, 429])
  })
})
