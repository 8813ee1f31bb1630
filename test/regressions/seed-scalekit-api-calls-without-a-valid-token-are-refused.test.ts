/**
 * Scalekit: "Rate limits are applied per environment" and "Limits are tracked per client_id".
 * A request to the API without an access token of a known client belongs to no client and no
 * environment. The example used to serve it anyway, on a per-IP budget: without credentials,
 * one client read, deleted and executed tools outside every environment's rate, and could move
 * to a fresh budget with each address. Now such a request is counted by IP and answered 401;
 * the upstream tool is never called.
 */
import { afterEach, expect, it } from 'vitest'
import { createApp } from '../../examples/seeds/scalekit.js'
import { listen } from '../examples/seed-http.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 2, 1, 10, 0, 0)
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function start() {
  const c = clock(T0)
  let toolCalls = 0
  const built = createApp({
    clients: { skc_app: { clientId: 'skc_app', secret: 's1', environment: 'env_prod' } },
    now: c.now,
    callTool: async () => {
      toolCalls++
      return { status: 200, headers: new Headers(), json: async () => ({ ok: true }) }
    },
  })
  const server = await listen(built.app.callback())
  cleanup.push(built.close, server.close)
  const send = (method: string, path: string, authorization?: string, body?: string) =>
    server.send(method, path, {
      headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
      body,
    })
  return { send, toolCalls: () => toolCalls }
}

it('no token, or a made-up one: 401 with the rate-limit headers, and no tool call', async () => {
  const { send, toolCalls } = await start()
  const answers = [
    await send('GET', '/api/v1/organizations'),
    await send('GET', '/api/v1/organizations', 'Bearer at_made_up'),
    await send('DELETE', '/api/v1/organizations/org_1', 'Basic c2tjX2FwcDpzMQ=='),
    await send('POST', '/api/v1/execute_tool', 'Bearer at_made_up', '{"tool":"crm.search"}'),
  ]
  expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401])
  for (const a of answers) {
    expect(a.headers['x-ratelimit-remaining']).toMatch(/^\d+$/)
    expect(a.json()).toEqual({ error_code: 'UNAUTHENTICATED', message: 'A valid access token is required: POST /oauth/token.' })
  }
  expect(toolCalls()).toBe(0)
})

it('made-up tokens share their IP’s budget', async () => {
  const { send } = await start()
  const statuses: number[] = []
  for (let i = 0; i < 31; i++) statuses.push((await send('DELETE', '/api/v1/organizations/org_1', `Bearer at_fake_${i}`)).status)
  expect(statuses).toEqual([...Array(30).fill(401), 429])
})
