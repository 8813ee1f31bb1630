// The end of a request never leaves a rejection unhandled, whatever fails then: a limiter closed
// while the response was in flight (settle rejects with ERR_RK_CLOSED), an actualCost hook that
// throws, a header that is no number. The estimate stands, and each problem is reported once.
import express from 'express'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rateLimit, setActualCost } from '../../adapters/express.js'
import { concurrency, createLimiter, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { send, T0 } from '../helpers/http-apps.js'

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
process.on('unhandledRejection', onUnhandled)
afterEach(() => {
  unhandled.length = 0
})

function app(actualCost: unknown, handler: express.RequestHandler) {
  const warn = vi.fn()
  const limiter = createLimiter({
    policies: [concurrency({ name: 'in-flight', limit: 1 }), tokenBucket({ name: 'tokens', limit: 1000, window: '1m' })],
    now: clock(T0).now,
    logger: { warn },
  })
  const a = express()
  a.use(rateLimit({ limiter, key: () => 'k', cost: 100, actualCost: actualCost as never }))
  a.get('/', handler)
  return { a, limiter, warn }
}

const tokensLeft = async (limiter: ReturnType<typeof createLimiter>) =>
  (await limiter.peek('k', { cost: 0 })).policies.find((p) => p.name === 'tokens')?.remaining

describe('the end of a request never rejects unhandled', () => {
  it('a limiter closed while the response was in flight: the response is sent, nothing unhandled', async () => {
    const { a, limiter } = app('x-usage', (_req, res) => {
      void limiter.close().then(() => res.setHeader('x-usage', '5').end('ok'))
    })
    expect((await send(a, 'GET', '/')).status).toBe(200)
    await new Promise((resolve) => setImmediate(resolve))
    expect(unhandled).toEqual([])
  })

  it('an actualCost hook that throws keeps the estimate, warns once', async () => {
    const { a, limiter, warn } = app(
      () => {
        throw new Error('boom')
      },
      (_req, res) => res.end('ok'),
    )
    for (let i = 0; i < 2; i++) expect((await send(a, 'GET', '/')).status).toBe(200)
    expect(await tokensLeft(limiter)).toBe(800)
    expect(unhandled).toEqual([])
    expect(warn.mock.calls.filter(([m]) => String(m).includes('actualCost hook threw'))).toHaveLength(1)
  })

  it.each(['lots', '-3', '1.5', '99999999999', ''])('a usage header %j that is no cost keeps the estimate, warns once', async (value) => {
    const { a, limiter, warn } = app('x-usage', (_req, res) => res.setHeader('x-usage', value).end('ok'))
    for (let i = 0; i < 2; i++) expect((await send(a, 'GET', '/')).status).toBe(200)
    expect(await tokensLeft(limiter)).toBe(800)
    expect(warn.mock.calls.filter(([m]) => String(m).includes('is not a whole number'))).toHaveLength(1)
  })

  it('an actualCost hook returning a fraction keeps the estimate', async () => {
    const { a, limiter } = app(
      () => 2.5,
      (_req, res) => res.end('ok'),
    )
    expect((await send(a, 'GET', '/')).status).toBe(200)
    expect(await tokensLeft(limiter)).toBe(900)
  })

  it('setActualCost refuses a cost that is not a whole number in range, to the framework error path', async () => {
    const { a } = app(true, (_req, res) => {
      setActualCost(res, -1)
      res.end('ok')
    })
    expect((await send(a, 'GET', '/')).status).toBe(500)
  })
})
