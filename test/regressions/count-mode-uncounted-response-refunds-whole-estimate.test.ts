// Reserve-then-settle with a count mode: a response that does not count gives the whole estimate
// back (not only the difference to its actual cost), and a counted one is settled at its actual cost.
import express from 'express'
import { describe, expect, it } from 'vitest'
import { rateLimit, setActualCost } from '../../adapters/express.js'
import { concurrency, createLimiter, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { send, T0 } from '../helpers/http-apps.js'

describe('count modes with actualCost', () => {
  it("countMode 'success': a 500 is refunded entirely, a 200 settled at its actual cost, and the lease is released either way", async () => {
    const policies = [concurrency({ name: 'in-flight', limit: 1 }), tokenBucket({ name: 'tokens', limit: 1000, window: '1m' })]
    const limiter = createLimiter({ policies, now: clock(T0).now })
    const app = express()
    app.use(rateLimit({ limiter, plan: () => ({ key: 'k', cost: 100, policies, countMode: 'success' }), actualCost: true }))
    app.get('/:status', (req, res) => {
      setActualCost(res, 30)
      res.status(Number(req.params.status)).end('x')
    })
    const left = async () => Object.fromEntries((await limiter.peek('k', { cost: 0, policies })).policies.map((p) => [p.name, p.remaining]))
    expect((await send(app, 'GET', '/500')).status).toBe(500)
    expect(await left()).toEqual({ 'in-flight': 1, tokens: 1000 })
    expect((await send(app, 'GET', '/200')).status).toBe(200)
    expect(await left()).toEqual({ 'in-flight': 1, tokens: 970 })
  })
})
