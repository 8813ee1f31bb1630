// A gateway and the app behind it may each send `X-RateLimit-Remaining`; fetch joins the two lines
// (`5, 0`). The client reads the strictest of repeated legacy figures: the fewest remaining, the
// latest reset, the smallest limit — so pacing holds the next call back instead of sending it into
// a 429.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createClient, parseRateLimitHeaders } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'

const NOW = Date.UTC(2026, 0, 1)

describe('repeated X-RateLimit-* figures', () => {
  it('read the fewest remaining, the latest reset and the smallest limit', () => {
    const joined = parseRateLimitHeaders(
      { 'x-ratelimit-remaining': '5, 0', 'x-ratelimit-reset': '10, 30', 'x-ratelimit-limit': '100, 10' },
      { now: NOW },
    )
    expect(joined).toMatchObject({ remaining: 0, resetAt: NOW + 30_000, limit: 10, dialect: 'x-ratelimit' })
    const lines = parseRateLimitHeaders(
      [
        ['X-RateLimit-Remaining', '0'],
        ['X-RateLimit-Remaining', '5'],
        ['X-RateLimit-Reset', '30'],
        ['X-RateLimit-Reset', '10'],
      ],
      { now: NOW },
    )
    expect(lines).toMatchObject({ remaining: 0, resetAt: NOW + 30_000 })
    expect(parseRateLimitHeaders({ 'X-RateLimit-Remaining': ['5', '0'] }, { now: NOW }).remaining).toBe(0)
    expect(parseRateLimitHeaders({ 'x-rate-limit-remaining': '7,2' }, { now: NOW }).remaining).toBe(2)
    expect(parseRateLimitHeaders({ 'ratelimit-remaining': '5, 0' }, { now: NOW }).remaining).toBe(0)
    // A malformed copy is skipped, not the figure.
    expect(parseRateLimitHeaders({ 'x-ratelimit-remaining': 'lots, 3' }, { now: NOW }).remaining).toBe(3)
    expect(parseRateLimitHeaders({ 'x-ratelimit-remaining': '4' }, { now: NOW }).remaining).toBe(4)
  })

  describe('from a server whose gateway adds its own X-RateLimit-Remaining', () => {
    const time = virtualTime(NOW)
    const hits: number[] = []
    let url = ''
    const server = createServer((_req, res) => {
      hits.push(time.now())
      res.writeHead(200, [
        ['X-RateLimit-Limit', '10'],
        ['X-RateLimit-Remaining', '5'],
        ['X-RateLimit-Remaining', '0'],
        ['X-RateLimit-Reset', '10'],
      ] as never)
      res.end('ok')
    })
    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterAll(async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })

    it('waits for the reset before the next call', async () => {
      const client = createClient({ baseUrl: url, now: time.now, sleep: time.sleep, random: () => 0.5 })
      expect((await client('/')).status).toBe(200)
      expect((await client('/')).status).toBe(200)
      expect(hits[1] - hits[0]).toBeGreaterThanOrEqual(10_000)
    })
  })
})
