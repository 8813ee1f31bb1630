/**
 * APIs.io profile of Scalekit: "Agent Tool Calls account requests 5,000/month (Free, hard
 * stop)" and "Management API Requests environment". A request without a key of an account is
 * on no account and no environment. The example used to serve it on a per-IP budget, so tools
 * ran outside every account's allowance (5,000 a month per address, a fresh allowance with each
 * address). Now it is counted by IP and answered 401, and the tool never runs.
 */
import { afterEach, expect, it } from 'vitest'
import { createApp, nodeListener } from '../../examples/seeds/apis-io-quotas.js'
import { listen } from '../examples/seed-http.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 3, 30, 18, 0, 0)
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

it('no key, or an unknown one: 401 on the management API and on tool calls, counted by IP', async () => {
  const c = clock(T0)
  const built = createApp({ accounts: { sk_free: { id: 'acct_free', plan: 'free', environment: 'env_a' } }, now: c.now })
  const server = await listen(nodeListener(built.app))
  cleanup.push(built.close, server.close)
  const send = (method: string, path: string, authorization?: string) =>
    server.send(method, path, { headers: authorization === undefined ? {} : { authorization } })
  const answers = [
    await send('GET', '/api/v1/organizations'),
    await send('POST', '/api/v1/execute_tool', 'Bearer sk_nobody'),
    await send('POST', '/api/v1/users/u_1/sessions', 'Bearer sk_nobody'),
  ]
  expect(answers.map((a) => a.status)).toEqual([401, 401, 401])
  for (const a of answers) {
    expect(a.headers['x-ratelimit-limit']).toMatch(/^\d+$/)
    expect(a.json()).toEqual({ error_code: 'UNAUTHENTICATED', message: 'An API key of an account is required.' })
  }
  // The key of an account is served.
  expect((await send('POST', '/api/v1/execute_tool', 'Bearer sk_free')).status).toBe(200)
})
