// A server that overshoots its quota may report a negative remaining. Every dialect reads it as 0
// (nothing left) and keeps the other figures of the same entry, so the client still knows when
// quota comes back.
import { parseRateLimitHeaders } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'

describe('a negative remaining', () => {
  it('reads as 0 in draft 10 and keeps the reset and quota', () => {
    expect(parseRateLimitHeaders({ ratelimit: '"a";r=-1;t=30' }, { now: 0 })).toMatchObject({
      remaining: 0,
      resetAt: 30_000,
      dialect: 'draft-10',
    })
    const info = parseRateLimitHeaders(
      { ratelimit: '"a";r=-3;t=30, "b";r=4;t=5', 'ratelimit-policy': '"a";q=10;w=60, "b";q=100' },
      { now: 0 },
    )
    expect(info).toMatchObject({ remaining: 0, resetAt: 30_000, limit: 10 })
    expect(info.policies.map((p) => [p.name, p.remaining])).toEqual([
      ['a', 0],
      ['b', 4],
    ])
    expect(parseRateLimitHeaders({ ratelimit: '"a";r=-2.5;t=30' }, { now: 0 }).remaining).toBe(0)
  })

  it('reads as 0 in draft 7 and keeps the limit and reset', () => {
    expect(parseRateLimitHeaders({ ratelimit: 'limit=10, remaining=-1, reset=30' }, { now: 0 })).toMatchObject({
      limit: 10,
      remaining: 0,
      resetAt: 30_000,
      dialect: 'draft-7',
    })
  })

  it('reads as 0 in draft 6 and X-RateLimit-*', () => {
    expect(
      parseRateLimitHeaders({ 'ratelimit-limit': '10', 'ratelimit-remaining': '-1', 'ratelimit-reset': '30' }, { now: 0 }),
    ).toMatchObject({ limit: 10, remaining: 0, resetAt: 30_000, dialect: 'draft-6' })
    expect(
      parseRateLimitHeaders({ 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '-1', 'x-ratelimit-reset': '30' }, { now: 0 }),
    ).toMatchObject({ limit: 10, remaining: 0, resetAt: 30_000, dialect: 'x-ratelimit' })
  })
})
