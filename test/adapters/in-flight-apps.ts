// One app per framework with the same routes, for the concurrency and reserve-then-settle suite:
// Node frameworks over real sockets (so a client can really hang up), Fetch and Hono in-process.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express5 from 'express'
import express4 from 'express4'
import fastify5, { type FastifyInstance } from 'fastify'
import fastify4 from 'fastify4'
import { Hono } from 'hono'
import koa3 from 'koa'
import koa2 from 'koa2'
import { rateLimit as expressRateLimit, setActualCost as expressSetCost } from '../../adapters/express.js'
import fastifyRateLimit, { setActualCost as fastifySetCost } from '../../adapters/fastify.js'
import { rateLimit as fetchRateLimit, setActualCost as fetchSetCost, withRateLimit } from '../../adapters/fetch.js'
import { rateLimit as koaRateLimit, setActualCost as koaSetCost } from '../../adapters/koa.js'
import type { HttpLimiterOptions } from '../../src/http/http-options.js'

export type InFlightFramework = 'express5' | 'express4' | 'koa3' | 'koa2' | 'fastify5' | 'fastify4' | 'fetch' | 'hono'
export const IN_FLIGHT_FRAMEWORKS: readonly InFlightFramework[] = [
  'express5',
  'express4',
  'koa3',
  'koa2',
  'fastify5',
  'fastify4',
  'fetch',
  'hono',
]

/** Requests waiting at a gate (`/slow`, the end of `/stream`); `open` lets them all go on. */
export class Gates {
  #waiting: (() => void)[] = []
  get count(): number {
    return this.#waiting.length
  }
  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve))
  }
  open(): void {
    for (const go of this.#waiting.splice(0)) go()
  }
}

export interface Sent {
  status: number
  headers: Headers
  body: string
}

/** A request left open: `abort` hangs up (the client goes away). */
export interface Pending {
  readonly done: Promise<Sent | undefined>
  abort(): void
}

export interface InFlightApp {
  send(path: string, method?: string): Promise<Sent>
  open(path: string): Pending
  close(): Promise<void>
}

export type Options = HttpLimiterOptions<never, never>

// Routes, the same everywhere. `n` is the actual cost the route reports (query `n`).
// /fast: 200 · /slow: 200 after the gate · /hang: starts its answer, never ends it · /stuck: the handler never ends · /throw-sync, /throw-async: the handler fails
// /header?n: x-usage-tokens: n · /report?n: setActualCost(n) · /stream?n: one chunk, then at the gate setActualCost(n) and the end
const nOf = (url: string): number => Number(new URL(url, 'http://x').searchParams.get('n') ?? '0')
const fail = (): never => {
  throw new Error('handler failed')
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function overHttp(base: Promise<string>, close: () => Promise<void>): InFlightApp {
  return {
    async send(path, method = 'GET') {
      const res = await fetch((await base) + path, { method })
      return { status: res.status, headers: res.headers, body: await res.text() }
    },
    open(path) {
      const controller = new AbortController()
      const done = base.then(async (url) => {
        const res = await fetch(url + path, { signal: controller.signal })
        return { status: res.status, headers: res.headers, body: await res.text() }
      })
      return { done: done.catch(() => undefined), abort: () => controller.abort() }
    },
    close,
  }
}

function nodeServer(listener: Parameters<typeof createServer>[1]): InFlightApp {
  const server = createServer(listener)
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return overHttp(listen(server), close)
}

function buildExpress(factory: typeof express5, mounted: readonly Options[], gates: Gates): InFlightApp {
  const app = factory()
  for (const options of mounted) app.use(expressRateLimit(options as never))
  app.all('/fast', (_req, res) => res.end('ok'))
  app.get('/slow', (_req, res) => void gates.wait().then(() => res.end('ok')))
  app.get('/hang', (_req, res) => void res.write('a'))
  app.get('/stuck', () => {})
  app.get('/throw-sync', fail)
  app.get('/throw-async', (_req, _res, next) => void Promise.resolve().then(() => next(new Error('handler failed'))))
  app.get('/header', (req, res) => res.setHeader('x-usage-tokens', String(nOf(req.url))).end('ok'))
  app.get('/report', (req, res) => {
    expressSetCost(res, nOf(req.url))
    res.end('ok')
  })
  app.get('/stream', (req, res) => {
    res.write('a')
    void gates.wait().then(() => {
      expressSetCost(res, nOf(req.url))
      res.end('b')
    })
  })
  app.use((_error: Error, _req: unknown, res: { statusCode: number; end(s: string): void }, _next: unknown) => {
    res.statusCode = 500
    res.end('failed')
  })
  return nodeServer(app)
}

function buildKoa(Koa: typeof koa3, mounted: readonly Options[], gates: Gates): InFlightApp {
  const app = new Koa()
  app.silent = true
  for (const options of mounted) app.use(koaRateLimit(options as never))
  app.use(async (ctx) => {
    const n = nOf(ctx.url)
    switch (ctx.path) {
      case '/fast':
        ctx.body = 'ok'
        return
      case '/slow':
        await gates.wait()
        ctx.body = 'ok'
        return
      case '/hang':
        ctx.respond = false
        ctx.res.write('a')
        return
      case '/stuck':
        await new Promise(() => {})
        return
      case '/throw-sync':
        fail()
        return
      case '/throw-async':
        await Promise.resolve()
        fail()
        return
      case '/header':
        ctx.set('x-usage-tokens', String(n))
        ctx.body = 'ok'
        return
      case '/report':
        koaSetCost(ctx, n)
        ctx.body = 'ok'
        return
      case '/stream': {
        const { PassThrough } = await import('node:stream')
        const body = new PassThrough()
        body.write('a')
        void gates.wait().then(() => {
          koaSetCost(ctx, n)
          body.end('b')
        })
        ctx.body = body
      }
    }
  })
  return nodeServer(app.callback())
}

function buildFastify(factory: (o?: object) => FastifyInstance, mounted: readonly Options[], gates: Gates): InFlightApp {
  // Hung requests never answer: close drops their connections.
  const app = factory({ forceCloseConnections: true })
  const ready = (async () => {
    // Several registrations in one context: each decides (the same limits, twice, or limits of their own).
    for (const options of mounted) await app.register(fastifyRateLimit, options as never)
    app.route({ method: ['GET', 'HEAD'], url: '/fast', exposeHeadRoute: false, handler: async () => 'ok' })
    app.get('/slow', async () => {
      await gates.wait()
      return 'ok'
    })
    app.get('/hang', (_request, reply) => {
      reply.hijack()
      reply.raw.write('a')
    })
    app.get('/stuck', (_request, _reply) => {})
    app.get('/throw-sync', fail)
    app.get('/throw-async', async () => {
      await Promise.resolve()
      fail()
    })
    app.get('/header', async (request, reply) => reply.header('x-usage-tokens', String(nOf(request.url))).send('ok'))
    app.get('/report', async (request, reply) => {
      fastifySetCost(reply, nOf(request.url))
      return 'ok'
    })
    app.get('/stream', (request, reply) => {
      reply.raw.write('a')
      void gates.wait().then(() => {
        fastifySetCost(reply, nOf(request.url))
        reply.raw.end('b')
      })
      reply.hijack()
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  })()
  return overHttp(ready, () => app.close())
}

/** The Fetch handler's routes: `request` is what setActualCost is given. */
async function fetchRoute(request: Request, gates: Gates, report: (n: number) => void): Promise<Response> {
  const url = new URL(request.url)
  const n = nOf(request.url)
  switch (url.pathname) {
    case '/slow':
      await gates.wait()
      return new Response('ok')
    case '/hang':
      return new Response(new ReadableStream({ pull: () => new Promise(() => {}) }))
    case '/stuck':
      return new Promise(() => {})
    case '/throw-sync':
      return fail()
    case '/throw-async':
      await Promise.resolve()
      return fail()
    case '/header':
      return new Response('ok', { headers: { 'x-usage-tokens': String(n) } })
    case '/report':
      report(n)
      return new Response('ok')
    case '/stream': {
      const encoder = new TextEncoder()
      let step = 0
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (step++ === 0) {
            controller.enqueue(encoder.encode('a'))
            return
          }
          await gates.wait()
          report(n)
          controller.enqueue(encoder.encode('b'))
          controller.close()
        },
      })
      return new Response(body)
    }
    default:
      return new Response('ok')
  }
}

function inProcess(call: (request: Request) => Promise<Response>): InFlightApp {
  const read = async (res: Response): Promise<Sent> => ({ status: res.status, headers: res.headers, body: await res.text() })
  return {
    async send(path, method = 'GET') {
      try {
        return await read(await call(new Request(`http://x${path}`, { method })))
      } catch {
        return { status: 500, headers: new Headers(), body: 'failed' }
      }
    },
    open(path) {
      const controller = new AbortController()
      const response = call(new Request(`http://x${path}`, { signal: controller.signal }))
      let aborted = false
      let gone: (value: undefined) => void = () => {}
      // The client stops waiting at once, whether the handler has answered or not.
      const left = new Promise<undefined>((resolve) => {
        gone = resolve
      })
      const answered = response.then(async (res) => {
        if (aborted) {
          await res.body?.cancel()
          return undefined
        }
        // Reads the first chunk, then waits for the rest or a hang-up.
        const reader = res.body?.getReader()
        const abort = new Promise<undefined>((resolve) => {
          hangUp = () => {
            void reader?.cancel()
            resolve(undefined)
          }
        })
        const rest = (async () => {
          let body = ''
          for (;;) {
            const chunk = await reader?.read()
            if (chunk === undefined || chunk.done) return { status: res.status, headers: res.headers, body }
            body += new TextDecoder().decode(chunk.value)
          }
        })()
        return Promise.race([rest, abort])
      })
      let hangUp = () => {
        aborted = true
      }
      const done = Promise.race([answered, left])
      return {
        done: done.catch(() => undefined),
        abort: () => {
          controller.abort()
          gone(undefined)
          hangUp()
        },
      }
    },
    close: async () => {},
  }
}

function buildFetch(mounted: readonly Options[], gates: Gates): InFlightApp {
  let handler = (request: Request) => fetchRoute(request, gates, (n) => fetchSetCost(request, n))
  for (const options of mounted) handler = withRateLimit(handler, { ...(options as object), ip: () => '192.0.2.1' })
  return inProcess(handler)
}

function buildHono(mounted: readonly Options[], gates: Gates): InFlightApp {
  const app = new Hono()
  for (const options of mounted) app.use(fetchRateLimit({ ...(options as object), ip: () => '192.0.2.1' }))
  app.onError((_error, c) => c.text('failed', 500))
  app.all('*', (c) => fetchRoute(c.req.raw, gates, (n) => fetchSetCost(c, n)))
  return inProcess(async (request) => app.fetch(request))
}

/** The app of `framework`, limited by `options` mounted `mounts` times, or by each of a list of options in turn. */
export function inFlightApp(framework: InFlightFramework, options: Options | readonly Options[], gates: Gates, mounts = 1): InFlightApp {
  const mounted: readonly Options[] = Array.isArray(options) ? options : new Array<Options>(mounts).fill(options as Options)
  switch (framework) {
    case 'express5':
      return buildExpress(express5, mounted, gates)
    case 'express4':
      return buildExpress(express4 as unknown as typeof express5, mounted, gates)
    case 'koa3':
      return buildKoa(koa3, mounted, gates)
    case 'koa2':
      return buildKoa(koa2 as unknown as typeof koa3, mounted, gates)
    case 'fastify5':
      return buildFastify((o) => fastify5(o) as unknown as FastifyInstance, mounted, gates)
    case 'fastify4':
      return buildFastify((o) => fastify4(o) as unknown as FastifyInstance, mounted, gates)
    case 'fetch':
      return buildFetch(mounted, gates)
    case 'hono':
      return buildHono(mounted, gates)
  }
}
