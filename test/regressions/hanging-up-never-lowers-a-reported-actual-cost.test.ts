// Reserve-then-settle: a client that hangs up keeps its estimate, "hanging up never lowers the
// charge". But a request whose actual cost is already known when the client goes away — the
// handler reported it with setActualCost, or sent it as the actualCost header, before streaming
// the body — must be charged that cost when it is above the estimate. Otherwise a client reads all
// but the last bytes of an expensive response, hangs up, and pays only the estimate: the limit is
// escaped by as much as the actual cost exceeds the estimate, on every request.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rateLimit as expressRateLimit, setActualCost as expressSetCost } from '../../adapters/express.js'
import { setActualCost as fetchSetCost, withRateLimit } from '../../adapters/fetch.js'
import { createLimiter, type Limiter, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

const T0 = 1_700_000_000_000
const KEY = 'client-1'
const until = (check: () => Promise<unknown>) => vi.waitFor(check, { timeout: 5000, interval: 5 })

function tokens(): Limiter {
  return createLimiter({ policies: [tokenBucket({ name: 'tokens', limit: 1000, window: '1m' })], now: clock(T0).now })
}
const left = async (limiter: Limiter) => (await limiter.peek(KEY, { cost: 0 })).remaining

let closeServer: (() => void) | undefined
afterEach(() => {
  closeServer?.()
  closeServer = undefined
})

describe('a client hanging up mid-body keeps the actual cost already known when it is above the estimate', () => {
  it.each(['report', 'header'] as const)('express: cost known by %s before the body streams', async (how) => {
    const limiter = tokens()
    const app = express()
    app.use(expressRateLimit({ limiter, key: () => KEY, cost: 100, actualCost: 'x-usage-tokens' }))
    let streaming!: () => void
    const started = new Promise<void>((resolve) => {
      streaming = resolve
    })
    app.get('/export', (_req, res) => {
      if (how === 'report') expressSetCost(res, 500)
      else res.setHeader('x-usage-tokens', '500')
      res.write('almost all of it')
      streaming()
      // …the last chunk never comes before the client goes away.
    })
    const server = createServer(app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    closeServer = () => {
      server.closeAllConnections()
      server.close()
    }
    const controller = new AbortController()
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/export`, { signal: controller.signal })
    expect(res.status).toBe(200)
    await started
    controller.abort()
    // Charged the 500 the response was known to cost, not the estimate of 100.
    await until(async () => expect(await left(limiter)).toBe(500))
  })

  it('fetch: cost reported before the body streams, body cancelled by the client', async () => {
    const limiter = tokens()
    const handler = withRateLimit(
      (request: Request) => {
        fetchSetCost(request, 500)
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('almost all of it'))
          },
        })
        return new Response(body)
      },
      { limiter, key: () => KEY, cost: 100, actualCost: true },
    )
    const res = await handler(new Request('http://x/export'))
    const reader = res.body?.getReader()
    await reader?.read()
    await reader?.cancel()
    await until(async () => expect(await left(limiter)).toBe(500))
  })
})

describe('a client hanging up is never charged by the actualCost hook', () => {
  it('fetch: the hook is not asked for a response the client cancelled', async () => {
    const limiter = tokens()
    const hook = vi.fn(() => 900)
    const handler = withRateLimit(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('partial'))
            },
          }),
        ),
      { limiter, key: () => KEY, cost: 100, actualCost: hook },
    )
    const res = await handler(new Request('http://x/export'))
    const reader = res.body?.getReader()
    await reader?.read()
    await reader?.cancel()
    await Promise.resolve()
    expect(hook).not.toHaveBeenCalled()
    expect(await left(limiter)).toBe(900)
  })
})
