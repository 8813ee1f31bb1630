import { afterEach, describe, expect, it } from 'vitest'
import { createApp, SKAKIO_TIERS } from '../../examples/seeds/skakio.js'
import { clock } from '../helpers/clock.js'
import { serve } from './serve.js'

// Midday UTC on a whole minute.
const T0 = Date.UTC(2026, 1, 9, 12, 0, 0)
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn()
})

async function start() {
  const c = clock(T0)
  const built = createApp({ now: c.now })
  const server = await serve(built.app)
  cleanup.push(server.close, built.close)
  const get = (path: string, key?: string) => server.send('GET', path, key === undefined ? {} : { authorization: `Bearer ${key}` })
  const post = (path: string, key?: string) => server.send('POST', path, key === undefined ? {} : { authorization: `Bearer ${key}` })
  return { c, get, post, built }
}

describe('seed: skakio (examples/seeds/skakio.ts)', () => {
  it('public key: 150 at once (burst), then 100 per minute; headers as the page shows them', async () => {
    const { c, get } = await start()
    const first = await get('/api/listing/1', 'pk_live_abc')
    expect(first.status).toBe(200)
    expect(first.headers['x-ratelimit-limit']).toBe('100')
    expect(first.headers['x-ratelimit-remaining']).toBe('149')
    expect(first.headers['x-ratelimit-reset']).toBe(String(T0 / 1000 + 1))
    expect(first.headers['x-ratelimit-tier']).toBe('public_key')
    // Only the conventional set, as on the page.
    expect(first.headers.ratelimit).toBeUndefined()
    expect(first.headers['retry-after']).toBeUndefined()
    for (let i = 0; i < 149; i++) expect((await get('/api/listing/1', 'pk_live_abc')).status).toBe(200)
    const denied = await get('/api/listing/1', 'pk_live_abc')
    expect(denied.status).toBe(429)
    expect(denied.headers['retry-after']).toBe('1')
    expect(denied.headers['x-ratelimit-remaining']).toBe('0')
    expect(denied.json()).toEqual({
      code: 429,
      status: 'error',
      error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Rate limit exceeded. Retry after 1 second.', tier: 'public_key' },
    })
    // After a quiet minute: 100 more, not the whole burst.
    c.advance(60_000)
    let admitted = 0
    for (let i = 0; i < 110; i++) if ((await get('/api/listing/1', 'pk_live_abc')).status === 200) admitted++
    expect(admitted).toBe(100)
  })

  it('secret key: 10x the public key (1,000 per minute, burst 1,500), tier secret_key', async () => {
    const { get } = await start()
    const res = await get('/api/listing/1', 'sk_live_abc')
    expect(res.headers).toMatchObject({ 'x-ratelimit-limit': '1000', 'x-ratelimit-remaining': '1499', 'x-ratelimit-tier': 'secret_key' })
  })

  it('per day: 10,000 for a public key, then 429 until midnight UTC', async () => {
    const { get, built } = await start()
    // 9,990 requests already today (spent on the per-day policy, as a day of traffic would).
    const perDay = SKAKIO_TIERS.public_key.policies[1]
    expect(perDay.name).toBe('per-day')
    expect((await built.limiter.consume('key:pk_test_day', { cost: 9_990, policies: [perDay] })).allowed).toBe(true)
    for (let i = 0; i < 10; i++) expect((await get('/api/listing/1', 'pk_test_day')).status).toBe(200)
    const denied = await get('/api/listing/1', 'pk_test_day')
    expect(denied.status).toBe(429)
    // Midnight UTC is 12 hours away: Retry-After and X-RateLimit-Reset say so.
    expect(denied.headers['retry-after']).toBe(String(12 * 3600))
    expect(denied.headers['x-ratelimit-limit']).toBe('10000')
    expect(denied.headers['x-ratelimit-reset']).toBe(String(Date.UTC(2026, 1, 10) / 1000))
    expect(denied.json<{ error: { message: string } }>().error.message).toBe('Rate limit exceeded. Retry after 43200 seconds.')
  })

  it('auth endpoints: 10 req/s with bursts of 20, per key or per IP', async () => {
    const { c, post, get } = await start()
    for (let i = 0; i < 20; i++) expect((await post(i % 2 ? '/auth/validate' : '/auth/token')).status).toBe(200)
    const denied = await post('/auth/refresh')
    expect(denied.status).toBe(429)
    expect(denied.headers['x-ratelimit-limit']).toBe('10')
    c.advance(100) // one token every 100 ms
    expect((await post('/auth/token')).status).toBe(200)
    // The auth bucket is separate: the IP's general budget is untouched.
    expect((await get('/api/listing/1')).headers['x-ratelimit-remaining']).toBe('149')
  })

  it('pagination limits: at most 50 items per request, 20 by default', async () => {
    const { get } = await start()
    const page = await get('/api/store-listings', 'pk_live_abc')
    const body = page.json<{ data: unknown[]; meta: { pagination: { total_pages: number } } }>()
    expect(body.data).toHaveLength(20)
    expect(body.meta.pagination.total_pages).toBe(6)
    expect((await get('/api/store-listings?limit=50', 'pk_live_abc')).json<{ data: unknown[] }>().data).toHaveLength(50)
    expect((await get('/api/store-listings?limit=51', 'pk_live_abc')).status).toBe(400)
  })
})
