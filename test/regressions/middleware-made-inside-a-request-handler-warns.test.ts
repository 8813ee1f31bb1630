// A newcomer's mistake: the middleware made inside a handler,
// `app.use((req, res, next) => rateLimit(options)(req, res, next))`. Every request gets a new
// limiter on a new memory store, so a limit of 1 admitted every request, and nothing said so.
// Now ten limiters made from one place while Node's HTTP server dispatches requests, none of them
// used for a second request, are reported (RK_LIMITER_PER_REQUEST, once per adapter). A limiter
// made once at start-up, made lazily by the first request and kept, or made on demand per tenant
// and kept, is not reported. Real servers on sockets: the check reads Node's HTTP server frames,
// which in-process injection does not have.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { EXPRESS, KOA, perMinute } from '../helpers/http-apps.js'

const CODE = 'RK_LIMITER_PER_REQUEST'
const [, express5] = EXPRESS[0]
const [, express4] = EXPRESS[1]
const [, Koa3] = KOA[0]

const servers: Server[] = []
const warnings: string[] = []
const onWarning = (w: Error & { code?: string }) => {
  if (w.code === CODE) warnings.push(w.message)
}
process.on('warning', onWarning)

afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve))
  warnings.length = 0
})

/** Statuses of `n` GET / to the server, one after the other. */
async function statuses(server: Server, n: number, path = '/'): Promise<number[]> {
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', resolve)))
  const { port } = server.address() as AddressInfo
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`)
    await res.text()
    out.push(res.status)
  }
  return out
}

/** Lets process warnings (emitted on the next tick) arrive. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

it('Express: made once at start-up, lazily by the first request, or per tenant on demand, and kept: not reported', async () => {
  const app = express4()
  app.use(expressRateLimit(perMinute(100)))
  let lazy: ReturnType<typeof expressRateLimit> | undefined
  app.use((req, res, next) => {
    lazy ??= expressRateLimit(perMinute(100))
    lazy(req, res, next)
  })
  // One limiter per tenant, made by the tenant's first request: 12 tenants come once each before
  // any comes back, then tenant 0 comes back and its limiter handles a second request.
  const perTenant = new Map<string, ReturnType<typeof expressRateLimit>>()
  app.use((req, res, next) => {
    const tenant = String(req.query.t)
    let limit = perTenant.get(tenant)
    if (limit === undefined) {
      limit = expressRateLimit(perMinute(2))
      perTenant.set(tenant, limit)
    }
    limit(req, res, next)
  })
  app.get('/', (_req, res) => {
    res.end('ok')
  })
  const server = app.listen(0, '127.0.0.1')
  servers.push(server)
  const tenants = [...Array.from({ length: 9 }, (_, i) => i), 0, 0, ...Array.from({ length: 12 }, (_, i) => 9 + i)]
  const seen: number[] = []
  for (const t of tenants) seen.push(...(await statuses(server, 1, `/?t=${t}`)))
  // Tenant 0's third request is its limit's third: the limiters made on demand are kept and limit.
  expect(seen[10]).toBe(429)
  await settle()
  expect(warnings).toEqual([])
})

it('Express: a middleware made per request is reported once, at its tenth request', async () => {
  const app = express5()
  app.use((req, res, next) => expressRateLimit(perMinute(1))(req, res, next))
  app.get('/', (_req, res) => {
    res.end('ok')
  })
  const server = app.listen(0, '127.0.0.1')
  servers.push(server)
  // The defect itself: a limit of 1 admits every request.
  expect(await statuses(server, 9)).toEqual(Array(9).fill(200))
  await settle()
  expect(warnings).toEqual([])
  expect(await statuses(server, 3)).toEqual([200, 200, 200])
  await settle()
  expect(warnings).toHaveLength(1)
  expect(warnings[0]).toContain('possible limiter made per request: rateLimit() (ratekeeper/express) made 10 limiters')
})

it('Koa: a middleware made per request is reported once', async () => {
  const app = new Koa3()
  app.use((ctx, next) => koaRateLimit(perMinute(1))(ctx, next))
  app.use((ctx) => {
    ctx.body = 'ok'
  })
  const server = app.listen(0, '127.0.0.1')
  servers.push(server)
  expect(await statuses(server, 12)).toEqual(Array(12).fill(200))
  await settle()
  expect(warnings).toHaveLength(1)
  expect(warnings[0]).toContain('ratekeeper/koa')
})
