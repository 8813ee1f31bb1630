// A request answered by a middleware mounted before the limiter while the limiter was still
// deciding (a request timeout answering 503 while an async key function or a store is slow) took
// its lease after its response had finished and closed. The response was then watched for events
// already emitted: the lease was never released, and the client was locked out of that slot until
// the lease expired (`leaseMs`). Seen failing on Express 4/5 and Koa 2/3 before the fix.
//
// Fixed in the shared Node watch (src/http/node.ts): a response already closed when it is watched
// reports its end at once (a finished one as finished, with its status); the limiter's headers,
// which it can no longer take, are left out without a warning (nothing is missing from it).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express5 from 'express'
import express4 from 'express4'
import koa3 from 'koa'
import koa2 from 'koa2'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { concurrency, createLimiter, type Limiter } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

let server: Server | undefined
afterEach(async () => {
  const s = server
  server = undefined
  if (s !== undefined) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
})

/** A response (Node's) that has finished and closed. */
function closed(res: { destroyed: boolean; once(event: 'close', listener: () => void): unknown }): Promise<void> {
  return res.destroyed ? Promise.resolve() : new Promise((resolve) => res.once('close', () => resolve()))
}

/** An app whose first middleware answers 503 at once (a request timeout due now); the key is known once that answer is out. */
async function start(framework: 'express5' | 'express4' | 'koa3' | 'koa2', limiter: Limiter): Promise<string> {
  let listener: Parameters<typeof createServer>[1]
  if (framework === 'express5' || framework === 'express4') {
    const app = (framework === 'express5' ? express5 : (express4 as unknown as typeof express5))()
    app.use((_req, res, next) => {
      res.status(503).end('timed out')
      next()
    })
    app.use(expressRateLimit({ limiter, key: async (_req, info) => closed(info.raw.res as never).then(() => 'k') }))
    app.get('/', () => {})
    listener = app
  } else {
    const app = new (framework === 'koa3' ? koa3 : (koa2 as unknown as typeof koa3))()
    app.silent = true
    app.use(async (ctx, next) => {
      ctx.respond = false
      ctx.res.statusCode = 503
      ctx.res.end('timed out')
      await next()
    })
    app.use(koaRateLimit({ limiter, key: async (ctx) => closed(ctx.res).then(() => 'k') }))
    app.use(() => {})
    listener = app.callback()
  }
  const s = createServer(listener)
  server = s
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`
}

describe.each(['express5', 'express4', 'koa3', 'koa2'] as const)('%s: a request answered while the limiter decides', (framework) => {
  it('the lease taken after the answer goes back', async () => {
    const time = clock(1_700_000_000_000)
    const limiter = createLimiter({ policies: [concurrency({ name: 'in-flight', limit: 1 })], now: time.now })
    let taken = 0
    limiter.on('decision', (d) => {
      if (d.allowed) taken++
    })
    const warnings: string[] = []
    limiter.on('warn', (w) => warnings.push(w.code))
    const url = await start(framework, limiter)
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
    expect(res.status).toBe(503)
    expect(await res.text()).toBe('timed out')
    await vi.waitFor(() => expect(taken).toBe(1), { timeout: 5000, interval: 5 })
    await vi.waitFor(async () => expect((await limiter.peek('k', { cost: 0 })).remaining).toBe(1), { timeout: 2000, interval: 5 })
    // Nothing is missing from a response already answered: no warning about its headers.
    expect(warnings).not.toContain('RK_HEADERS_ALREADY_SENT')
  })
})
