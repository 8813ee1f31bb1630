/**
 * APIs.io profile of Scalekit: management API requests are a "per-environment request rate". They
 * used to be counted per account, so limiting an account's dev environment also limited its prod
 * environment (and two accounts' keys in one environment had two rates).
 */
import { afterEach, expect, it } from 'vitest'
import { createApp, MANAGEMENT, nodeListener } from '../../examples/seeds/apis-io-quotas.js'
import { listen, type SeedServer } from '../examples/seed-http.js'
import { clock } from '../helpers/clock.js'

const ACCOUNTS = {
  sk_dev: { id: 'acct_1', plan: 'free' as const, environment: 'env_mgmt_dev' },
  sk_prod: { id: 'acct_1', plan: 'free' as const, environment: 'env_mgmt_prod' },
  sk_prod_ci: { id: 'acct_1', plan: 'free' as const, environment: 'env_mgmt_prod' },
}
let server: SeedServer | undefined
let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await server?.close()
  await close?.()
})

it('limiting one environment leaves the account’s other environment alone; keys of one environment share its rate', async () => {
  const c = clock(Date.UTC(2026, 3, 30, 18, 0, 0))
  const built = createApp({ accounts: ACCOUNTS, now: c.now })
  close = built.close
  server = await listen(nodeListener(built.app))
  const s = server
  const get = (key: string) => s.send('GET', '/api/v1/organizations', { headers: { authorization: `Bearer ${key}` } })
  const limit = MANAGEMENT[0].burst
  // The dev environment has spent all but 3 of its minute.
  await built.limiter.consume('environment:env_mgmt_dev', { cost: limit - 3, policies: MANAGEMENT })
  const dev: number[] = []
  for (let i = 0; i < 4; i++) dev.push((await get('sk_dev')).status)
  expect(dev).toEqual([200, 200, 200, 429])
  // The same account's prod environment: its own rate.
  const prod = await get('sk_prod')
  expect(prod.status).toBe(200)
  expect(prod.headers['x-ratelimit-remaining']).toBe(String(limit - 1))
  // Another key of the prod environment draws on the same rate.
  expect((await get('sk_prod_ci')).headers['x-ratelimit-remaining']).toBe(String(limit - 2))
})
