// Real rate-limiting servers from other libraries, started in-process on loopback ports, so that the
// client is tested against the headers they really send (not only against hand-written fakes).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** The peer servers and header modes the client is tested against. */
export const PEERS = [
  'express-rate-limit draft-6',
  'express-rate-limit draft-7',
  'express-rate-limit draft-8',
  'express-rate-limit legacy',
  '@fastify/rate-limit',
  '@fastify/rate-limit draft',
  'koa-ratelimit',
  'rate-limiter-flexible (README headers)',
] as const
export type PeerName = (typeof PEERS)[number]

export interface Peer {
  readonly name: PeerName
  readonly url: string
  close(): Promise<void>
}

// Peers are loaded by a computed name: their type augmentations (@fastify/rate-limit adds its own
// `config.rateLimit`) must not meet ratekeeper's in one compilation.
type Loaded = Record<string, unknown> & { default?: unknown }
const load = (name: string): Promise<Loaded> => import(name) as Promise<Loaded>
const defaultOf = <T>(module: Loaded): T => (module.default ?? module) as T
type Factory = (options: object) => never

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/**
 * Starts one peer that allows `limit` requests per `windowMs` (every request counts against one
 * client) on `GET /` (and any other path). A fresh server has a fresh budget.
 */
export async function startPeer(name: PeerName, limit: number, windowMs: number): Promise<Peer> {
  if (name.startsWith('express-rate-limit')) {
    const { default: express } = await import('express')
    const erl = defaultOf<Factory>(await load('express-rate-limit'))
    const mode = name.split(' ')[1]
    const app = express()
    app.use(
      erl({
        windowMs,
        limit,
        keyGenerator: () => 'one-client',
        standardHeaders: mode === 'legacy' ? false : mode,
        legacyHeaders: mode === 'legacy',
        identifier: `${limit}-in-${windowMs / 1000}sec`,
        validate: false,
      }),
    )
    app.use((_req, res) => {
      res.send('ok')
    })
    const server = createServer(app)
    return { name, url: await listen(server), close: closer(server) }
  }
  if (name.startsWith('@fastify/rate-limit')) {
    const { default: fastify } = await import('fastify')
    const app = fastify()
    await app.register(defaultOf<never>(await load('@fastify/rate-limit')), {
      max: limit,
      timeWindow: windowMs,
      keyGenerator: () => 'one-client',
      enableDraftSpec: name.endsWith('draft'),
    } as never)
    app.get('/*', async () => 'ok')
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    return {
      name,
      url: `http://127.0.0.1:${port}`,
      close: async () => {
        app.server.closeAllConnections()
        await app.close()
      },
    }
  }
  if (name === 'koa-ratelimit') {
    const { default: Koa } = await import('koa')
    const ratelimit = defaultOf<Factory>(await load('koa-ratelimit'))
    const app = new Koa()
    app.use(ratelimit({ driver: 'memory', db: new Map(), duration: windowMs, max: limit, id: () => 'one-client' }))
    app.use((ctx) => {
      ctx.body = 'ok'
    })
    const server = createServer(app.callback())
    return { name, url: await listen(server), close: closer(server) }
  }
  // rate-limiter-flexible ships no HTTP layer: its README sets these headers from the limiter's answer.
  const { RateLimiterMemory } = await import('rate-limiter-flexible')
  const limiter = new RateLimiterMemory({ points: limit, duration: windowMs / 1000 })
  const server = createServer((_req, res) => {
    limiter.consume('one-client').then(
      (r) => {
        res.writeHead(200, {
          'Retry-After': String(r.msBeforeNext / 1000),
          'X-RateLimit-Limit': String(limit),
          'X-RateLimit-Remaining': String(r.remainingPoints),
          'X-RateLimit-Reset': String(Math.ceil((Date.now() + r.msBeforeNext) / 1000)),
        })
        res.end('ok')
      },
      (r: { msBeforeNext: number; remainingPoints: number }) => {
        res.writeHead(429, {
          'Retry-After': String(r.msBeforeNext / 1000),
          'X-RateLimit-Limit': String(limit),
          'X-RateLimit-Remaining': String(r.remainingPoints),
          'X-RateLimit-Reset': String(Math.ceil((Date.now() + r.msBeforeNext) / 1000)),
        })
        res.end('Too Many Requests')
      },
    )
  })
  return { name, url: await listen(server), close: closer(server) }
}
