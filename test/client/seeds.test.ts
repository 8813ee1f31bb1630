// The hand-written server: each header dialect, and each seed's 429 body, as the real APIs send them.
import { createClient, type RateLimitError } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Planned, scriptedServer, virtualTime } from './helpers.js'

const T0 = 1_782_191_988_000 // managed.dev's example: reset 1782192000 is 12 s away
let server: Awaited<ReturnType<typeof scriptedServer>>
beforeAll(async () => {
  server = await scriptedServer()
})
afterAll(() => server.close())

const seeds: Record<string, { response: Planned; expect: Partial<RateLimitError> }> = {
  'managed.dev': {
    response: {
      status: 429,
      headers: { 'Retry-After': '12', 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '1782192012' },
      body: {
        error: {
          type: 'rate_limit',
          code: 'rate_limit.exceeded',
          message: 'rate limit exceeded; retry after 12s',
          doc_url: 'https://docs.managed.dev/reference/error-codes/#rate_limit.exceeded',
        },
        request_id: 'req_01J9F2KQ',
      },
    },
    expect: {
      errorCode: 'rate_limit.exceeded',
      source: 'server',
      serverMessage: 'rate limit exceeded; retry after 12s',
      limit: 100,
      remaining: 0,
      resetAt: 1_782_192_012_000,
      retryAfterMs: 12_000,
    },
  },
  skakio: {
    response: {
      status: 429,
      headers: {
        'Retry-After': '60',
        'X-RateLimit-Limit': '100',
        'X-RateLimit-Remaining': '0',
        'X-RateLimit-Reset': '1782192048',
        'X-RateLimit-Tier': 'public_key',
      },
      body: {
        code: 429,
        status: 'error',
        error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Rate limit exceeded. Retry after 60 seconds.', tier: 'public_key' },
      },
    },
    expect: { errorCode: 'RATE_LIMIT_EXCEEDED', source: 'server', tier: 'public_key', limit: 100, retryAfterMs: 60_000 },
  },
  'Scalekit RATE_LIMITED': {
    response: {
      status: 429,
      headers: { 'Retry-After': '30' },
      body: { error_code: 'RATE_LIMITED', message: 'Rate limit exceeded for environment' },
    },
    expect: { errorCode: 'RATE_LIMITED', source: 'server', retryAfterMs: 30_000 },
  },
  'Scalekit TOOL_ERROR': {
    response: {
      status: 429,
      headers: { 'Retry-After': '45' },
      body: { error_code: 'TOOL_ERROR', message: 'hubspot: 429 Too Many Requests' },
    },
    expect: { errorCode: 'TOOL_ERROR', source: 'upstream', serverMessage: 'hubspot: 429 Too Many Requests' },
  },
  'problem+json (IETF quota-exceeded)': {
    response: {
      status: 429,
      type: 'application/problem+json',
      headers: { 'Retry-After': '5', 'RateLimit-Policy': '"per-minute";q=10;w=60', RateLimit: '"per-minute";r=0;t=5' },
      body: {
        type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
        title: 'Request cannot be satisfied as assigned quota has been exceeded',
        status: 429,
        detail: 'Rate limit exceeded (policy "per-minute"); retry after 5 seconds.',
        'violated-policies': ['per-minute'],
      },
    },
    expect: {
      errorCode: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      source: 'server',
      serverMessage: 'Rate limit exceeded (policy "per-minute"); retry after 5 seconds.',
      limit: 10,
      remaining: 0,
      resetAt: T0 + 5000,
    },
  },
  'problem+json from an upstream': {
    response: {
      status: 429,
      type: 'application/problem+json',
      headers: { 'Retry-After': '20' },
      body: {
        type: 'about:blank',
        title: 'Too Many Requests',
        status: 429,
        detail: 'The upstream provider rate-limited the call.',
        source: 'upstream',
      },
    },
    expect: { errorCode: 'about:blank', source: 'upstream' },
  },
  '503 with an HTTP-date': {
    // Date: the server's clock is the client's (virtual) one.
    response: {
      status: 503,
      headers: { Date: new Date(T0).toUTCString(), 'Retry-After': new Date(T0 + 90_000).toUTCString() },
      body: 'maintenance',
    },
    expect: { status: 503, errorCode: undefined, source: 'server', retryAfterMs: 90_000, body: 'maintenance' },
  },
}

describe("each seed's 429", () => {
  it.each(Object.entries(seeds))('%s: RateLimitError carries status, figures, body code and source', async (name, seed) => {
    const p = `/seed/${encodeURIComponent(name)}`
    server.plan(p, [seed.response])
    const time = virtualTime(T0)
    // The seed's wait is longer than maxWaitMs allows, so the client gives up at once with every field.
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, maxWaitMs: 1000 })
    const error = (await client(p).catch((e: unknown) => e)) as RateLimitError
    expect(error.name).toBe('RateLimitError')
    expect(error).toMatchObject({ code: 'ERR_RK_RATE_LIMITED', status: 429, reason: 'max-wait', attempts: 1, ...seed.expect })
    expect(error.response?.status).toBe(seed.expect.status ?? 429)
    expect(error.message).toContain(error.source === 'upstream' ? 'an upstream provider' : 'the server')
  })

  it('retries a seed 429 for as long as maxWaitMs allows, then succeeds', async () => {
    const p = '/seed-then-ok'
    server.plan(p, [seeds['managed.dev'].response, { status: 200, body: 'done' }])
    const time = virtualTime(T0)
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, random: () => 0 })
    const res = await client(p)
    expect(await res.text()).toBe('done')
    expect(time.slept).toEqual([12_000])
  })

  it('honours custom upstream codes', async () => {
    const p = '/custom-upstream'
    server.plan(p, [{ status: 429, headers: { 'Retry-After': '100' }, body: { error: { code: 'PROVIDER_THROTTLED' } } }])
    const time = virtualTime(T0)
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, upstreamCodes: ['PROVIDER_THROTTLED'] })
    await expect(client(p)).rejects.toMatchObject({ source: 'upstream', errorCode: 'PROVIDER_THROTTLED' })
  })
})

describe('each header dialect, learned from real responses', () => {
  const dialects: Record<string, { headers: Record<string, string>; remaining: number; limit: number; resetAt: number }> = {
    'x-ratelimit': {
      headers: { 'X-RateLimit-Limit': '1000', 'X-RateLimit-Remaining': '994', 'X-RateLimit-Reset': '1782192000' },
      remaining: 994,
      limit: 1000,
      resetAt: 1_782_192_000_000,
    },
    'draft-10': {
      headers: { 'RateLimit-Policy': '"burst";q=100;w=60,"daily";q=1000;w=86400', RateLimit: '"burst";r=50;t=30,"daily";r=999;t=3600' },
      remaining: 50,
      limit: 100,
      resetAt: T0 + 30_000,
    },
    'draft-7': {
      headers: { RateLimit: 'limit=100, remaining=50, reset=5', 'RateLimit-Policy': '100;w=60' },
      remaining: 50,
      limit: 100,
      resetAt: T0 + 5000,
    },
    'draft-6': {
      headers: { 'RateLimit-Limit': '100', 'RateLimit-Remaining': '49', 'RateLimit-Reset': '7', 'RateLimit-Policy': '100;w=60' },
      remaining: 49,
      limit: 100,
      resetAt: T0 + 7000,
    },
  }

  it.each(Object.entries(dialects))('%s', async (dialect, d) => {
    const p = `/dialect/${dialect}`
    server.plan(p, [{ status: 200, headers: d.headers, body: 'ok' }])
    const time = virtualTime(T0)
    const client = createClient({ now: time.now, sleep: time.sleep })
    const seen: string[] = []
    client.on('response', (e) => seen.push(`${e.rateLimit.dialect} ${e.rateLimit.remaining}`))
    await (await client(`${server.url}${p}`)).text()
    expect(seen).toEqual([`${dialect} ${d.remaining}`])
    // The pacing state for the origin: the reported remaining minus nothing in flight.
    expect(client.budget(server.url)).toMatchObject({ remaining: d.remaining, limit: d.limit, resetAt: d.resetAt, inFlight: 0 })
  })
})
