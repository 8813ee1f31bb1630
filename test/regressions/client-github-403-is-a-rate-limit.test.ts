// GitHub answers an exhausted primary rate limit with 403 (not 429), `x-ratelimit-remaining: 0`
// and `x-ratelimit-reset` in epoch seconds: that 403 is a rate-limit response.
import { createClient, RateLimitError } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scriptedServer, virtualTime } from '../client/helpers.js'

const T0 = 1_700_000_000_000
const time = virtualTime(T0)
let server: Awaited<ReturnType<typeof scriptedServer>>
beforeAll(async () => {
  server = await scriptedServer(time.now)
})
afterAll(() => server.close())

/** A 403 as GitHub sends it when the hour's quota is spent. */
const primaryLimit = (resetAt: number) => ({
  status: 403,
  headers: {
    'x-ratelimit-limit': '60',
    'x-ratelimit-remaining': '0',
    'x-ratelimit-used': '60',
    'x-ratelimit-reset': String(Math.ceil(resetAt / 1000)),
    'x-ratelimit-resource': 'core',
  },
  body: { message: 'API rate limit exceeded for 203.0.113.7.', documentation_url: 'https://docs.github.com/rest/rate-limit' },
})

describe('GitHub-style 403 primary rate limit', () => {
  it('is retried after the reset', async () => {
    server.plan('/repos/a', [primaryLimit(T0 + 20_000), { status: 200, body: 'ok' }])
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, random: () => 0 })
    const res = await client('/repos/a')
    expect(res.status).toBe(200)
    expect(server.hits('/repos/a').map((h) => h.at - T0)).toEqual([0, 20_000])
  })

  it('holds back the other calls of the budget until the reset', async () => {
    const start = time.now()
    server.plan('/repos/b', [primaryLimit(start + 30_000), { status: 200, body: 'ok' }])
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, retry: false })
    const error = (await client('/repos/b').catch((e: unknown) => e)) as RateLimitError
    expect(error).toBeInstanceOf(RateLimitError)
    expect(error).toMatchObject({ status: 403, reason: 'not-retryable', remaining: 0, limit: 60, source: 'server' })
    expect(error.serverMessage).toMatch(/API rate limit exceeded/)
    expect(client.budget(server.url)?.blockedUntil).toBe(start + 30_000)
  })

  it('leaves any other 403 alone', async () => {
    server.plan('/private', [
      {
        status: 403,
        headers: { 'x-ratelimit-remaining': '4999', 'x-ratelimit-limit': '5000' },
        body: { message: 'Must have admin rights' },
      },
    ])
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep })
    expect((await client('/private')).status).toBe(403)
    server.plan('/bare', [{ status: 403, body: 'Forbidden' }])
    expect((await client('/bare')).status).toBe(403)
    expect(server.hits('/private')).toHaveLength(1)
    expect(server.hits('/bare')).toHaveLength(1)
  })
})
