// Real sockets on loopback, keyed by the address the socket really has (the shared suite's
// harness writes the address each scenario names onto its sockets).
import type { AddressInfo } from 'node:net'
import express from 'express'
import fastify from 'fastify'
import Koa from 'koa'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import type { HttpLimiterOptions } from '../../src/http/http-options.js'
import { ipKey } from '../../src/http/keys.js'
import { tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

const T0 = 1_700_000_000_000
const options = (): HttpLimiterOptions => ({ policies: [tokenBucket({ name: 'per-minute', limit: 1, window: '1m' })], now: clock(T0).now })

interface Listening {
  address(): AddressInfo | string | null
  close(): unknown
  once(event: 'listening', fn: () => void): unknown
}

async function twice(server: Listening): Promise<Response[]> {
  await new Promise<void>((resolve) => server.once('listening', resolve))
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`
    return [await fetch(url), await fetch(url)]
  } finally {
    server.close()
  }
}

function expectLimited([a, b]: Response[]) {
  expect([a.status, b.status]).toEqual([200, 429])
  expect(a.headers.get('x-ratelimit-remaining')).toBe('0')
  expect(b.headers.get('retry-after')).toBe('60')
  expect(b.headers.get('content-type')).toBe('application/problem+json')
}

describe('over a real socket, the client address is the socket peer', () => {
  it('express', async () => {
    const app = express()
    const limit = expressRateLimit(options())
    app.use(limit)
    app.get('/x', (_req, res) => {
      res.end('x')
    })
    const res = await twice(app.listen(0, '127.0.0.1'))
    expectLimited(res)
    expect(await res[1].json()).toMatchObject({ status: 429 })
    expect((await limit.limiter.peek(ipKey('127.0.0.1'))).remaining).toBe(0)
  })

  it('koa', async () => {
    const app = new Koa()
    app.use(koaRateLimit(options()))
    app.use((ctx) => {
      ctx.body = 'x'
    })
    expectLimited(await twice(app.listen(0, '127.0.0.1')))
  })

  it('fastify', async () => {
    const app = fastify()
    await app.register(fastifyRateLimit, options())
    app.get('/x', async () => 'x')
    await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/x`
      expectLimited([await fetch(url), await fetch(url)])
    } finally {
      await app.close()
    }
  })
})
