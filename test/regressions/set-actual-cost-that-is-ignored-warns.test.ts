// A handler's setActualCost was ignored without a word when no limiter had the `actualCost`
// option (the cost was never read), or when it came after the response had ended (too late to be
// read): the request stayed charged at its estimate and nobody heard. Now each case warns once.
import express from 'express'
import request from 'supertest'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rateLimit, setActualCost } from '../../adapters/express.js'
import { createLimiter, tokenBucket } from '../../src/index.js'

afterEach(() => {
  vi.restoreAllMocks()
})

function warningsOf(spy: { mock: { calls: unknown[][] } }): string[] {
  return spy.mock.calls.map((call) => String((call[1] as { code?: string } | undefined)?.code))
}

describe('setActualCost that cannot be used', () => {
  it('warns once when no limiter settles costs (no actualCost option), then once when a report comes after the end', async () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const plain = express()
    plain.use(rateLimit({ limiter: createLimiter({ policies: [tokenBucket({ limit: 100, window: '1m' })] }) }))
    plain.get('/', (_req, res) => {
      setActualCost(res, 5)
      res.end('ok')
    })
    await request(plain).get('/')
    await request(plain).get('/')
    expect(warningsOf(spy)).toEqual(['RK_ACTUAL_COST_IGNORED'])
    expect(String(spy.mock.calls[0][0])).toMatch(/actualCost option/)

    const limiter = createLimiter({ policies: [tokenBucket({ name: 'tokens', limit: 100, window: '1m' })] })
    const settling = express()
    settling.use(rateLimit({ limiter, cost: 10, actualCost: true }))
    let late: Promise<void> = Promise.resolve()
    settling.get('/', (_req, res) => {
      res.end('ok')
      late = new Promise((resolve) =>
        res.on('finish', () => {
          setActualCost(res, 50)
          resolve()
        }),
      )
    })
    await request(settling).get('/')
    await late
    expect(warningsOf(spy)).toEqual(['RK_ACTUAL_COST_IGNORED', 'RK_ACTUAL_COST_IGNORED'])
    expect(String(spy.mock.calls[1][0])).toMatch(/response had ended/)
    // The late report changed nothing: the estimate stands.
    expect((await limiter.peek('ip:127.0.0.1', { cost: 0 })).remaining).toBe(90)
  })
})
