// A server whose clock runs a day ahead answers 429 with `Retry-After: <its now + 5 s>` as an
// HTTP-date. Read against the client's clock, that was a wait of a day and 5 s: the call gave up
// (max-wait) and the origin stayed blocked for maxBlockMs (an hour); a server a day behind got
// its retry at once. Every HTTP server with a clock sends `Date` (RFC 9110 §6.6.1): an HTTP-date
// Retry-After is now measured from the response's `Date` when it has one, on both sides (the client
// and upstreamRateLimit()).
import { createClient, parseRateLimitHeaders } from 'ratekeeper/client'
import { upstreamRateLimit } from 'ratekeeper/provider'
import { describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'

const T0 = Date.UTC(2026, 0, 1)
const DAY = 86_400_000
const httpDate = (ms: number) => new Date(ms).toUTCString()

describe.each([
  ['a day ahead', DAY],
  ['a day behind', -DAY],
])('a server clock %s', (_label, skew) => {
  const serverNow = T0 + skew
  const headers = { Date: httpDate(serverNow), 'Retry-After': httpDate(serverNow + 5_000) }

  it('parseRateLimitHeaders reads the wait from the response Date', () => {
    expect(parseRateLimitHeaders(headers, { now: T0 }).retryAfterMs).toBe(5_000)
  })

  it('the client retries about 5 s later', async () => {
    const time = virtualTime(T0)
    const sentAt: number[] = []
    const client = createClient({
      baseUrl: 'http://api.test',
      now: time.now,
      sleep: time.sleep,
      random: () => 0,
      fetch: async () => {
        sentAt.push(time.now() - T0)
        return sentAt.length === 1 ? new Response('no', { status: 429, headers }) : new Response('ok')
      },
    })
    expect((await client('/')).status).toBe(200)
    expect(sentAt).toEqual([0, 5_000])
  })

  it('upstreamRateLimit() passes on 5 s', () => {
    expect(upstreamRateLimit({ status: 429, headers }, { now: () => T0 })).toMatchObject({ retryAfterMs: 5_000, retryFrom: 'retry-after' })
  })
})

describe('without a usable Date', () => {
  it('an HTTP-date is read against the local clock, as before', () => {
    const headers = { 'Retry-After': httpDate(T0 + 7_000) }
    expect(parseRateLimitHeaders(headers, { now: T0 }).retryAfterMs).toBe(7_000)
    expect(parseRateLimitHeaders({ ...headers, Date: 'yesterday' }, { now: T0 }).retryAfterMs).toBe(7_000)
  })

  it('delay-seconds never depend on Date', () => {
    expect(parseRateLimitHeaders({ Date: httpDate(T0 + DAY), 'Retry-After': '7' }, { now: T0 }).retryAfterMs).toBe(7_000)
  })
})
