/**
 * One small app per framework, with the same routes, so a scenario can run on every adapter and
 * compare status, headers and body. Node frameworks listen on an ephemeral loopback port; the
 * Fetch adapter (plain and Hono) is called in-process.
 */
import { once } from 'node:events'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Router from '@koa/router'
import express5 from 'express'
import express4 from 'express4'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { Hono } from 'hono'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { rateLimit as expressRateLimit, rateLimitsRoute as expressRateLimitsRoute } from '../../adapters/express.js'
import fastifyRateLimit, { rateLimitsRoute as fastifyRateLimitsRoute } from '../../adapters/fastify.js'
import { rateLimit as fetchRateLimit, rateLimitsRoute as fetchRateLimitsRoute } from '../../adapters/fetch.js'
import { rateLimit as koaRateLimit, rateLimitsRoute as koaRateLimitsRoute } from '../../adapters/koa.js'
import type { ProviderRequestInfo, RateLimitsHandlerOptions } from '../../src/provider/index.js'
import { upstreamRateLimit } from '../../src/provider/index.js'

export type Framework = 'express4' | 'express5' | 'koa2' | 'koa3' | 'fastify4' | 'fastify5' | 'fetch' | 'hono'
export const FRAMEWORKS: readonly Framework[] = ['express4', 'express5', 'koa2', 'koa3', 'fastify4', 'fastify5', 'fetch', 'hono']

/** What every app mounts: the adapter options, and the introspection handler. */
export interface AppSetup {
  /** Options of the adapter (`rateLimit(options)` / the Fastify plugin). */
  options: Record<string, unknown>
  /** Options of each adapter's `rateLimitsRoute()`, mounted at `GET /v1/rate-limits`. */
  introspection?: RateLimitsHandlerOptions
  /** Opened by the test to let `GET /slow` answer; `entered` resolves when it is waiting, `closed` when the connection closed. */
  gate?: Gate
}

export interface Gate {
  entered: Promise<void>
  enter: () => void
  open: Promise<void>
  release: () => void
  closed: Promise<void>
  close: () => void
}

export function gate(): Gate {
  let enter = () => {}
  let release = () => {}
  let close = () => {}
  const entered = new Promise<void>((r) => (enter = r))
  const open = new Promise<void>((r) => (release = r))
  const closed = new Promise<void>((r) => (close = r))
  return { entered, enter, open, release, closed, close }
}

export interface Reply {
  status: number
  headers: Record<string, string>
  body: string
}

export interface TestApp {
  request(method: string, path: string, headers?: Record<string, string>): Promise<Reply>
  /** Starts `GET /slow` and hangs up once the handler is waiting. */
  abortSlow(headers?: Record<string, string>): Promise<void>
  close(): Promise<void>
}

/** Headers compared across frameworks. */
const KEPT = [
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'x-ratelimit-tier',
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
]

function pick(headers: Headers, status: number, path: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of KEPT) {
    const v = headers.get(name)
    if (v !== null) out[name] = v
  }
  // Content types of our own answers (429/503, introspection, upstream) are set verbatim by the core.
  if (status >= 429 || path === '/v1/rate-limits') out['content-type'] = headers.get('content-type') ?? ''
  return out
}

/** Route behaviour shared by every framework: (method, template, request) → status/body/headers. */
interface RouteResult {
  status: number
  body: string
  headers?: Record<string, string>
}

const ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['GET', '/v1/runs'],
  ['GET', '/v1/runs/:id'],
  ['DELETE', '/v1/runs/:id'],
  ['PATCH', '/v1/runs/:id'],
  ['POST', '/v1/jobs'],
  ['POST', '/auth/token'],
  ['POST', '/api/v1/execute_tool'],
  ['GET', '/slow'],
]

async function route(setup: AppSetup, method: string, template: string, req: ProviderRequestInfo): Promise<RouteResult> {
  if (template === '/auth/token') {
    const status = Number(req.headers.get('x-status') ?? '200')
    return { status, body: status < 400 ? '{"access_token":"t"}' : '{"error":"invalid_client"}' }
  }
  if (template === '/api/v1/execute_tool') {
    const upstream = req.headers.get('x-upstream-retry-after')
    if (upstream !== undefined) {
      const limited = upstreamRateLimit(
        { status: 429, headers: { 'retry-after': upstream } },
        { format: 'scalekit', provider: 'crm', tool: 'list_contacts', requestId: req.requestId },
      )
      if (limited !== undefined)
        return { status: limited.status, body: limited.body, headers: { ...limited.headers, 'Content-Type': limited.contentType } }
    }
    return { status: 200, body: '{"result":"ok"}' }
  }
  if (template === '/slow') {
    setup.gate?.enter()
    await setup.gate?.open
    return { status: Number(req.headers.get('x-status') ?? '200'), body: 'slow' }
  }
  return { status: method === 'POST' ? 201 : 200, body: 'ok' }
}

function nodeReq(
  method: string,
  template: string,
  path: string,
  ip: string | undefined,
  get: (n: string) => string | undefined,
  raw: unknown,
): ProviderRequestInfo {
  return { method, route: template, path, ip, headers: { get }, requestId: get('x-request-id'), raw }
}

function nodeHeader(req: IncomingMessage) {
  return (name: string) => {
    const v = req.headers[name.toLowerCase()]
    return Array.isArray(v) ? v.join(', ') : v
  }
}

function send(res: ServerResponse, r: RouteResult): void {
  res.statusCode = r.status
  for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v)
  res.end(r.body)
}

async function listen(server: http.Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function nodeClient(base: string, closeServer: () => Promise<void>, setup: AppSetup): TestApp {
  return {
    async request(method, path, headers = {}) {
      const res = await fetch(base + path, { method, headers })
      const body = await res.text()
      return { status: res.status, headers: pick(res.headers, res.status, path), body }
    },
    async abortSlow(headers = {}) {
      const req = http.request(`${base}/slow`, { method: 'GET', headers })
      req.on('error', () => {})
      req.end()
      await setup.gate?.entered
      req.destroy()
      await setup.gate?.closed
      setup.gate?.release()
    },
    close: closeServer,
  }
}

function expressApp(setup: AppSetup, express: typeof express5): Promise<TestApp> {
  const app = express()
  app.use(expressRateLimit(setup.options as never))
  if (setup.introspection !== undefined) app.get('/v1/rate-limits', expressRateLimitsRoute(setup.introspection))
  for (const [method, template] of ROUTES) {
    const register = (app as unknown as Record<string, (p: string, h: express5.RequestHandler) => void>)[method.toLowerCase()].bind(app)
    register(template, (req, res, next) => {
      if (template === '/slow') res.on('close', () => setup.gate?.close())
      route(setup, method, template, nodeReq(req.method, template, req.path, req.ip, nodeHeader(req), req)).then((r) => send(res, r), next)
    })
  }
  // Errors of the plan (a failing lookup) end here: a 500, never a hung request.
  app.use((_err: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
    res.status(500).end('internal error')
  })
  const server = http.createServer(app)
  return listen(server).then((base) => nodeClient(base, () => new Promise((r) => server.close(() => r())), setup))
}

function koaApp(setup: AppSetup, Koa: typeof Koa3): Promise<TestApp> {
  const app = new Koa()
  app.silent = true
  app.use(async (ctx, next) => {
    try {
      await next()
    } catch {
      ctx.status = 500
      ctx.body = 'internal error'
    }
  })
  app.use(koaRateLimit(setup.options as never))
  const router = new Router()
  if (setup.introspection !== undefined) router.get('/v1/rate-limits', koaRateLimitsRoute(setup.introspection))
  for (const [method, template] of ROUTES) {
    router.register(template, [method], async (ctx) => {
      if (template === '/slow') ctx.res.on('close', () => setup.gate?.close())
      const r = await route(setup, method, template, nodeReq(ctx.method, template, ctx.path, ctx.ip, nodeHeader(ctx.req), ctx))
      ctx.status = r.status
      for (const [k, v] of Object.entries(r.headers ?? {})) ctx.res.setHeader(k, v)
      ctx.body = r.body
    })
  }
  app.use(router.routes())
  const server = http.createServer(app.callback())
  return listen(server).then((base) => nodeClient(base, () => new Promise((r) => server.close(() => r())), setup))
}

async function fastifyApp(setup: AppSetup, Fastify: typeof fastify5): Promise<TestApp> {
  const app = Fastify()
  await app.register(fastifyRateLimit, setup.options as never)
  app.setErrorHandler((_err, _req, reply) => {
    reply.code(500).send('internal error')
  })
  if (setup.introspection !== undefined) app.get('/v1/rate-limits', fastifyRateLimitsRoute(setup.introspection))
  for (const [method, template] of ROUTES) {
    app.route({
      method: method as 'GET',
      url: template,
      handler: async (request, reply) => {
        if (template === '/slow') reply.raw.on('close', () => setup.gate?.close())
        const path = request.url.split('?')[0]
        const r = await route(
          setup,
          method,
          template,
          nodeReq(request.method, template, path, request.ip, nodeHeader(request.raw), request),
        )
        reply.code(r.status)
        for (const [k, v] of Object.entries(r.headers ?? {})) reply.header(k, v)
        // Send the core's body and content type verbatim (Fastify 4 would append a charset to JSON types).
        return reply.serializer((payload: unknown) => String(payload)).send(r.body)
      },
    })
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address() as AddressInfo
  return nodeClient(`http://127.0.0.1:${address.port}`, () => app.close().then(() => undefined), setup)
}

/** Finds the template a path matches (the router the fetch runtimes don't have). */
function match(method: string, path: string): string | undefined {
  const parts = path.split('/').filter(Boolean)
  for (const [m, template] of ROUTES) {
    if (m !== method && !(method === 'HEAD' && m === 'GET')) continue
    const t = template.split('/').filter(Boolean)
    if (t.length === parts.length && t.every((s, i) => s.startsWith(':') || s === parts[i])) return template
  }
  return undefined
}

function fetchReq(request: Request, template: string): ProviderRequestInfo {
  return {
    method: request.method,
    route: template,
    path: new URL(request.url).pathname,
    ip: '127.0.0.1',
    headers: { get: (n) => request.headers.get(n) ?? undefined },
    requestId: request.headers.get('x-request-id') ?? undefined,
    raw: request,
  }
}

function toResponse(r: RouteResult): Response {
  return new Response(r.body, { status: r.status, headers: r.headers })
}

function fetchClient(handle: (request: Request) => Promise<Response>, setup: AppSetup): TestApp {
  return {
    async request(method, path, headers = {}) {
      const res = await handle(new Request(`http://api.test${path}`, { method, headers }))
      const body = await res.text()
      return { status: res.status, headers: pick(res.headers, res.status, path), body }
    },
    async abortSlow(headers = {}) {
      const controller = new AbortController()
      const pending = handle(new Request('http://api.test/slow', { method: 'GET', headers, signal: controller.signal }))
      await setup.gate?.entered
      controller.abort()
      setup.gate?.release()
      await pending
    },
    close: async () => {},
  }
}

/** The plain Fetch adapter: `limit.check(request, { ip, route })`, then the handler, then `complete`. */
function fetchApp(setup: AppSetup): Promise<TestApp> {
  const limit = fetchRateLimit(setup.options as never)
  const introspect = setup.introspection === undefined ? undefined : fetchRateLimitsRoute(setup.introspection)
  const handle = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname
    const template = path === '/v1/rate-limits' ? path : match(request.method, path)
    // Like a global middleware: the route template is not passed, so limits are application-wide.
    const result = await limit.check(request, { ip: '127.0.0.1', requestId: request.headers.get('x-request-id') ?? undefined })
    if (result.response !== undefined) return result.response
    if (template === undefined) return result.complete(new Response('', { status: 404 }))
    if (template === '/v1/rate-limits' && introspect !== undefined)
      return result.complete(await introspect(request, { ip: '127.0.0.1', route: template }))
    const response = toResponse(await route(setup, request.method, template, fetchReq(request, template)))
    return result.complete(response, request.signal.aborted)
  }
  return Promise.resolve(fetchClient(handle, setup))
}

function honoApp(setup: AppSetup): Promise<TestApp> {
  const app = new Hono()
  app.use(fetchRateLimit(setup.options as never) as never)
  if (setup.introspection !== undefined) {
    const introspect = fetchRateLimitsRoute(setup.introspection)
    app.get('/v1/rate-limits', (c) => introspect(c))
  }
  for (const [method, template] of ROUTES) {
    app.on(method, template, async (c) => toResponse(await route(setup, method, template, fetchReq(c.req.raw, template))))
  }
  app.onError(() => new Response('internal error', { status: 500 }))
  const env = { incoming: { socket: { remoteAddress: '127.0.0.1' } } }
  return Promise.resolve(fetchClient(async (request) => app.fetch(request, env), setup))
}

export function makeApp(framework: Framework, setup: AppSetup): Promise<TestApp> {
  switch (framework) {
    case 'express4':
      return expressApp(setup, express4 as unknown as typeof express5)
    case 'express5':
      return expressApp(setup, express5)
    case 'koa2':
      return koaApp(setup, Koa2 as unknown as typeof Koa3)
    case 'koa3':
      return koaApp(setup, Koa3)
    case 'fastify4':
      return fastifyApp(setup, fastify4 as unknown as typeof fastify5)
    case 'fastify5':
      return fastifyApp(setup, fastify5)
    case 'fetch':
      return fetchApp(setup)
    case 'hono':
      return honoApp(setup)
  }
}
