// What is particular to one framework: mounting forms, trust-proxy warnings, Fastify's route
// config and encapsulation, the fetch wrappers, and option validation. Express and Koa are called
// over real HTTP through supertest (harness.ts); the socket's own address: sockets.test.ts.
import Router from '@koa/router'
import express from 'express'
import fastify from 'fastify'
import { Hono } from 'hono'
import { requestId } from 'hono/request-id'
import Koa from 'koa'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { rateLimit as fetchRateLimit, withRateLimit } from '../../adapters/fetch.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { ipKey } from '../../src/http/keys.js'
import { createHttpLimiter } from '../../src/http/pipeline.js'
import { ConfigurationError, createLimiter, fixedWindow, MemoryStore, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { type Listener, sendHttp } from './harness.js'

const T0 = 1_700_000_000_000
const policies = (limit: number) => [tokenBucket({ name: 'per-minute', limit, window: '1m' })]
const limiterOf = (limit: number) => createLimiter({ policies: policies(limit), now: clock(T0).now })

/** One GET over real HTTP (supertest) from the peer `ip`. */
async function get(listener: Listener, url: string, ip = '127.0.0.1', headers: Record<string, string> = {}) {
  const res = await sendHttp(listener, { url, ip, headers })
  return { status: res.status, remaining: res.headers['x-ratelimit-remaining'] }
}

function warnings(limiter: ReturnType<typeof limiterOf>): string[] {
  const codes: string[] = []
  limiter.on('warn', (w) => codes.push(w.code))
  return codes
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('express', () => {
  it('the same middleware on the app and on a route counts a request once', async () => {
    const app = express()
    const limit = expressRateLimit({ policies: policies(2), now: clock(T0).now })
    app.use(limit)
    app.get('/x', limit, (_req, res) => {
      res.end('x')
    })
    const res = [await get(app, '/x'), await get(app, '/x'), await get(app, '/x')]
    expect(res.map((r) => [r.status, r.remaining])).toEqual([
      [200, '1'],
      [200, '0'],
      [429, '0'],
    ])
  })

  it('a route on a router mounted at a path: one bucket whatever the case of the mount path', async () => {
    const app = express()
    const router = express.Router()
    router.get('/users/:id', expressRateLimit({ policies: policies(2), now: clock(T0).now }), (_req, res) => {
      res.end('u')
    })
    app.use('/api', router)
    const res = [await get(app, '/api/users/1'), await get(app, '/API/users/2'), await get(app, '/Api/Users/3/')]
    expect(res.map((r) => r.status)).toEqual([200, 200, 429])
  })

  it("warns once when 'trust proxy' is true (any client picks its IP), not when it names the proxies", async () => {
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    for (const [setting, expected] of [
      [true, ['RK_TRUST_PROXY_ANY']],
      ['loopback', []],
      [1, []],
    ] as const) {
      const app = express()
      app.set('trust proxy', setting)
      const limiter = limiterOf(10)
      const codes = warnings(limiter)
      app.use(expressRateLimit({ limiter }))
      app.get('/x', (_req, res) => {
        res.end('x')
      })
      await get(app, '/x')
      await get(app, '/x')
      expect(codes).toEqual(expected)
    }
    expect(emitted.mock.calls.filter((c) => (c[1] as { code?: string })?.code === 'RK_TRUST_PROXY_ANY').length).toBeLessThanOrEqual(1)
  })

  it.each([
    ['off (the default): the socket address, whatever X-Forwarded-For says', undefined, [200, 429, 429]],
    ["'loopback': the client X-Forwarded-For names", 'loopback', [200, 429, 200]],
    ['1 hop: the last X-Forwarded-For entry', 1, [200, 429, 200]],
    ['a function of its own: whatever it trusts', (addr: string) => addr === '127.0.0.1', [200, 429, 200]],
  ] as const)("keys by the IP Express resolves under 'trust proxy' %s", async (_name, setting, expected) => {
    const app = express()
    if (setting !== undefined) app.set('trust proxy', setting)
    app.use(expressRateLimit({ policies: policies(1), now: clock(T0).now }))
    app.get('/x', (_req, res) => {
      res.end('x')
    })
    const res = [
      await get(app, '/x', '127.0.0.1', { 'x-forwarded-for': '203.0.113.7' }),
      await get(app, '/x', '127.0.0.1', { 'x-forwarded-for': '203.0.113.7' }),
      await get(app, '/x', '127.0.0.1', { 'x-forwarded-for': '198.51.100.9' }),
    ]
    expect(res.map((r) => r.status)).toEqual(expected)
  })

  it('exposes its limiter and closes the one it made', async () => {
    const limit = expressRateLimit({ policies: policies(2) })
    expect((await limit.limiter.peek('ip:1.2.3.4')).remaining).toBe(2)
    await limit.close()
    await expect(limit.limiter.consume('ip:1.2.3.4')).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' })
  })
})

describe('koa', () => {
  it('warns when app.proxy is on without maxIpsCount', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    for (const [maxIpsCount, expected] of [
      [0, ['RK_TRUST_PROXY_ANY']],
      [1, []],
    ] as const) {
      const app = new Koa()
      app.proxy = true
      app.maxIpsCount = maxIpsCount
      const limiter = limiterOf(10)
      const codes = warnings(limiter)
      app.use(koaRateLimit({ limiter }))
      app.use((ctx) => {
        ctx.body = 'x'
      })
      await get(app.callback(), '/x')
      expect(codes).toEqual(expected)
    }
  })

  it('the same middleware mounted twice counts a request once', async () => {
    const app = new Koa()
    const limit = koaRateLimit({ policies: policies(2), now: clock(T0).now })
    app.use(limit)
    app.use(limit)
    app.use((ctx) => {
      ctx.body = 'x'
    })
    const cb = app.callback()
    const res = [await get(cb, '/x'), await get(cb, '/x'), await get(cb, '/x')]
    expect(res.map((r) => [r.status, r.remaining])).toEqual([
      [200, '1'],
      [200, '0'],
      [429, '0'],
    ])
  })

  it('per-route limits under a router prefix are keyed by the full template', async () => {
    const app = new Koa()
    const router = new Router({ prefix: '/api' })
    const seen: (string | undefined)[] = []
    const limit = koaRateLimit({ policies: policies(2), now: clock(T0).now, onDecision: (_d, info) => seen.push(info.route) })
    router.get('/users/:id', limit, (ctx) => {
      ctx.body = 'u'
    })
    router.get('/teams/:id', limit, (ctx) => {
      ctx.body = 't'
    })
    app.use(router.routes())
    const cb = app.callback()
    const res = [await get(cb, '/api/users/1'), await get(cb, '/API/USERS/2'), await get(cb, '/api/users/3'), await get(cb, '/api/teams/1')]
    expect(res.map((r) => r.status)).toEqual([200, 200, 429, 200])
    expect(seen[0]).toBe('/api/users/:id')
  })
})

describe('fastify', () => {
  it('warns when trustProxy is true, not when it names the proxies', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    for (const [trustProxy, expected] of [
      [true, ['RK_TRUST_PROXY_ANY']],
      ['127.0.0.1', []],
    ] as const) {
      const app = fastify({ trustProxy })
      const limiter = limiterOf(10)
      const codes = warnings(limiter)
      await app.register(fastifyRateLimit, { limiter })
      await app.ready()
      expect(codes).toEqual(expected)
      await app.close()
    }
  })

  it('config.rateLimit: false exempts a route; an object replaces the plugin limits for that route', async () => {
    const app = fastify()
    const limiter = limiterOf(1)
    await app.register(fastifyRateLimit, { limiter })
    app.get('/open', { config: { rateLimit: false } }, async () => 'open')
    app.get('/strict', { config: { rateLimit: { policies: [fixedWindow({ name: 'strict', limit: 2, window: '1m' })] } } }, async () => 's')
    app.get('/other', async () => 'o')
    const res = async (url: string) => {
      const r = await app.inject({ url })
      return [r.statusCode, r.headers['x-ratelimit-remaining']]
    }
    expect([await res('/open'), await res('/open')]).toEqual([
      [200, undefined],
      [200, undefined],
    ])
    expect([await res('/strict'), await res('/strict'), await res('/strict')]).toEqual([
      [200, '1'],
      [200, '0'],
      [429, '0'],
    ])
    expect([await res('/other'), await res('/other')]).toEqual([
      [200, '0'],
      [429, '0'],
    ])
    await app.close()
  })

  it('respects encapsulation: registered in one context, it leaves sibling contexts alone', async () => {
    const app = fastify()
    await app.register(async (child) => {
      await child.register(fastifyRateLimit, { policies: policies(1), now: clock(T0).now })
      child.get('/limited', async () => 'l')
    })
    await app.register(async (sibling) => {
      sibling.get('/free', async () => 'f')
    })
    expect((await app.inject({ url: '/limited' })).statusCode).toBe(200)
    expect((await app.inject({ url: '/limited' })).statusCode).toBe(429)
    expect((await app.inject({ url: '/free' })).statusCode).toBe(200)
    expect((await app.inject({ url: '/free' })).headers['x-ratelimit-limit']).toBeUndefined()
    await app.close()
  })

  it("puts Fastify's request.id in 429 bodies", async () => {
    const app = fastify({ genReqId: () => 'req_abc' })
    await app.register(fastifyRateLimit, { policies: policies(0 + 1), now: clock(T0).now })
    app.get('/x', async () => 'x')
    await app.inject({ url: '/x' })
    expect(JSON.parse((await app.inject({ url: '/x' })).payload)['request-id']).toBe('req_abc')
    await app.close()
  })

  it('rejects bad plugin options and bad route configs at start-up', async () => {
    const bad = fastify()
    await expect(bad.register(fastifyRateLimit, { policies: policies(1), global: 'yes' as never })).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_OPTION',
      option: 'global',
    })
    const route = fastify()
    await route.register(fastifyRateLimit, { policies: policies(1) })
    expect(() => route.get('/x', { config: { rateLimit: { polices: [] } as never } }, async () => 'x')).toThrow(
      expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION', option: 'polices' }),
    )
    await route.close()
  })

  it('closes the limiter it made when Fastify closes', async () => {
    const closed = vi.spyOn(MemoryStore.prototype, 'close')
    const app = fastify()
    await app.register(fastifyRateLimit, { policies: policies(1) })
    await app.ready()
    expect(closed).not.toHaveBeenCalled()
    await app.close()
    expect(closed).toHaveBeenCalledOnce()
  })
})

describe('fetch', () => {
  it('withRateLimit: headers on allowed responses, 429 without running the handler', async () => {
    let calls = 0
    const handler = withRateLimit(
      async (_request: Request, _info: { remoteAddr: { hostname: string } }) => {
        calls++
        return Response.json({ ok: true })
      },
      { policies: policies(1), now: clock(T0).now },
    )
    const deno = { remoteAddr: { hostname: '192.0.2.1' } }
    const a = await handler(new Request('http://x/'), deno)
    const b = await handler(new Request('http://x/'), deno)
    expect([a.status, b.status, calls]).toEqual([200, 429, 1])
    expect(a.headers.get('x-ratelimit-remaining')).toBe('0')
    expect(b.headers.get('retry-after')).toBe('60')
  })

  it('adds headers to responses whose headers are immutable', async () => {
    const handler = withRateLimit(async () => Response.redirect('http://x/elsewhere', 302), {
      policies: policies(5),
      ip: () => '192.0.2.1',
    })
    const res = await handler(new Request('http://x/'))
    expect(res.status).toBe(302)
    expect(res.headers.get('x-ratelimit-remaining')).toBe('4')
  })

  it('Bun: the IP comes from server.requestIP()', async () => {
    const limit = fetchRateLimit({ policies: policies(1), now: clock(T0).now })
    const server = { requestIP: () => ({ address: '::ffff:192.0.2.9' }) }
    expect(await limit(new Request('http://x/'), { context: server })).toBeUndefined()
    const denied = await limit(new Request('http://x/'), { context: server })
    expect(denied?.status).toBe(429)
    expect((await limit.limiter.peek(ipKey('192.0.2.9'))).remaining).toBe(0)
  })

  it('a request without a known IP is an error (500), not a shared bucket', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    const limit = fetchRateLimit({ policies: policies(5) })
    const res = await limit(new Request('http://x/'))
    expect(res?.status).toBe(500)
    expect(await res?.json()).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500 })
    expect(logged).toHaveBeenCalledOnce()
    expect(logged.mock.calls[0][1]).toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'ip' })
  })

  it('Hono: request ids from hono/request-id, per-route limits, errors to onError', async () => {
    const app = new Hono()
    app.use(requestId({ generator: () => 'req_hono' }))
    app.get('/login', fetchRateLimit({ policies: policies(1), now: clock(T0).now, ip: () => '192.0.2.1' }), (c) => c.text('in'))
    app.get(
      '/boom',
      fetchRateLimit({
        policies: policies(1),
        ip: () => '192.0.2.1',
        key: () => {
          throw new Error('boom')
        },
      }),
      (c) => c.text('never'),
    )
    app.onError((_err, c) => c.text('handled', 500))
    expect((await app.request('/login')).status).toBe(200)
    const denied = await app.request('/login')
    expect(denied.status).toBe(429)
    expect((await denied.json())['request-id']).toBe('req_hono')
    const boom = await app.request('/boom')
    expect([boom.status, await boom.text()]).toEqual([500, 'handled'])
  })
})

describe('options', () => {
  const where = 'rateLimit() (ratekeeper/express)'
  const cases: [string, object, string, string][] = [
    ['an unknown option', { policies: policies(1), polices: [] }, 'ERR_RK_UNKNOWN_OPTION', 'polices'],
    ['no policies and no limiter', {}, 'ERR_RK_INVALID_OPTION', 'policies'],
    ['a limiter option next to a limiter', { limiter: limiterOf(1), store: new MemoryStore() }, 'ERR_RK_INVALID_OPTION', 'store'],
    ['a bad limiter', { limiter: {} }, 'ERR_RK_INVALID_OPTION', 'limiter'],
    ['a bad createLimiter option', { policies: policies(1), onStoreError: 'ignore' }, 'ERR_RK_INVALID_OPTION', 'onStoreError'],
    ['a status that is not an error', { policies: policies(1), statusCode: 200 }, 'ERR_RK_INVALID_OPTION', 'statusCode'],
    ['a bad store-error status', { policies: policies(1), storeErrorStatus: 600 }, 'ERR_RK_INVALID_OPTION', 'storeErrorStatus'],
    ['an IPv6 subnet too wide', { policies: policies(1), ipv6Subnet: 16 }, 'ERR_RK_INVALID_OPTION', 'ipv6Subnet'],
    ['an unknown body preset', { policies: policies(1), body: 'xml' }, 'ERR_RK_INVALID_OPTION', 'body.format'],
    ['a bad header option', { policies: policies(1), headers: { legacy: 'yes' } }, 'ERR_RK_INVALID_OPTION', 'headers.legacy'],
    ['a key that is not a function', { policies: policies(1), key: 'x-api-key' }, 'ERR_RK_INVALID_OPTION', 'key'],
    ['a negative cost', { policies: policies(1), cost: -1 }, 'ERR_RK_INVALID_OPTION', 'cost'],
    ['a key next to a plan', { policies: policies(1), plan: () => undefined, key: () => 'k' }, 'ERR_RK_INVALID_OPTION', 'key'],
    ['a bad request id header', { policies: policies(1), requestId: 'x request id' }, 'ERR_RK_INVALID_OPTION', 'requestId'],
    [
      'duplicate policy names next to a limiter',
      { limiter: limiterOf(1), policies: [...policies(1), ...policies(2)] },
      'ERR_RK_DUPLICATE_POLICY',
      'policies[1].name',
    ],
  ]

  it.each(cases)('rejects %s with a ConfigurationError naming the option', (_name, options, code, option) => {
    let error: unknown
    try {
      expressRateLimit(options as never)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigurationError)
    expect(error).toMatchObject({ code, option })
    expect((error as Error).message.startsWith(`${where}: "${option}"`)).toBe(true)
  })

  it('fetch: rejects bad ip and onError options', () => {
    expect(() => fetchRateLimit({ policies: policies(1), ip: '1.2.3.4' as never })).toThrow(expect.objectContaining({ option: 'ip' }))
    expect(() => fetchRateLimit({ policies: policies(1), onError: 500 as never })).toThrow(expect.objectContaining({ option: 'onError' }))
  })

  it('a throwing onDecision hook is reported, never fails the request', async () => {
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const http = createHttpLimiter('test', {
      policies: policies(1),
      onDecision: () => {
        throw new Error('hook bug')
      },
    })
    const raw = {}
    const outcome = await http.handle({
      method: 'GET',
      route: undefined,
      path: '/',
      ip: '192.0.2.1',
      headers: { get: () => undefined },
      raw,
    })
    expect(outcome.action).toBe('next')
    expect(emitted).toHaveBeenCalledWith(expect.stringContaining('hook bug'), { code: 'RK_HOOK_THREW' })
  })

  it('the memory path is synchronous end to end', () => {
    const http = createHttpLimiter('test', { policies: policies(1) })
    const outcome = http.handle({ method: 'GET', route: undefined, path: '/', ip: '192.0.2.1', headers: { get: () => undefined }, raw: {} })
    expect(typeof (outcome as { then?: unknown }).then).toBe('undefined')
  })
})
