// Two `Retry-After` headers arrive joined (`5, 5`): the client honours the largest, not none. A
// draft-10 policy name sent twice keeps the member with the fewest remaining, not the last.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createClient, parseRateLimitHeaders, parseRetryAfter } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'

const NOW = Date.UTC(2026, 0, 1)

describe('Retry-After sent twice', () => {
  it('reads the largest of the values', () => {
    expect(parseRetryAfter('5, 5', NOW)).toBe(5000)
    expect(parseRetryAfter('2, 7', NOW)).toBe(7000)
    expect(parseRetryAfter('7,2', NOW)).toBe(7000)
    expect(parseRetryAfter('3, Thu, 01 Jan 2026 00:00:10 GMT', NOW)).toBe(10_000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT, Thu, 01 Jan 2026 00:00:20 GMT', NOW)).toBe(20_000)
    expect(parseRetryAfter('soon, 4', NOW)).toBe(4000)
    expect(parseRetryAfter('soon, later', NOW)).toBeUndefined()
    expect(parseRateLimitHeaders({ 'Retry-After': ['5', '5'] }, { now: NOW }).retryAfterMs).toBe(5000)
  })

  describe('from a server that sends two Retry-After lines', () => {
    const time = virtualTime(NOW)
    const hits: number[] = []
    let url = ''
    const server = createServer((_req, res) => {
      hits.push(time.now())
      if (hits.length === 1) {
        res.writeHead(429, [
          ['Retry-After', '5'],
          ['Retry-After', '5'],
        ] as never)
        res.end()
      } else {
        res.writeHead(200)
        res.end('ok')
      }
    })
    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterAll(async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })

    it('retries after 5 s, not after the backoff alone', async () => {
      const client = createClient({ baseUrl: url, now: time.now, sleep: time.sleep, random: () => 0.45 })
      expect((await client('/')).status).toBe(200)
      expect(hits.map((t) => t - NOW)).toEqual([0, 5000])
    })
  })
})

describe('a draft-10 policy name sent twice', () => {
  it('keeps the member with the fewest remaining', () => {
    expect(parseRateLimitHeaders({ RateLimit: '"a";r=0, "a";r=50' }, { now: NOW }).remaining).toBe(0)
    expect(parseRateLimitHeaders({ RateLimit: '"a";r=50;t=1, "a";r=0;t=9' }, { now: NOW })).toMatchObject({
      remaining: 0,
      resetAt: NOW + 9000,
    })
    const info = parseRateLimitHeaders({ RateLimit: '"a";r=3;t=1, "a";r=3;t=4', 'RateLimit-Policy': '"a";q=10, "a";q=100' }, { now: NOW })
    expect(info.policies).toHaveLength(1)
    // Same remaining: the longer wait; two quotas for one name: the smaller.
    expect(info).toMatchObject({ remaining: 3, resetAt: NOW + 4000, limit: 10 })
  })
})
