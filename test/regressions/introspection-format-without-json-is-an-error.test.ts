// rateLimitsHandler's `format` returning undefined (a function that forgot its `return`) or a
// function made the body `undefined` — JSON.stringify answers no string for them — and the handler
// still said 200 with a JSON content type: an empty or broken introspection response, and no
// error anywhere. It now rejects with ERR_RK_INVALID_ARGUMENT naming `format` (the framework's 500).
import { expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { providerPlan, rateLimitsHandler } from '../../src/provider/index.js'

const req = {
  method: 'GET',
  route: '/v1/rate-limits',
  path: '/v1/rate-limits',
  ip: '192.0.2.1',
  headers: { get: () => undefined },
  raw: {},
}

it('a format that gives no JSON value is an error, never a 200 without a body', async () => {
  const limiter = createLimiter({ policies: [tokenBucket({ limit: 10, window: '1m' })], now: () => 1_000 })
  const plan = providerPlan({ limits: { policies: [tokenBucket({ name: 'api', limit: 10, window: '1m' })] } })
  for (const answer of [undefined, () => 1]) {
    const introspect = rateLimitsHandler({ limiter, plan, format: () => answer })
    await expect(introspect(req)).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'format' })
  }
  const fine = await rateLimitsHandler({ limiter, plan, format: (s) => ({ remaining: s.buckets[0].remaining }) })(req)
  expect(fine).toMatchObject({ status: 200, body: '{"remaining":10}' })
})
