// Real HTTP clients that retry on their own, against ratekeeper's servers: got and ky honour a
// 429's `Retry-After` (ky reads `RateLimit-Reset` and `X-RateLimit-Reset` too when it is absent).
// What this holds: the limiter's answer is one a client can act on. A client that waits as long as
// `Retry-After` says is admitted on its first retry (no second 429: the figure is never rounded
// down), and it never gives up early (the figure is never past what the limit needs). Real time:
// a token bucket of one request per two seconds, so each case waits about two seconds.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import fastify from 'fastify'
import got from 'got'
import koa from 'koa'
import ky from 'ky'
import { afterEach, describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { tokenBucket } from '../../src/index.js'

const policies = () => [tokenBucket({ name: 'per-2s', limit: 1, window: '2s' })]

/** A server on a free port answering `GET /` through the framework's adapter; `statuses` gets each response's status. */
async function serve(framework: 'express' | 'fastify' | 'koa', statuses: number[]): Promise<{ url: string; close(): Promise<void> }> {
  if (framework === 'fastify') {
    const app = fastify()
    app.addHook('onResponse', async (_req, reply) => {
      statuses.push(reply.statusCode)
    })
    await app.register(fastifyRateLimit, { policies: policies(), key: () => 'client' })
    app.get('/', async () => 'ok')
    await app.listen({ port: 0, host: '127.0.0.1' })
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`, close: () => app.close() }
  }
  let listener: Parameters<typeof createServer>[1]
  if (framework === 'express') {
    const app = express()
    app.use((_req, res, next) => {
      res.on('finish', () => statuses.push(res.statusCode))
      next()
    })
    app.use(expressRateLimit({ policies: policies(), key: () => 'client' }))
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    listener = app
  } else {
    const app = new koa()
    app.use(async (ctx, next) => {
      ctx.res.on('finish', () => statuses.push(ctx.res.statusCode))
      await next()
    })
    app.use(koaRateLimit({ policies: policies(), key: () => 'client' }))
    app.use((ctx) => {
      ctx.body = 'ok'
    })
    listener = app.callback()
  }
  const server: Server = createServer(listener)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

let open: { close(): Promise<void> } | undefined
afterEach(async () => {
  await open?.close()
  open = undefined
})

const CLIENTS = {
  got: (url: string) => got(url, { retry: { limit: 2, maxRetryAfter: 10_000 }, timeout: { request: 10_000 } }).text(),
  ky: (url: string) => ky(url, { retry: { limit: 2, maxRetryAfter: 10_000 }, timeout: 10_000 }).text(),
}

describe.each(['express', 'fastify', 'koa'] as const)('%s', (framework) => {
  it.each(Object.keys(CLIENTS) as (keyof typeof CLIENTS)[])(
    '%s waits as Retry-After says and is admitted on its first retry',
    async (client) => {
      const statuses: number[] = []
      const server = await serve(framework, statuses)
      open = server
      expect(await CLIENTS[client](server.url)).toBe('ok') // the one request the bucket holds
      expect(await CLIENTS[client](server.url)).toBe('ok') // refused, then retried after Retry-After
      expect(statuses).toEqual([200, 429, 200])
    },
  )
})
