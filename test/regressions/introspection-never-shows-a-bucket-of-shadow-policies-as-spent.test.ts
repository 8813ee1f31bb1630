// A request class (or a team ceiling) limited only by shadow policies — a limit on trial, decided
// and counted but never denying and never shown to clients — was listed by GET /v1/rate-limits as
// `limit: 0, remaining: 0`: a client pacing itself by the endpoint stopped sending requests that
// would all have been admitted, and the shadow limit was shown after all. Such a bucket is now
// left out, as the rate-limit headers leave out its figures.
import { expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { providerPlan, rateLimitsHandler } from '../../src/provider/index.js'

const req = { method: 'GET', route: '/v1/rate-limits', path: '/v1/rate-limits', ip: '192.0.2.1', headers: { get: () => undefined } }

it('a class and a ceiling of shadow policies alone are not listed; the others are', async () => {
  const plan = providerPlan({
    limits: {
      policies: [tokenBucket({ name: 'per-key', limit: 10, window: '1m' })],
      classes: { write: [tokenBucket({ name: 'write-trial', limit: 5, window: '1m', shadow: true })] },
      ceiling: [tokenBucket({ name: 'team-trial', limit: 50, window: '1m', shadow: true })],
    },
    team: () => 'acme',
  })
  const limiter = createLimiter({ policies: plan.policies, now: () => Date.UTC(2026, 0, 1) })
  const res = await rateLimitsHandler({ limiter, plan })(req)
  expect(res.status).toBe(200)
  const body = JSON.parse(res.body)
  expect(body.data.buckets.map((b: { class: string }) => b.class)).toEqual(['read', 'delete'])
  expect(body.data.team_ceiling).toBeNull()
  expect(res.body).not.toContain('trial')
})
