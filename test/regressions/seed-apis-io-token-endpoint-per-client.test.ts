/**
 * APIs.io profile of Scalekit: "Token Endpoint (client credentials) — client — requests". The
 * token endpoint had no limit at all: 3,000 token requests at one instant were all admitted. It
 * has a per-client request limit (and clients should reuse their tokens until they expire). The
 * clock stands still, so 300 requests are as much "one instant" as 3,000.
 */
import { afterEach, expect, it } from 'vitest'
import { createApp, nodeListener, TOKEN_ENDPOINT } from '../../examples/seeds/apis-io-quotas.js'
import { listen, type SeedServer } from '../examples/seed-http.js'
import { clock } from '../helpers/clock.js'

const ACCOUNTS = {
  sk_a: { id: 'acct_a', plan: 'free' as const, environment: 'env_a' },
  sk_b: { id: 'acct_b', plan: 'free' as const, environment: 'env_a' },
}
let server: SeedServer | undefined
let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await server?.close()
  await close?.()
})

it('300 token requests at one instant: only the per-client allowance is admitted; other clients are unaffected', async () => {
  const c = clock(Date.UTC(2026, 3, 30, 18, 0, 0))
  const built = createApp({ accounts: ACCOUNTS, now: c.now })
  close = built.close
  server = await listen(nodeListener(built.app))
  const s = server
  const token = (key: string) => s.send('POST', '/oauth/token', { headers: { authorization: `Bearer ${key}` } })
  const statuses = await Promise.all(Array.from({ length: 300 }, () => token('sk_a')))
  const admitted = statuses.filter((r) => r.status === 200).length
  expect(admitted).toBe(TOKEN_ENDPOINT[0].burst)
  expect(statuses.filter((r) => r.status === 429)).toHaveLength(300 - admitted)
  expect((await token('sk_b')).status).toBe(200)
})
