// A middleware before the limiter that sends the response's headers (`res.flushHeaders()` to open
// a stream, a first `res.write`) made the limiter's `res.setHeader` throw ERR_HTTP_HEADERS_SENT:
// on Express every request went to the error handler instead of its route, on Koa the request
// hung (Koa cannot answer an error once headers are out), and on both the concurrency lease just
// taken was never released, as the response was watched only after the headers were set.
// Seen failing on Express 4/5 and Koa 2/3 before the fix.
//
// Fixed in the shared Node step (src/http/node.ts): the response is watched first; headers that
// can no longer be sent are left out and reported once (RK_HEADERS_ALREADY_SENT); an admitted
// request goes on, a refused one has its connection closed (its 429 status can no longer be
// sent, and an ended response would pass for the success the headers announced).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express5 from 'express'
import express4 from 'express4'
import koa3 from 'koa'
import koa2 from 'koa2'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { concurrency, createLimiter, type Limiter, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

type Framework = 'express5' | 'express4' | 'koa3' | 'koa2'

let server: Server | undefined
afterEach(async () => {
  const s = server
  server = undefined
  if (s !== undefined) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
})

/** An app whose first middleware sends the headers, then the limiter, then a route answering 'ok'; errors are collected. */
async function start(framework: Framework, limiter: Limiter, errors: unknown[]): Promise<string> {
  const options = { limiter, key: () => 'k' }
  let listener: Parameters<typeof createServer>[1]
  if (framework === 'express5' || framework === 'express4') {
    const app = (framework === 'express5' ? express5 : (express4 as unknown as typeof express5))()
    app.use((_req, res, next) => {
      res.flushHeaders()
      next()
    })
    app.use(expressRateLimit(options))
    app.get('/', (_req, res) => res.end('ok'))
    app.use((error: Error, _req: unknown, res: { end(s: string): void }, _next: unknown) => {
      errors.push(error)
      res.end('failed')
    })
    listener = app
  } else {
    const app = new (framework === 'koa3' ? koa3 : (koa2 as unknown as typeof koa3))()
    app.silent = true
    app.on('error', (error) => errors.push(error))
    app.use(async (ctx, next) => {
      ctx.status = 200
      ctx.res.flushHeaders()
      await next()
    })
    app.use(koaRateLimit(options))
    app.use((ctx) => {
      // Koa cannot send a body it is given once headers are out: the route writes its own.
      ctx.respond = false
      ctx.res.end('ok')
    })
    listener = app.callback()
  }
  const s = createServer(listener)
  server = s
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`
}

describe.each(['express5', 'express4', 'koa3', 'koa2'] as const)('%s: headers sent before the limiter', (framework) => {
  it('an admitted request reaches its route and gives its lease back; a refused one is closed; one warning', async () => {
    const time = clock(1_700_000_000_000)
    const warnings: string[] = []
    const limiter = createLimiter({
      policies: [concurrency({ name: 'in-flight', limit: 1 }), tokenBucket({ name: 'tokens', limit: 3, window: '1m' })],
      now: time.now,
    })
    limiter.on('warn', (w) => warnings.push(w.code))
    const errors: unknown[] = []
    const url = await start(framework, limiter, errors)
    const slots = async () => (await limiter.peek('k', { cost: 0 })).policies.find((p) => p.name === 'in-flight')?.remaining
    for (let i = 0; i < 3; i++) {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('ok')
      await vi.waitFor(async () => expect(await slots()).toBe(1), { timeout: 2000, interval: 5 })
    }
    // The bucket is empty: the fourth is refused, and its connection closed rather than left hanging.
    await expect(fetch(url, { signal: AbortSignal.timeout(5000) }).then((r) => r.text())).rejects.toThrow(/terminated|fetch failed/)
    expect(errors).toEqual([])
    expect(warnings.filter((code) => code === 'RK_HEADERS_ALREADY_SENT')).toEqual(['RK_HEADERS_ALREADY_SENT'])
  })
})
