// One app per framework, built from the same spec, so the shared suite can compare status,
// headers and body across every adapter. Express and Koa are called over real HTTP through
// supertest (a server on a fresh port per request); Fastify through its own `inject`, fetch and
// Hono with a `Request`.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import Router from '@koa/router'
import express5 from 'express'
import express4 from 'express4'
import fastify5, { type FastifyInstance } from 'fastify'
import fastify4 from 'fastify4'
import { Hono } from 'hono'
import koa3 from 'koa'
import koa2 from 'koa2'
import request from 'supertest'
import { afterAll, describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { type FetchCheck, rateLimit as fetchRateLimit } from '../../adapters/fetch.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import type { HttpLimiterOptions } from '../../src/http/http-options.js'
import type { HttpRequestInfo } from '../../src/http/request.js'

/** Limiter options as the scenarios write them: functions read only the framework-neutral `info`. */
export type LimitOptions = HttpLimiterOptions<unknown, HttpRequestInfo<unknown>>

export interface AppSpec {
  /** Mounted application-wide (Express/Koa `app.use`, the Fastify plugin, Hono `app.use`). */
  global?: LimitOptions
  /** How many times the global limit is mounted (each mount a separate middleware on the same options). */
  globalMounts?: number
  /** A per-route limit on `GET /users/:id`. */
  route?: LimitOptions
  /** Let any client pick its IP (Express `trust proxy: true`, Koa `proxy`, Fastify `trustProxy: true`). */
  trustProxy?: boolean
}

export interface Req {
  method?: string
  url: string
  headers?: Record<string, string>
  /** The connection's address. @default '127.0.0.1' */
  ip?: string
}

export interface Res {
  status: number
  headers: Record<string, string>
  body: string
}

export interface App {
  send(req: Req): Promise<Res>
  close(): Promise<void>
}

export type Framework = 'express5' | 'express4' | 'koa3' | 'koa2' | 'fastify5' | 'fastify4' | 'fetch' | 'hono'
export const FRAMEWORKS: readonly Framework[] = ['express5', 'express4', 'koa3', 'koa2', 'fastify5', 'fastify4', 'fetch', 'hono']

/** Headers the suite compares: the rate-limit ones (content type only on denials: handlers differ). */
const COMPARED = new Set([
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'x-ratelimit-tier',
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'retry-after',
  'ratelimit-reason',
])

/** Request ids differ by framework (Fastify has its own): the suite compares everything else. */
export function withoutRequestId(body: string): string {
  if (!body.startsWith('{')) return body
  const parsed = JSON.parse(body) as Record<string, unknown>
  delete parsed['request-id']
  delete parsed.request_id
  return JSON.stringify(parsed)
}

export function normalize(method: string, status: number, headers: Iterable<[string, string]>, body: string): Res {
  const out: Record<string, string> = {}
  for (const [name, value] of headers) {
    const n = name.toLowerCase()
    if (COMPARED.has(n) || (n === 'content-type' && (status === 403 || status === 429 || status === 503))) out[n] = value
  }
  return { status, headers: out, body: method === 'HEAD' ? '' : body }
}

function nodeHeaders(headers: Record<string, string | string[] | number | undefined>): [string, string][] {
  const out: [string, string][] = []
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out.push([k, Array.isArray(v) ? v.join(', ') : String(v)])
  return out
}

/** A Node request listener: an Express app or a Koa `app.callback()`. */
export type Listener = (req: IncomingMessage, res: ServerResponse) => void

/**
 * Sends one request over real HTTP. Every connection comes from loopback (a test cannot dial
 * from 2001:db8::1), so the peer address the scenario names (`req.ip`) is written onto the
 * accepted socket before the app sees it; sockets.test.ts covers the socket's own address. The
 * server allows megabyte headers (Node's default is 16 KiB) for the long-key scenarios.
 */
export async function sendHttp(listener: Listener, req: Req): Promise<Res> {
  const method = req.method ?? 'GET'
  const peer = req.ip ?? '127.0.0.1'
  const server = createServer({ maxHeaderSize: 4_000_000 }, (incoming, outgoing) => {
    Object.defineProperty(incoming.socket, 'remoteAddress', { value: peer, configurable: true })
    listener(incoming, outgoing)
  })
  const test = request(server)[method.toLowerCase() as 'get'](req.url)
  for (const [name, value] of Object.entries(req.headers ?? {})) test.set(name, value)
  // The body as the bytes' text, whatever the content type (superagent would parse JSON).
  const res = await test.buffer(true).parse(rawText)
  return normalize(method, res.status, nodeHeaders(res.headers), res.body as string)
}

/** A superagent parser that keeps the body as text (at run time its response is Node's stream). */
function rawText(res: request.Response, done: (err: Error | null, body: string) => void): void {
  const stream = res as unknown as IncomingMessage
  let text = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    text += chunk
  })
  stream.on('end', () => done(null, text))
}

type Mw = (...args: never[]) => unknown
const mounts = (spec: AppSpec): number => (spec.global === undefined ? 0 : (spec.globalMounts ?? 1))

function buildExpress(factory: typeof express5, spec: AppSpec): App {
  const app = factory()
  if (spec.trustProxy) app.set('trust proxy', true)
  for (let i = 0; i < mounts(spec); i++) app.use(expressRateLimit(spec.global as never))
  app.get('/hello', (_req, res) => {
    res.end('hello')
  })
  const routeMw: Mw[] = spec.route === undefined ? [] : [expressRateLimit(spec.route as never)]
  app.get('/users/:id', ...(routeMw as never[]), (_req: unknown, res: import('express').Response) => {
    res.end('user')
  })
  app.use((_req, res) => {
    res.statusCode = 404
    res.end('not found')
  })
  app.use((_err: unknown, _req: unknown, res: import('express').Response, _next: unknown) => {
    res.statusCode = 500
    res.end('error')
  })
  return { send: (req) => sendHttp(app, req), close: async () => {} }
}

function buildKoa(Koa: typeof koa3, spec: AppSpec): App {
  const app = new Koa()
  app.silent = true
  if (spec.trustProxy) app.proxy = true
  app.use(async (ctx, next) => {
    try {
      await next()
    } catch {
      ctx.status = 500
      ctx.body = 'error'
      return
    }
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.body = 'not found'
      ctx.status = 404
    }
  })
  for (let i = 0; i < mounts(spec); i++) app.use(koaRateLimit(spec.global as never))
  const router = new Router()
  router.get('/hello', (ctx) => {
    ctx.body = 'hello'
  })
  const routeMw = spec.route === undefined ? [] : [koaRateLimit(spec.route as never)]
  router.get('/users/:id', ...(routeMw as never[]), (ctx: import('koa').Context) => {
    ctx.body = 'user'
  })
  app.use(router.routes())
  const listener = app.callback()
  return { send: (req) => sendHttp(listener, req), close: async () => {} }
}

async function buildFastify(v5: boolean, spec: AppSpec): Promise<App> {
  const routing = { caseSensitive: false, ignoreTrailingSlash: true }
  const trustProxy = spec.trustProxy === true
  // fastify 4 and 5 differ in types only where this harness does not care.
  const app = (v5 ? fastify5({ routerOptions: routing, trustProxy }) : fastify4({ ...routing, trustProxy })) as unknown as FastifyInstance
  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).send('not found')
  })
  app.setErrorHandler((_err, _req, reply) => {
    reply.code(500).send('error')
  })
  for (let i = 0; i < mounts(spec); i++) await app.register(fastifyRateLimit, spec.global as never)
  if (spec.global === undefined && spec.route !== undefined)
    await app.register(fastifyRateLimit, { ...(spec.route as object), global: false } as never)
  app.get('/hello', async () => 'hello')
  app.get('/users/:id', { config: spec.route === undefined ? {} : { rateLimit: spec.route as never } }, async () => 'user')
  await app.ready()
  return {
    async send(req) {
      const method = req.method ?? 'GET'
      const res = await app.inject({ method: method as 'GET', url: req.url, headers: req.headers, remoteAddress: req.ip ?? '127.0.0.1' })
      return normalize(method, res.statusCode, nodeHeaders(res.headers), res.payload)
    },
    close: () => app.close(),
  }
}

async function fromResponse(method: string, res: Response): Promise<Res> {
  return normalize(method, res.status, res.headers, await res.text())
}

function text(body: string, status = 200): Response {
  return new Response(body, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8' } })
}

/** The routes of the plain-fetch app, matched as the Node frameworks do (case, trailing slash, encoding). */
function matchRoute(url: string): '/hello' | '/users/:id' | undefined {
  const path = decodeURIComponent(new URL(url).pathname)
    .toLowerCase()
    .replace(/(.)\/$/, '$1')
  if (path === '/hello') return '/hello'
  if (/^\/users\/[^/]+$/.test(path)) return '/users/:id'
  return undefined
}

function buildFetch(spec: AppSpec): App {
  // This app's error handling: a 500 with the same body as the other apps.
  const onError = () => text('error', 500)
  const globals = Array.from({ length: mounts(spec) }, () => fetchRateLimit({ onError, ...spec.global } as never))
  const routeLimit = spec.route === undefined ? undefined : fetchRateLimit({ onError, ...spec.route } as never)
  const handle = async (request: Request, ip: string): Promise<Response> => {
    const checks: FetchCheck[] = []
    const finish = (response: Response): Response => checks.reduceRight((r, c) => c.complete(r), response)
    for (const limit of globals) {
      const check = await limit.check(request, { ip })
      if (check.response !== undefined) return finish(check.response)
      checks.push(check)
    }
    const route = matchRoute(request.url)
    if (route === undefined) return finish(text('not found', 404))
    if (route === '/users/:id' && routeLimit !== undefined) {
      const check = await routeLimit.check(request, { ip, route })
      if (check.response !== undefined) return finish(check.response)
      checks.push(check)
    }
    return finish(text(route === '/hello' ? 'hello' : 'user'))
  }
  return {
    async send(req) {
      const method = req.method ?? 'GET'
      const res = await handle(new Request(`http://localhost${req.url}`, { method, headers: req.headers }), req.ip ?? '127.0.0.1')
      return fromResponse(method, res)
    },
    close: async () => {},
  }
}

function buildHono(spec: AppSpec): App {
  // Routing as the Node frameworks do it here: case-insensitive, trailing slash ignored.
  const app = new Hono({ getPath: (req) => new URL(req.url).pathname.toLowerCase().replace(/(.)\/$/, '$1') })
  for (let i = 0; i < mounts(spec); i++) app.use(fetchRateLimit(spec.global as never))
  app.get('/hello', (c) => c.text('hello'))
  if (spec.route !== undefined) app.get('/users/:id', fetchRateLimit(spec.route as never), (c) => c.text('user'))
  else app.get('/users/:id', (c) => c.text('user'))
  app.notFound((c) => c.text('not found', 404))
  app.onError((_err, c) => c.text('error', 500))
  return {
    async send(req) {
      const method = req.method ?? 'GET'
      // What @hono/node-server passes as env: the Node request, with its socket's address.
      const env = { incoming: { socket: { remoteAddress: req.ip ?? '127.0.0.1' } } }
      const res = await app.fetch(new Request(`http://localhost${req.url}`, { method, headers: req.headers }), env)
      return fromResponse(method, res)
    },
    close: async () => {},
  }
}

export async function build(framework: Framework, spec: AppSpec): Promise<App> {
  switch (framework) {
    case 'express5':
      return buildExpress(express5, spec)
    case 'express4':
      return buildExpress(express4, spec)
    case 'koa3':
      return buildKoa(koa3, spec)
    case 'koa2':
      return buildKoa(koa2, spec)
    case 'fastify5':
      return buildFastify(true, spec)
    case 'fastify4':
      return buildFastify(false, spec)
    case 'fetch':
      return buildFetch(spec)
    case 'hono':
      return buildHono(spec)
  }
}

/** Sends requests one after the other. */
export async function sendAll(app: App, requests: readonly Req[]): Promise<Res[]> {
  const out: Res[] = []
  for (const req of requests) out.push(await app.send(req))
  return out
}

/** A request sequence run against one app, on every framework. */
export interface Scenario {
  name: string
  spec: () => AppSpec
  requests: readonly Req[]
  check: (res: Res[]) => void
}

/**
 * Runs every scenario on every framework (each checked on its own), then checks that every
 * framework answered each scenario exactly as Express 5 did (request ids aside).
 */
export function describeOnEveryFramework(scenarios: readonly Scenario[], identically: string): void {
  const results = new Map<string, Map<Framework, Res[]>>()
  describe.each(FRAMEWORKS)('%s', (framework) => {
    it.each(scenarios.map((s) => [s.name, s] as const))('%s', async (_name, scenario) => {
      const app = await build(framework, scenario.spec())
      try {
        const res = await sendAll(app, scenario.requests)
        let byFramework = results.get(scenario.name)
        if (byFramework === undefined) results.set(scenario.name, (byFramework = new Map()))
        byFramework.set(framework, res)
        scenario.check(res)
      } finally {
        await app.close()
      }
    })
  })
  describe(identically, () => {
    it.each(scenarios.map((s) => [s.name] as const))('%s', (name) => {
      const byFramework = results.get(name)
      expect(byFramework?.size).toBe(FRAMEWORKS.length)
      const comparable = (framework: Framework) => byFramework?.get(framework)?.map((r) => ({ ...r, body: withoutRequestId(r.body) }))
      const reference = comparable('express5')
      for (const framework of FRAMEWORKS) expect({ framework, res: comparable(framework) }).toEqual({ framework, res: reference })
    })
  })
  afterAll(() => {
    results.clear()
  })
}
