import { afterEach, describe, expect, it } from 'vitest'
import { createApp, ENVIRONMENT_LIMITS } from '../../examples/seeds/scalekit.js'
import { clock } from '../helpers/clock.js'
import { serve } from './serve.js'

const T0 = Date.UTC(2026, 2, 1, 10, 0, 0)
const CLIENTS = {
  skc_app: { clientId: 'skc_app', secret: 's1', environment: 'env_prod' },
  skc_worker: { clientId: 'skc_worker', secret: 's2', environment: 'env_prod' },
  skc_big: { clientId: 'skc_big', secret: 's3', environment: 'env_big' },
}
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn()
})

async function start(upstream: { status: number; headers: Record<string, string> } = { status: 200, headers: {} }) {
  const c = clock(T0)
  const built = createApp({
    clients: CLIENTS,
    raised: ['env_big'],
    now: c.now,
    callTool: async () => ({ status: upstream.status, headers: new Headers(upstream.headers), json: async () => ({ contacts: 3 }) }),
  })
  const server = await serve(built.app.callback())
  cleanup.push(server.close, built.close)
  const token = async (clientId: keyof typeof CLIENTS) => {
    const res = await server.send(
      'POST',
      '/oauth/token',
      { 'content-type': 'application/x-www-form-urlencoded' },
      `client_id=${clientId}&client_secret=${CLIENTS[clientId].secret}`,
    )
    expect(res.status).toBe(200)
    return res.json<{ access_token: string }>().access_token
  }
  const call = (method: string, path: string, accessToken: string, body?: string) =>
    server.send(method, path, { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, body)
  return { c, server, token, call, limiter: built.limiter }
}

describe('seed: Scalekit (examples/seeds/scalekit.ts)', () => {
  it('limits per client_id and endpoint category; X-RateLimit-* headers with a Unix reset', async () => {
    const { token, call } = await start()
    const t = await token('skc_app')
    const read = await call('GET', '/api/v1/organizations', t)
    expect(read.status).toBe(200)
    expect(read.headers).toMatchObject({
      'x-ratelimit-limit': '600',
      'x-ratelimit-remaining': '599',
      'x-ratelimit-reset': String(T0 / 1000 + 1),
    })
    expect(read.headers.ratelimit).toBeUndefined()
    expect((await call('POST', '/api/v1/organizations', t)).headers['x-ratelimit-limit']).toBe('120')
    expect((await call('DELETE', '/api/v1/organizations/org_1', t)).headers['x-ratelimit-limit']).toBe('30')
  })

  it('its own limit: 429 with error_code RATE_LIMITED, Retry-After and the request id', async () => {
    const { token, call } = await start()
    const t = await token('skc_app')
    for (let i = 0; i < 30; i++) expect((await call('DELETE', '/api/v1/organizations/org_1', t)).status).toBe(204)
    const denied = await call('DELETE', '/api/v1/organizations/org_1', t)
    expect(denied.status).toBe(429)
    expect(denied.headers['retry-after']).toBe('2') // 30 per minute: one every 2 s
    expect(denied.json()).toEqual({
      error_code: 'RATE_LIMITED',
      message: 'Rate limit exceeded. Retry after 2 seconds.',
      request_id: denied.headers['x-request-id'],
    })
    // Another client_id has its own buckets.
    expect((await call('DELETE', '/api/v1/organizations/org_1', await token('skc_worker'))).status).toBe(204)
  })

  it("an upstream provider's limit: 429 with error_code TOOL_ERROR and the provider's Retry-After", async () => {
    const { token, call } = await start({ status: 429, headers: { 'retry-after': '30', 'x-ratelimit-remaining': '0' } })
    const res = await call('POST', '/api/v1/execute_tool', await token('skc_app'), JSON.stringify({ tool: 'crm_list_contacts', input: {} }))
    expect(res.status).toBe(429)
    expect(res.headers['retry-after']).toBe('30')
    expect(res.json()).toMatchObject({ error_code: 'TOOL_ERROR', tool: 'crm_list_contacts', request_id: res.headers['x-request-id'] })
  })

  it('a successful tool call passes the upstream data through', async () => {
    const { token, call } = await start()
    const res = await call('POST', '/api/v1/execute_tool', await token('skc_app'), JSON.stringify({ tool: 'crm_list_contacts' }))
    expect(res.status).toBe(200)
    expect(res.json()).toEqual({ data: { contacts: 3 } })
  })

  it('the per-environment rate is shared by every client of the environment; support can raise it', async () => {
    const { token, call, limiter } = await start()
    const app = await token('skc_app')
    const worker = await token('skc_worker')
    // The environment has spent 1,995 of its minute.
    await limiter.consume('environment:env_prod', { cost: 1995, policies: ENVIRONMENT_LIMITS.standard.ceiling })
    for (let i = 0; i < 3; i++) expect((await call('GET', '/api/v1/organizations', app)).status).toBe(200)
    for (let i = 0; i < 2; i++) expect((await call('GET', '/api/v1/organizations', worker)).status).toBe(200)
    const denied = await call('GET', '/api/v1/organizations', worker)
    expect(denied.status).toBe(429)
    expect(denied.headers['x-ratelimit-limit']).toBe('2000')
    // A raised environment: 10,000 per minute.
    const big = await call('GET', '/api/v1/organizations', await token('skc_big'))
    expect(big.status).toBe(200)
    const state = await limiter.peek('environment:env_big', { cost: 0, policies: ENVIRONMENT_LIMITS.raised.ceiling })
    expect(state.limit).toBe(10_000)
    expect(state.remaining).toBe(9_999)
  })

  it('the token endpoint has its own (auth) limit, per IP before a client is known', async () => {
    const { token, server } = await start()
    for (let i = 0; i < 20; i++) await token('skc_app')
    const denied = await server.send(
      'POST',
      '/oauth/token',
      { 'content-type': 'application/x-www-form-urlencoded' },
      'client_id=skc_app&client_secret=s1',
    )
    expect(denied.status).toBe(429)
    expect(denied.json<{ error_code: string }>().error_code).toBe('RATE_LIMITED')
  })
})
