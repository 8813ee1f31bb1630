import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../../examples/fastify.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 0, 1)
let app: FastifyInstance | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

const auth = (key: string) => ({ authorization: `Bearer ${key}` })

describe('examples/fastify.ts', () => {
  it('limits every route per bearer token and answers 429 with the skakio envelope', async () => {
    app = await createApp({ now: clock(T0).now })
    const first = await app.inject({ url: '/v1/items', headers: auth('pk_test_1') })
    expect(first.statusCode).toBe(200)
    expect(first.headers['x-ratelimit-remaining']).toBe('149')
    expect(first.headers['ratelimit-policy']).toBe('"per-minute";q=100;w=60, "per-day";q=10000;w=86400')
    for (let i = 0; i < 149; i++) await app.inject({ url: '/v1/items', headers: auth('pk_test_1') })
    const denied = await app.inject({ url: '/v1/items', headers: auth('pk_test_1') })
    expect(denied.statusCode).toBe(429)
    expect(denied.headers['retry-after']).toBe('1')
    expect(JSON.parse(denied.body)).toMatchObject({ code: 429, status: 'error', error: { code: 'RATE_LIMIT_EXCEEDED' } })
    // Another token, another bucket; the health check is never limited.
    expect((await app.inject({ url: '/v1/items', headers: auth('pk_test_2') })).statusCode).toBe(200)
    const health = await app.inject({ url: '/health', headers: auth('pk_test_1') })
    expect(health.statusCode).toBe(200)
    expect(health.headers['x-ratelimit-limit']).toBeUndefined()
  })

  it('gives a route a bucket of its own, shared by every path of its template', async () => {
    app = await createApp({ now: clock(T0).now })
    const post = (format: string) => app?.inject({ method: 'POST', url: `/v1/exports/${format}`, headers: auth('sk_test_1') })
    expect((await post('csv'))?.statusCode).toBe(200)
    expect((await post('json'))?.statusCode).toBe(200)
    const denied = await post('xml')
    expect(denied?.statusCode).toBe(429)
    expect(JSON.parse(denied?.body ?? '{}').error.message).toMatch(/retry after 30 seconds/i)
    // The app-wide bucket is untouched by the route's own limit.
    expect((await app.inject({ url: '/v1/items', headers: auth('sk_test_1') })).headers['x-ratelimit-remaining']).toBe('149')
  })
})
