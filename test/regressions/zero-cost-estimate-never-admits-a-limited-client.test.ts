// Reserve-then-settle with a cost a client drives (docs/adapters.md: `cost: (req) =>
// req.body.max_tokens`, `actualCost: 'x-usage-tokens'`): an estimate of 0 was a consume of cost 0,
// which only looks and is admitted even for a client with nothing left, and the request was then
// settled at its real cost. A client in debt sent `max_tokens: 0` and was served without end, the
// debt growing. With `actualCost` an estimate of 0 now reserves one unit (given back when the
// actual cost is 0), so a limited client is refused as for any other estimate.

import express from 'express'
import { inject } from 'light-my-request'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit, setActualCost as expressSetActualCost } from '../../adapters/express.js'
import { setActualCost, withRateLimit } from '../../adapters/fetch.js'
import { createLimiter, tokenBucket } from '../../src/index.js'

const T0 = Date.UTC(2026, 0, 1)
const policies = () => [tokenBucket({ name: 'tokens', limit: 1000, window: '1m' })]

describe('fetch', () => {
  function server(used: number) {
    const limiter = createLimiter({ policies: policies(), now: () => T0 })
    const handler = withRateLimit(
      async (request: Request) => {
        setActualCost(request, used)
        return Response.json({ used })
      },
      {
        limiter,
        key: () => 'sk_1',
        cost: async (request) => ((await request.clone().json()) as { max_tokens: number }).max_tokens,
        actualCost: 'x-usage-tokens',
      },
    )
    const call = async (maxTokens: number) => {
      const res = await handler(
        new Request('https://api.example/v1/complete', { method: 'POST', body: JSON.stringify({ max_tokens: maxTokens }) }),
      )
      await res.text()
      return res.status
    }
    return { limiter, call }
  }

  it('a client in debt is refused whatever its estimate, 0 included', async () => {
    const { limiter, call } = server(600)
    expect(await call(600)).toBe(200)
    expect(await call(0)).toBe(200) // 400 left: admitted, settled at 600 (200 in debt)
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push(await call(0))
    expect(statuses).toEqual([429, 429, 429, 429, 429])
    expect((await limiter.peek('sk_1', { cost: 0 })).remaining).toBe(0)
  })

  it('a 0 estimate whose actual cost is 0 is charged nothing', async () => {
    const { limiter, call } = server(0)
    expect(await call(0)).toBe(200)
    expect((await limiter.peek('sk_1', { cost: 0 })).remaining).toBe(1000)
  })
})

it('express: a fixed cost of 0 with actualCost does not admit a client in debt', async () => {
  const limiter = createLimiter({ policies: policies(), now: () => T0 })
  const app = express()
  app.use(expressRateLimit({ limiter, key: () => 'sk_1', cost: 0, actualCost: 'x-usage-tokens' }))
  app.post('/v1/complete', (_req, res) => {
    expressSetActualCost(res, 700)
    res.json({})
  })
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await inject(app, { method: 'POST', url: '/v1/complete' })).statusCode)
  expect(statuses).toEqual([200, 200, 429, 429])
})
