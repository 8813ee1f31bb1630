// Every trust-proxy setting that lets any client choose its IP is reported, not only a literal
// `true`: a function that trusts everyone, a hop count larger than any real chain of proxies
// (more than 10), ranges that cover every address (proxy-addr refuses /0, not /1 + /1). And Fastify 5, which ignores a numeric `trustProxy` (every client
// then shares the proxy's address), is reported too. Once per app, through the limiter's `warn`.
import type Koa3 from 'koa'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { createLimiter, type Limiter, tokenBucket } from '../../src/index.js'
import { EXPRESS, FASTIFY, KOA, send, sendFastify, T0 } from '../helpers/http-apps.js'

function limiterWithWarnings(): { limiter: Limiter; codes: string[] } {
  const limiter = createLimiter({ policies: [tokenBucket({ limit: 100, window: '1m' })], now: () => T0 })
  const codes: string[] = []
  limiter.on('warn', (w) => codes.push(w.code))
  return { limiter, codes }
}

const ANY = 'RK_TRUST_PROXY_ANY'

const EXPRESS_SETTINGS: [string, unknown, string[]][] = [
  ['true', true, [ANY]],
  ['a function that trusts everyone', () => true, [ANY]],
  ['a function that trusts every address but one', (addr: string) => addr !== '10.0.0.1', [ANY]],
  ['9999 hops', 9999, [ANY]],
  ['11 hops', 11, [ANY]],
  ['two ranges covering every IPv4 address', '0.0.0.0/1, 128.0.0.0/1', [ANY]],
  ['two ranges covering every IPv6 address', ['::/1', '8000::/1'], [ANY]],
  ['every IPv4-mapped address', '::ffff:0.0.0.0/96', [ANY]],
  ['a list with a catch-all range', ['10.0.0.0/8', '0.0.0.0/1', '128.0.0.0/1'], [ANY]],
  ['not set', undefined, []],
  ['1 hop', 1, []],
  ['10 hops', 10, []],
  ['loopback', 'loopback', []],
  ['private ranges', '10.0.0.0/8, 192.168.0.0/16', []],
  ['a function of its own', (addr: string) => addr === '127.0.0.1', []],
]

describe.each(EXPRESS)('%s', (_name, express) => {
  it.each(EXPRESS_SETTINGS)("'trust proxy' %s", async (_setting, value, expected) => {
    const app = express()
    if (value !== undefined) app.set('trust proxy', value)
    const { limiter, codes } = limiterWithWarnings()
    app.use(expressRateLimit({ limiter }))
    app.get('/x', (_req, res) => {
      res.end('x')
    })
    await send(app, 'GET', '/x')
    await send(app, 'GET', '/x')
    expect(codes).toEqual(expected)
  })

  it('once per app, however many limiters it has', async () => {
    const app = express()
    app.set('trust proxy', 9999)
    const a = limiterWithWarnings()
    const b = limiterWithWarnings()
    app.use(expressRateLimit({ limiter: a.limiter }))
    app.get(
      '/x',
      expressRateLimit({ limiter: b.limiter, policies: [tokenBucket({ name: 'route', limit: 5, window: '1m' })] }),
      (_req, res) => {
        res.end('x')
      },
    )
    for (let i = 0; i < 3; i++) await send(app, 'GET', '/x')
    expect([...a.codes, ...b.codes]).toEqual([ANY])
  })
})

describe.each(KOA)('%s', (_name, Koa) => {
  it.each([
    ['proxy without maxIpsCount', 0, [ANY]],
    ['maxIpsCount 9999', 9999, [ANY]],
    ['maxIpsCount 11', 11, [ANY]],
    ['maxIpsCount 1', 1, []],
    ['maxIpsCount 10', 10, []],
  ] as const)('%s', async (_setting, maxIpsCount, expected) => {
    const app = new (Koa as typeof Koa3)()
    app.proxy = true
    app.maxIpsCount = maxIpsCount
    const { limiter, codes } = limiterWithWarnings()
    app.use(koaRateLimit({ limiter }))
    app.use((ctx) => {
      ctx.body = 'x'
    })
    const listener = app.callback()
    await send(listener, 'GET', '/x')
    await send(listener, 'GET', '/x')
    expect(codes).toEqual([...expected])
  })
})

describe.each(FASTIFY)('%s', (name, fastify) => {
  const v5 = name === 'fastify5'
  it.each([
    ['true', true, [ANY]],
    ['a function that trusts everyone', () => true, [ANY]],
    ['9999 hops', 9999, v5 ? ['RK_TRUST_PROXY_IGNORED'] : [ANY]],
    ['1 hop', 1, v5 ? ['RK_TRUST_PROXY_IGNORED'] : []],
    ['two ranges covering every IPv4 address', '0.0.0.0/1,128.0.0.0/1', [ANY]],
    ['a comma-separated list covering every IPv6 address', '127.0.0.1, ::/1, 8000::/1', [ANY]],
    ['a list with a catch-all range', ['10.0.0.0/8', '0.0.0.0/1', '128.0.0.0/1'], [ANY]],
    ['loopback', '127.0.0.1', []],
    ['private ranges', ['10.0.0.0/8', 'fc00::/7'], []],
    ['a function of its own', (addr: string) => addr === '127.0.0.1', []],
  ] as const)('trustProxy %s', async (_setting, trustProxy, expected) => {
    const app = fastify({ trustProxy })
    const { limiter, codes } = limiterWithWarnings()
    await app.register(fastifyRateLimit, { limiter })
    app.get('/x', async () => 'x')
    await app.ready()
    await sendFastify(app, 'GET', '/x')
    expect(codes).toEqual([...expected])
    await app.close()
  })

  it(`a numeric trustProxy ${v5 ? 'is ignored: request.ip stays the socket address' : 'counts hops'}`, async () => {
    const app = fastify({ trustProxy: 1 })
    app.get('/ip', async (request) => request.ip)
    const res = await app.inject({ url: '/ip', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.7' } })
    expect(res.payload).toBe(v5 ? '127.0.0.1' : '203.0.113.7')
    await app.close()
  })
})
