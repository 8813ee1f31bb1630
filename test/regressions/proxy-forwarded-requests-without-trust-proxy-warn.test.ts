// Behind a reverse proxy with the framework's trust-proxy setting left off (the default on every
// framework), each request's address is the proxy's: every client shares one IP bucket, and the
// first busy one locks all the others out. Nothing said so. The first request that a proxy
// forwarded (X-Forwarded-For or Forwarded, from a loopback or private address) is now reported
// once per app through the limiter's `warn` (RK_TRUST_PROXY_UNSET). A client on the Internet that
// writes the header itself (a public peer), a request without the header, and an app that trusts
// its proxy are not reported.
import type Koa3 from 'koa'
import { inject } from 'light-my-request'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { createLimiter, type Limiter, tokenBucket } from '../../src/index.js'
import { EXPRESS, FASTIFY, KOA, T0 } from '../helpers/http-apps.js'

const UNSET = 'RK_TRUST_PROXY_UNSET'

function limiterWithWarnings(): { limiter: Limiter; codes: string[] } {
  const limiter = createLimiter({ policies: [tokenBucket({ limit: 100, window: '1m' })], now: () => T0 })
  const codes: string[] = []
  limiter.on('warn', (w) => codes.push(w.code))
  return { limiter, codes }
}

/** [case, peer address, headers of each request, reported] */
const CASES: [string, string, Record<string, string>[], string[]][] = [
  ['X-Forwarded-For from loopback', '127.0.0.1', [{}, { 'x-forwarded-for': '203.0.113.7' }, { 'x-forwarded-for': '203.0.113.8' }], [UNSET]],
  ['Forwarded from a private address', '10.1.2.3', [{ forwarded: 'for=203.0.113.7' }], [UNSET]],
  ['X-Forwarded-For from an IPv4-mapped private address', '::ffff:192.168.1.10', [{ 'x-forwarded-for': '203.0.113.7' }], [UNSET]],
  ['X-Forwarded-For from a public client', '198.51.100.20', [{ 'x-forwarded-for': '203.0.113.7' }], []],
  ['no header from loopback', '127.0.0.1', [{}, {}], []],
]

async function run(listener: unknown, peer: string, requests: Record<string, string>[]): Promise<void> {
  for (const headers of requests) await inject(listener as never, { method: 'GET', url: '/x', headers, remoteAddress: peer })
}

describe.each(EXPRESS)('%s', (_name, express) => {
  it.each(CASES)("'trust proxy' off, %s", async (_case, peer, requests, expected) => {
    const app = express()
    const { limiter, codes } = limiterWithWarnings()
    app.use(expressRateLimit({ limiter }))
    app.get('/x', (_req, res) => {
      res.end('x')
    })
    await run(app, peer, requests)
    expect(codes).toEqual(expected)
  })

  it("'trust proxy' set: not reported", async () => {
    const app = express()
    app.set('trust proxy', 'loopback')
    const { limiter, codes } = limiterWithWarnings()
    app.use(expressRateLimit({ limiter }))
    app.get('/x', (_req, res) => {
      res.end('x')
    })
    await run(app, '127.0.0.1', [{ 'x-forwarded-for': '203.0.113.7' }])
    expect(codes).toEqual([])
  })
})

describe.each(KOA)('%s', (_name, Koa) => {
  it.each(CASES)('app.proxy off, %s', async (_case, peer, requests, expected) => {
    const app = new (Koa as typeof Koa3)()
    const { limiter, codes } = limiterWithWarnings()
    app.use(koaRateLimit({ limiter }))
    app.use((ctx) => {
      ctx.body = 'x'
    })
    await run(app.callback(), peer, requests)
    expect(codes).toEqual(expected)
  })

  it('app.proxy with one hop: not reported', async () => {
    const app = new (Koa as typeof Koa3)()
    app.proxy = true
    app.maxIpsCount = 1
    const { limiter, codes } = limiterWithWarnings()
    app.use(koaRateLimit({ limiter }))
    app.use((ctx) => {
      ctx.body = 'x'
    })
    await run(app.callback(), '127.0.0.1', [{ 'x-forwarded-for': '203.0.113.7' }])
    expect(codes).toEqual([])
  })
})

describe.each(FASTIFY)('%s', (_name, fastify) => {
  it.each(CASES)('trustProxy unset, %s', async (_case, peer, requests, expected) => {
    const app = fastify()
    const { limiter, codes } = limiterWithWarnings()
    await app.register(fastifyRateLimit, { limiter })
    app.get('/x', async () => 'x')
    for (const headers of requests) await app.inject({ method: 'GET', url: '/x', headers, remoteAddress: peer })
    expect(codes).toEqual(expected)
    await app.close()
  })

  it("trustProxy '127.0.0.1': not reported", async () => {
    const app = fastify({ trustProxy: '127.0.0.1' })
    const { limiter, codes } = limiterWithWarnings()
    await app.register(fastifyRateLimit, { limiter })
    app.get('/x', async () => 'x')
    await app.inject({ method: 'GET', url: '/x', headers: { 'x-forwarded-for': '203.0.113.7' }, remoteAddress: '127.0.0.1' })
    expect(codes).toEqual([])
    await app.close()
  })
})
