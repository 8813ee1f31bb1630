/**
 * The skakio page (seeds/skakio-rate-limits.txt), line by line, against examples/seeds/skakio.ts
 * over real HTTP, on the memory store and on Redis. Each test quotes the line it checks. One line
 * has nothing for a server to do: "Contact Support - Request custom limits for enterprise use".
 */
import { afterEach, expect, it } from 'vitest'
import { createApp, SKAKIO_TIERS } from '../../examples/seeds/skakio.js'
import { clock } from '../helpers/clock.js'
import { listen, PACING, RETRYING, recordingClient } from './seed-http.js'
import { describeEachStore } from './seed-stores.js'

// Midday UTC on a whole minute: 1770638400 s.
const T0 = Date.UTC(2026, 1, 9, 12, 0, 0)
const S0 = T0 / 1000
/** The keys the API knows, in these tests: every pk_live_/pk_test_/sk_live_ key (made-up keys get 401). */
const isKey = (key: string) => /^(pk|sk)_(live|test)_\w+$/.test(key)
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

describeEachStore('seed: skakio (examples/seeds/skakio.ts)', (kind) => {
  async function start() {
    const c = clock(T0)
    const built = createApp({ now: c.now, store: kind.store(), isKey })
    const server = await listen(built.app)
    cleanup.push(built.close, server.close)
    const auth = (key?: string): Record<string, string> => (key === undefined ? {} : { authorization: `Bearer ${key}` })
    const get = (path: string, key?: string, from?: string) => server.send('GET', path, { headers: auth(key), from })
    const post = (path: string, key?: string, from?: string) => server.send('POST', path, { headers: auth(key), from })
    /** `n` requests in a row; their statuses. */
    const burst = async (n: number, send: () => ReturnType<typeof get>) => {
      const statuses: number[] = []
      for (let i = 0; i < n; i++) statuses.push((await send()).status)
      return statuses
    }
    return { c, get, post, burst, server, limiter: built.limiter }
  }
  const ok = (n: number) => Array(n).fill(200)

  it('"Limits are applied per API key (or per IP for unauthenticated requests)."', async () => {
    const { get, burst } = await start()
    expect(await burst(151, () => get('/api/listing/1', 'pk_live_a'))).toEqual([...ok(150), 429])
    // Another key has its own budget, from the same address.
    expect((await get('/api/listing/1', 'pk_live_b')).headers['x-ratelimit-remaining']).toBe('149')
    // Without a key: per IP. 127.0.0.1's budget is its own (the keys' requests didn't touch it)…
    expect(await burst(151, () => get('/api/listing/1'))).toEqual([...ok(150), 429])
    // …and another address has another.
    const other = await get('/api/listing/1', undefined, '127.0.0.2')
    expect(other.status).toBe(200)
    expect(other.headers['x-ratelimit-remaining']).toBe('149')
  })

  it('"| Public Key (pk_) | 100 | 10,000 | 150 | Client-side apps |": a burst of 150, then 100 per minute', async () => {
    const { c, get, burst } = await start()
    expect(await burst(151, () => get('/api/listing/1', 'pk_live_abc'))).toEqual([...ok(150), 429])
    // After a quiet minute: 100 more, not the whole burst.
    c.advance(60_000)
    expect(await burst(101, () => get('/api/listing/1', 'pk_live_abc'))).toEqual([...ok(100), 429])
  })

  it('"| Public Key (pk_) | 100 | 10,000 | 150 |": 10,000 per day, then 429 until midnight UTC', async () => {
    const { get, limiter } = await start()
    // 9,990 requests already today (spent on the per-day policy, as a day of traffic would).
    const perDay = SKAKIO_TIERS.public_key.policies[1]
    expect(perDay.name).toBe('per-day')
    expect((await limiter.consume('key:pk_test_day', { cost: 9_990, policies: [perDay] })).allowed).toBe(true)
    for (let i = 0; i < 10; i++) expect((await get('/api/listing/1', 'pk_test_day')).status).toBe(200)
    const denied = await get('/api/listing/1', 'pk_test_day')
    expect(denied.status).toBe(429)
    // Midnight UTC is 12 hours away: Retry-After and X-RateLimit-Reset say so.
    expect(denied.headers['retry-after']).toBe(String(12 * 3600))
    expect(denied.headers['x-ratelimit-limit']).toBe('10000')
    expect(denied.headers['x-ratelimit-reset']).toBe(String(Date.UTC(2026, 1, 10) / 1000))
  })

  it('"| Secret Key (sk_) | 1,000 | 100,000 | 1,500 | Server-side apps |"', async () => {
    const { c, get, burst, limiter } = await start()
    expect(await burst(1501, () => get('/api/listing/1', 'sk_live_abc'))).toEqual([...ok(1500), 429])
    c.advance(60_000)
    expect(await burst(1001, () => get('/api/listing/1', 'sk_live_abc'))).toEqual([...ok(1000), 429])
    // 100,000 per day.
    const perDay = SKAKIO_TIERS.secret_key.policies[1]
    await limiter.consume('key:sk_live_day', { cost: 99_999, policies: [perDay] })
    expect((await get('/api/listing/1', 'sk_live_day')).status).toBe(200)
    const denied = await get('/api/listing/1', 'sk_live_day')
    expect(denied.status).toBe(429)
    expect(denied.headers['x-ratelimit-limit']).toBe('100000')
  })

  it('"Authentication endpoints have stricter limits to prevent brute-force attacks": on top of the tier limits, never instead', async () => {
    const { get, post, burst } = await start()
    // 20 token requests spend 20 of the key's burst of 150 too.
    expect(await burst(20, () => post('/auth/token', 'pk_live_auth'))).toEqual(ok(20))
    expect((await get('/api/listing/1', 'pk_live_auth')).headers['x-ratelimit-remaining']).toBe('129')
    // A key whose tier budget is spent gets no auth requests either.
    expect(await burst(129, () => get('/api/listing/1', 'pk_live_auth'))).toEqual(ok(129))
    for (const path of ['/auth/validate', '/auth/refresh']) {
      const denied = await post(path, 'pk_live_auth')
      expect(denied.status).toBe(429)
      expect(denied.headers['x-ratelimit-limit']).toBe('100')
    }
  })

  it.each([
    ['POST /auth/token | 10 req/s | 20 |', '/auth/token'],
    ['POST /auth/validate | 10 req/s | 20 |', '/auth/validate'],
    ['POST /auth/refresh | 10 req/s | 20 |', '/auth/refresh'],
  ])('"%s": a bucket of its own, per key or per IP', async (_line, path) => {
    const { c, post, burst } = await start()
    for (const key of ['sk_live_auth', undefined]) {
      const first = await post(path, key)
      expect(first.status).toBe(200)
      expect(first.headers['x-ratelimit-limit']).toBe('10')
      expect(first.headers['x-ratelimit-remaining']).toBe('19')
      expect(await burst(20, () => post(path, key))).toEqual([...ok(19), 429])
      // The other auth endpoints have their own buckets.
      for (const other of ['/auth/token', '/auth/validate', '/auth/refresh'].filter((p) => p !== path)) {
        expect((await post(other, key)).status).toBe(200)
      }
    }
    // 10 per second: one every 100 ms.
    c.advance(99)
    expect((await post(path, 'sk_live_auth')).status).toBe(429)
    c.advance(1)
    expect((await post(path, 'sk_live_auth')).status).toBe(200)
    c.advance(1_000)
    expect(await burst(11, () => post(path, 'sk_live_auth'))).toEqual([...ok(10), 429])
  })

  it('"Every response includes rate limit information:" 200, 400, 404 and 429 alike, with or without a key', async () => {
    const { get, burst } = await start()
    const answers = [
      await get('/api/listing/1', 'pk_live_every'),
      await get('/api/listing/999', 'pk_live_every'),
      await get('/api/store-listings?limit=500', 'pk_live_every'),
      await get('/no/such/route', 'pk_live_every'),
      await get('/api/listing/1'),
    ]
    expect(answers.map((a) => a.status)).toEqual([200, 404, 400, 404, 200])
    await burst(146, () => get('/api/listing/1', 'pk_live_every'))
    answers.push(await get('/api/listing/1', 'pk_live_every'))
    expect(answers[5].status).toBe(429)
    for (const a of answers) {
      expect(Object.keys(a.headers).filter((h) => h.startsWith('x-ratelimit-'))).toEqual(
        expect.arrayContaining(['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'x-ratelimit-tier']),
      )
    }
  })

  it('"X-RateLimit-Limit: 100 / X-RateLimit-Remaining: 95 / X-RateLimit-Reset: … / X-RateLimit-Tier: public_key"', async () => {
    const { get } = await start()
    let res = await get('/api/listing/1', 'pk_live_page')
    for (let i = 1; i < 5; i++) res = await get('/api/listing/1', 'pk_live_page')
    // The page's example is a key without burst headroom; with skakio's burst of 150, five
    // requests leave 145. Reset: full again after 5 x 600 ms, rounded up to whole seconds.
    expect(res.headers['x-ratelimit-limit']).toBe('100')
    expect(res.headers['x-ratelimit-remaining']).toBe('145')
    expect(res.headers['x-ratelimit-reset']).toBe(String(S0 + 3))
    expect(res.headers['x-ratelimit-tier']).toBe('public_key')
    // Only the conventional set, as on the page.
    expect(res.headers.ratelimit).toBeUndefined()
    expect(res.headers['ratelimit-policy']).toBeUndefined()
    expect(res.headers['retry-after']).toBeUndefined()
  })

  it('"X-RateLimit-Limit | Maximum requests allowed in the current window |"', async () => {
    const { get, post, limiter } = await start()
    expect((await get('/api/listing/1', 'pk_live_lim')).headers['x-ratelimit-limit']).toBe('100')
    expect((await get('/api/listing/1', 'sk_live_lim')).headers['x-ratelimit-limit']).toBe('1000')
    expect((await post('/auth/token', 'sk_live_lim')).headers['x-ratelimit-limit']).toBe('10')
    // When the day's quota is the tighter one, it is the limit shown.
    await limiter.consume('key:pk_live_lim2', { cost: 9_900, policies: [SKAKIO_TIERS.public_key.policies[1]] })
    expect((await get('/api/listing/1', 'pk_live_lim2')).headers).toMatchObject({
      'x-ratelimit-limit': '10000',
      'x-ratelimit-remaining': '99',
    })
  })

  it('"X-RateLimit-Remaining | Requests remaining in the current window |": exactly that many more succeed', async () => {
    const { get, post, burst } = await start()
    await burst(37, () => get('/api/listing/1', 'pk_live_rem'))
    const remaining = Number((await get('/api/listing/1', 'pk_live_rem')).headers['x-ratelimit-remaining'])
    expect(remaining).toBe(112)
    expect(await burst(remaining + 1, () => get('/api/listing/1', 'pk_live_rem'))).toEqual([...ok(remaining), 429])
    const auth = Number((await post('/auth/refresh', 'sk_live_rem')).headers['x-ratelimit-remaining'])
    expect(await burst(auth + 1, () => post('/auth/refresh', 'sk_live_rem'))).toEqual([...ok(auth), 429])
  })

  it('"X-RateLimit-Reset | Unix timestamp when the limit resets |": the whole burst is back then', async () => {
    const { c, get, burst } = await start()
    await burst(149, () => get('/api/listing/1', 'pk_live_reset'))
    const last = await get('/api/listing/1', 'pk_live_reset')
    expect(last.headers['x-ratelimit-remaining']).toBe('0')
    const reset = Number(last.headers['x-ratelimit-reset'])
    expect(reset).toBe(S0 + 90) // 150 tokens at 100 per minute
    c.set(reset * 1000)
    expect((await get('/api/listing/1', 'pk_live_reset')).headers['x-ratelimit-remaining']).toBe('149')
  })

  it('"X-RateLimit-Tier | Current tier (public_key or secret_key) |"', async () => {
    const { get } = await start()
    expect((await get('/api/listing/1', 'pk_live_t')).headers['x-ratelimit-tier']).toBe('public_key')
    expect((await get('/api/listing/1', 'sk_live_t')).headers['x-ratelimit-tier']).toBe('secret_key')
    // Unauthenticated requests get the public-key limits.
    const anonymous = await get('/api/listing/1')
    expect(anonymous.headers).toMatchObject({ 'x-ratelimit-tier': 'public_key', 'x-ratelimit-limit': '100' })
  })

  it('"When rate limited, you’ll receive a 429 response:" skakio’s envelope with the tier', async () => {
    const { get, post, burst, limiter } = await start()
    await burst(150, () => get('/api/listing/1', 'pk_live_body'))
    const denied = await get('/api/listing/1', 'pk_live_body')
    expect(denied.status).toBe(429)
    expect(denied.headers['content-type']).toMatch(/^application\/json/)
    expect(denied.json()).toEqual({
      code: 429,
      status: 'error',
      error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Rate limit exceeded. Retry after 1 second.', tier: 'public_key' },
    })
    // '"message": "Rate limit exceeded. Retry after 60 seconds."': the seconds are the Retry-After.
    await limiter.consume('key:sk_live_body', { cost: 1_500, policies: [SKAKIO_TIERS.secret_key.policies[0]] })
    await burst(20, () => post('/auth/token', 'sk_live_body'))
    const secret = await get('/api/listing/1', 'sk_live_body')
    expect(secret.headers['retry-after']).toBe('1')
    expect(secret.json<{ error: { tier: string } }>().error.tier).toBe('secret_key')
  })

  it('"Retry-After | Seconds to wait before retrying |": a retry after that long succeeds', async () => {
    const { c, get, post, burst } = await start()
    await burst(150, () => get('/api/listing/1', 'pk_live_ra'))
    const denied = await get('/api/listing/1', 'pk_live_ra')
    expect(denied.headers['retry-after']).toBe('1') // the next token is 600 ms away, rounded up
    c.advance(Number(denied.headers['retry-after']) * 1000)
    expect((await get('/api/listing/1', 'pk_live_ra')).status).toBe(200)
    // Only on 429s.
    expect((await post('/auth/token', 'pk_live_ra2')).headers['retry-after']).toBeUndefined()
  })

  it('"Track remaining requests and slow down before hitting limits:" the page’s RateLimitedClient never meets a 429', async () => {
    const { c, get } = await start()
    // The page's client, with the test's clock for Date.now() and sleep().
    let remaining = Number.POSITIVE_INFINITY
    let resetAt = 0
    const statuses: number[] = []
    for (let i = 0; i < 400; i++) {
      if (remaining <= 0) c.advance(Math.max(0, resetAt - c.now()))
      const res = await get('/api/listing/1', 'pk_live_client')
      remaining = Number.parseInt(res.headers['x-ratelimit-remaining'] || '100', 10)
      resetAt = Number.parseInt(res.headers['x-ratelimit-reset'] || '0', 10) * 1000
      statuses.push(res.status)
    }
    expect(statuses).toEqual(ok(400))
  })

  it('"Track remaining requests and slow down before hitting limits:" ratekeeper/client paces on the headers', async () => {
    const { c, server } = await start()
    // PACING waits up to 120 s: X-RateLimit-Reset says when the whole burst is back (90 s for a spent pk_ key).
    const { api, seen } = recordingClient(server, c, PACING)
    for (let i = 0; i < 300; i++) {
      const res = await api('/api/listing/1', { headers: { authorization: 'Bearer pk_live_paced' } })
      await res.arrayBuffer()
    }
    expect(seen).toEqual(ok(300))
  })

  it('"Use exponential backoff for 429 responses:" the page’s fetchWithBackoff gets through by honouring Retry-After', async () => {
    const { c, get, burst } = await start()
    await burst(150, () => get('/api/listing/1', 'pk_live_backoff'))
    let delay = 1000
    const attempts: number[] = []
    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await get('/api/listing/1', 'pk_live_backoff')
      attempts.push(res.status)
      if (res.status !== 429) break
      const retryAfter = res.headers['retry-after']
      c.advance(retryAfter ? Number.parseInt(retryAfter, 10) * 1000 : delay)
      delay *= 2
    }
    expect(attempts).toEqual([429, 200])
  })

  it('"Use exponential backoff for 429 responses:" ratekeeper/client retries after Retry-After', async () => {
    const { c, get, burst, server } = await start()
    await burst(150, () => get('/api/listing/1', 'pk_live_retry'))
    const { api, seen } = recordingClient(server, c, RETRYING)
    const res = await api('/api/listing/1', { headers: { authorization: 'Bearer pk_live_retry' } })
    expect(res.status).toBe(200)
    expect(seen).toEqual([429, 200])
    expect(c.now() - T0).toBeGreaterThanOrEqual(1000)
  })

  it('"// Usage: 2 requests per second": a batch of 300 listings through the queue, never limited', async () => {
    const { c, get, server } = await start()
    // The page's RequestQueue(2): one request, then 500 ms.
    const statuses: number[] = []
    for (let id = 1; id <= 300; id++) {
      statuses.push((await get(`/api/listing/${(id % 120) + 1}`, 'pk_live_queue')).status)
      c.advance(500)
    }
    expect(statuses).toEqual(ok(300))
    // The same with ratekeeper/client's queue.
    const { api } = recordingClient(server, c, { queue: { rate: { limit: 2, window: '1s', burst: 1 } } })
    const before = c.now()
    for (let id = 1; id <= 20; id++)
      expect((await api(`/api/listing/${id}`, { headers: { authorization: 'Bearer pk_live_q2' } })).status).toBe(200)
    expect(c.now() - before).toBeGreaterThanOrEqual(19 * 500)
  })

  it('"Reduce API calls by caching responses:" a cached read spends nothing', async () => {
    const { c, get } = await start()
    const cache = new Map<string, { data: unknown; expiresAt: number }>()
    let last = ''
    const cachedFetch = async (path: string) => {
      const cached = cache.get(path)
      if (cached && c.now() < cached.expiresAt) return cached.data
      const res = await get(path, 'pk_live_cache')
      last = res.headers['x-ratelimit-remaining']
      cache.set(path, { data: res.json(), expiresAt: c.now() + 60_000 })
      return res.json()
    }
    for (let i = 0; i < 5; i++) await cachedFetch('/api/listing/7')
    expect(last).toBe('149')
    expect((await get('/api/listing/8', 'pk_live_cache')).headers['x-ratelimit-remaining']).toBe('148')
  })

  it('"Use expand parameters to reduce requests:" one request instead of two', async () => {
    const { get } = await start()
    const expanded = await get('/api/listing/123?expand=publication', 'pk_live_expand')
    // 120 listings: 123 is not one of them.
    expect(expanded.status).toBe(404)
    const listing = await get('/api/listing/12?expand=publication', 'pk_live_expand')
    expect(listing.json<{ data: { publications: unknown[] } }>().data.publications).toHaveLength(1)
    const separate = await get('/api/listing/12/publications', 'pk_live_expand')
    expect(separate.json()).toEqual({ data: listing.json<{ data: { publications: unknown[] } }>().data.publications })
    expect(separate.headers['x-ratelimit-remaining']).toBe('147')
  })

  it('"Request only what you need:" paginating lazily reads each page once', async () => {
    const { get } = await start()
    const names: string[] = []
    let page = 1
    let hasMore = true
    let requests = 0
    while (hasMore) {
      const res = await get(`/api/store-listings?page=${page}&limit=20`, 'pk_live_pages')
      requests++
      const body = res.json<{ data: Array<{ name: string }>; meta: { pagination: { total_pages: number } } }>()
      names.push(...body.data.map((l) => l.name))
      hasMore = page < body.meta.pagination.total_pages
      page++
    }
    expect(requests).toBe(6)
    expect(names).toHaveLength(120)
    expect(new Set(names).size).toBe(120)
  })

  it('"Upgrade to Secret Key - 10x the rate limit of public keys"', async () => {
    const { get } = await start()
    const pk = SKAKIO_TIERS.public_key.policies.map((p) => p.limit)
    const sk = SKAKIO_TIERS.secret_key.policies.map((p) => p.limit)
    expect(sk).toEqual(pk.map((n) => n * 10))
    const a = await get('/api/listing/1', 'pk_live_up')
    const b = await get('/api/listing/1', 'sk_live_up')
    expect(Number(b.headers['x-ratelimit-limit'])).toBe(10 * Number(a.headers['x-ratelimit-limit']))
    expect(Number(b.headers['x-ratelimit-remaining']) + 1).toBe(10 * (Number(a.headers['x-ratelimit-remaining']) + 1))
  })

  it('"| Max items per request | 50 |" and "| Default items per request | 20 |"', async () => {
    const { get } = await start()
    const page = await get('/api/store-listings', 'pk_live_abc')
    const body = page.json<{ data: unknown[]; meta: { pagination: { total_pages: number } } }>()
    expect(body.data).toHaveLength(20)
    expect(body.meta.pagination.total_pages).toBe(6)
    expect((await get('/api/store-listings?limit=50', 'pk_live_abc')).json<{ data: unknown[] }>().data).toHaveLength(50)
    expect((await get('/api/store-listings?limit=51', 'pk_live_abc')).status).toBe(400)
  })
})
