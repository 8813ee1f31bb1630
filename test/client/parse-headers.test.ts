import fc from 'fast-check'
import { createLimiter, fixedWindow, tokenBucket } from 'ratekeeper'
import { parseRateLimitHeaders, parseRetryAfter, resetToEpochMs } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { createRateLimitHeaders } from '../../src/http/headers.js'
import { parseHttpDate } from '../../src/limiter/retry-after.js'

const NOW = 1_782_191_988_000 // 12 s before managed.dev's example reset (1782192000)

describe('parseRateLimitHeaders: X-RateLimit-*', () => {
  it('reads managed.dev headers (Reset in epoch seconds)', () => {
    const info = parseRateLimitHeaders(
      new Headers({ 'X-RateLimit-Limit': '1000', 'X-RateLimit-Remaining': '994', 'X-RateLimit-Reset': '1782192000' }),
      { now: NOW },
    )
    expect(info).toMatchObject({ limit: 1000, remaining: 994, resetAt: 1_782_192_000_000, dialect: 'x-ratelimit', retryAfterMs: undefined })
    expect(info.dialects).toEqual(['x-ratelimit'])
    expect(info.policies).toHaveLength(1)
    expect(info.at).toBe(NOW)
  })

  it('reads skakio headers with X-RateLimit-Tier', () => {
    const info = parseRateLimitHeaders(
      { 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '95', 'x-ratelimit-reset': '1707480060', 'x-ratelimit-tier': 'public_key' },
      { now: NOW },
    )
    expect(info).toMatchObject({ limit: 100, remaining: 95, resetAt: 1_707_480_060_000, tier: 'public_key' })
  })

  it('tells a delta Reset (Fastify) from epoch seconds and epoch ms', () => {
    const at = (reset: string) => parseRateLimitHeaders({ 'X-RateLimit-Reset': reset, 'X-RateLimit-Remaining': '0' }, { now: NOW }).resetAt
    expect(at('30')).toBe(NOW + 30_000)
    expect(at('0')).toBe(NOW)
    expect(at('1782192000')).toBe(1_782_192_000_000)
    expect(at('1782192000.5')).toBe(1_782_192_000_500)
    expect(at('1782192000123')).toBe(1_782_192_000_123)
  })

  it('obeys a forced xRateLimitReset format', () => {
    const h = { 'X-RateLimit-Reset': '1500', 'X-RateLimit-Remaining': '0' }
    expect(parseRateLimitHeaders(h, { now: NOW, xRateLimitReset: 'epoch-seconds' }).resetAt).toBe(1_500_000)
    expect(parseRateLimitHeaders(h, { now: NOW, xRateLimitReset: 'epoch-ms' }).resetAt).toBe(1500)
    expect(parseRateLimitHeaders({ ...h, 'X-RateLimit-Reset': '2000000000' }, { now: NOW, xRateLimitReset: 'delta-seconds' }).resetAt).toBe(
      NOW + 2_000_000_000_000,
    )
    expect(resetToEpochMs(5, NOW)).toBe(NOW + 5000)
  })

  it('accepts the X-Rate-Limit-* spelling, negative remaining as 0, and ignores junk', () => {
    expect(parseRateLimitHeaders({ 'X-Rate-Limit-Limit': '15', 'X-Rate-Limit-Remaining': '-1' }, { now: NOW })).toMatchObject({
      limit: 15,
      remaining: 0,
    })
    const junk = parseRateLimitHeaders(
      { 'X-RateLimit-Limit': 'lots', 'X-RateLimit-Remaining': '1e3', 'X-RateLimit-Reset': '' },
      { now: NOW },
    )
    expect(junk).toMatchObject({ limit: undefined, remaining: undefined, resetAt: undefined, dialect: undefined })
    expect(junk.policies).toEqual([])
  })

  it('reads a leading number of a list-valued X-RateLimit-Limit', () => {
    expect(parseRateLimitHeaders({ 'X-RateLimit-Limit': '100, 100;w=60' }, { now: NOW }).limit).toBe(100)
  })
})

describe('parseRateLimitHeaders: IETF draft 10', () => {
  const headers = {
    'RateLimit-Policy': '"burst";q=100;w=60,"daily";q=1000;w=86400',
    RateLimit: '"burst";r=5;t=10, "daily";r=100;t=36000',
  }

  it('reads every policy and takes the one with the fewest remaining as the headline', () => {
    const info = parseRateLimitHeaders(headers, { now: NOW })
    expect(info).toMatchObject({ limit: 100, remaining: 5, resetAt: NOW + 10_000, dialect: 'draft-10' })
    expect(info.policies).toEqual([
      {
        name: 'burst',
        dialect: 'draft-10',
        limit: 100,
        remaining: 5,
        resetAt: NOW + 10_000,
        windowMs: 60_000,
        unit: undefined,
        partitionKey: undefined,
      },
      {
        name: 'daily',
        dialect: 'draft-10',
        limit: 1000,
        remaining: 100,
        resetAt: NOW + 36_000_000,
        windowMs: 86_400_000,
        unit: undefined,
        partitionKey: undefined,
      },
    ])
  })

  it('breaks a tie on remaining by the longer wait', () => {
    const info = parseRateLimitHeaders({ RateLimit: '"a";r=0;t=1, "b";r=0;t=30' }, { now: NOW })
    expect(info.resetAt).toBe(NOW + 30_000)
  })

  it('accepts tokens as names (drafts 8-9), qu and pk', () => {
    const info = parseRateLimitHeaders(
      { 'RateLimit-Policy': 'default;q=10;w=1;qu="content-bytes";pk=:cHJvamVjdA==:', RateLimit: 'default;r=3;pk=:cHJvamVjdA==:' },
      { now: NOW },
    )
    expect(info.policies).toHaveLength(1)
    expect(info.policies[0]).toMatchObject({
      name: 'default',
      limit: 10,
      remaining: 3,
      windowMs: 1000,
      unit: 'content-bytes',
      partitionKey: 'cHJvamVjdA==',
    })
  })

  it('ignores bad members and keeps the good ones', () => {
    const info = parseRateLimitHeaders({ RateLimit: '"a";r=x, "b";r=3;t=2, garbage(((, "c";t=5, 7;r=1, "d";r=-4' }, { now: NOW })
    // A negative remaining is not a bad member: it reads as 0.
    expect(info.policies.map((p) => [p.name, p.remaining])).toEqual([
      ['b', 3],
      ['d', 0],
    ])
    expect(info).toMatchObject({ remaining: 0, resetAt: undefined })
  })

  it('joins fields sent on several lines (a list split across header lines)', () => {
    const h = new Headers()
    h.append('RateLimit', '"minute";r=9;t=3')
    h.append('RateLimit', '"day";r=4;t=600')
    const info = parseRateLimitHeaders(h, { now: NOW })
    expect(info.policies.map((p) => [p.name, p.remaining])).toEqual([
      ['minute', 9],
      ['day', 4],
    ])
    expect(info.remaining).toBe(4)
  })

  it('takes a reset from another dialect when draft 10 omits t for the headline', () => {
    const info = parseRateLimitHeaders(
      { RateLimit: '"per-minute";r=10', 'X-RateLimit-Remaining': '10', 'X-RateLimit-Reset': '1782192000' },
      { now: NOW },
    )
    expect(info).toMatchObject({ dialect: 'draft-10', remaining: 10, resetAt: 1_782_192_000_000 })
    expect(info.dialects).toEqual(['draft-10', 'x-ratelimit'])
  })

  it('uses the X-RateLimit figures when draft 10 sends only the policy', () => {
    const info = parseRateLimitHeaders(
      { 'RateLimit-Policy': '"p";q=100;w=60', 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '7' },
      { now: NOW },
    )
    expect(info).toMatchObject({ dialect: 'x-ratelimit', remaining: 7, limit: 100 })
    expect(info.dialects).toEqual(['draft-10', 'x-ratelimit'])
  })
})

describe('parseRateLimitHeaders: IETF drafts 7 and 6', () => {
  it('reads draft 7 (a Dictionary) with its policy', () => {
    const info = parseRateLimitHeaders({ RateLimit: 'limit=100, remaining=50, reset=5', 'RateLimit-Policy': '100;w=60' }, { now: NOW })
    expect(info).toMatchObject({ dialect: 'draft-7', limit: 100, remaining: 50, resetAt: NOW + 5000 })
    expect(info.policies[0]).toMatchObject({ windowMs: 60_000, dialect: 'draft-7' })
  })

  it('reads a sloppy draft 7 pair by pair', () => {
    const info = parseRateLimitHeaders({ RateLimit: 'Limit=100, Remaining = 0, reset=7, junk' }, { now: NOW })
    expect(info).toMatchObject({ dialect: 'draft-7', limit: 100, remaining: 0, resetAt: NOW + 7000 })
  })

  it('reads draft 6 (delta seconds) and picks the policy matching the limit', () => {
    const info = parseRateLimitHeaders(
      { 'RateLimit-Limit': '10', 'RateLimit-Remaining': '0', 'RateLimit-Reset': '42', 'RateLimit-Policy': '1000;w=86400, 10;w=1' },
      { now: NOW },
    )
    expect(info).toMatchObject({ dialect: 'draft-6', limit: 10, remaining: 0, resetAt: NOW + 42_000 })
    expect(info.policies[0].windowMs).toBe(1000)
  })
})

describe('Retry-After', () => {
  it('reads delay-seconds and every HTTP-date form', () => {
    const now = Date.UTC(1994, 10, 6, 8, 49, 0)
    expect(parseRetryAfter('120', now)).toBe(120_000)
    expect(parseRetryAfter(' 0 ', now)).toBe(0)
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now)).toBe(37_000)
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now)).toBe(37_000)
    expect(parseRetryAfter('Sun Nov  6 08:49:37 1994', now)).toBe(37_000)
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:48:00 GMT', now)).toBe(0)
    for (const bad of ['-1', 'soon', '1e3', '12s', 'Sun, 06 Nov 1994 25:49:37 GMT', 'Sun, 06 Foo 1994 08:49:37 GMT', '', undefined, null]) {
      expect(parseRetryAfter(bad, now)).toBeUndefined()
    }
    expect(parseHttpDate('Thu, 01 Jan 1970 00:00:00 GMT')).toBe(0)
  })

  it('is reported with the other figures', () => {
    const info = parseRateLimitHeaders({ 'Retry-After': '12', 'X-RateLimit-Remaining': '0' }, { now: NOW })
    expect(info.retryAfterMs).toBe(12_000)
  })
})

describe('header shapes and bad arguments', () => {
  it('reads Headers, records with arrays and any case, pairs, and get()-objects alike', () => {
    const expected = { remaining: 3, limit: 5 }
    expect(
      parseRateLimitHeaders(
        new Headers([
          ['x-ratelimit-remaining', '3'],
          ['X-RateLimit-Limit', '5'],
        ]),
      ),
    ).toMatchObject(expected)
    expect(parseRateLimitHeaders({ 'X-RATELIMIT-REMAINING': ['3'], 'x-ratelimit-limit': 5 })).toMatchObject(expected)
    expect(
      parseRateLimitHeaders([
        ['X-RateLimit-Remaining', '3'],
        ['X-RateLimit-Limit', '5'],
      ]),
    ).toMatchObject(expected)
    expect(
      parseRateLimitHeaders(
        new Map([
          ['x-ratelimit-remaining', '3'],
          ['x-ratelimit-limit', '5'],
        ]),
      ),
    ).toMatchObject(expected)
    const getter = { get: (n: string) => ({ 'x-ratelimit-remaining': '3', 'x-ratelimit-limit': '5' })[n] ?? null }
    expect(parseRateLimitHeaders(getter)).toMatchObject(expected)
    expect(parseRateLimitHeaders({})).toMatchObject({ limit: undefined, remaining: undefined, dialect: undefined, dialects: [] })
  })

  it('throws a ConfigurationError for a non-object and bad options', () => {
    expect(() => parseRateLimitHeaders(undefined as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'headers' }),
    )
    expect(() => parseRateLimitHeaders({}, { now: Number.NaN })).toThrow(/"now" must be epoch ms, received NaN/)
    expect(() => parseRateLimitHeaders({}, { xRateLimitReset: 'seconds' as never })).toThrow(/xRateLimitReset/)
    expect(() => parseRateLimitHeaders({}, { nwo: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }))
  })
})

describe('round trip with ratekeeper’s own headers', () => {
  it.each(['draft-10', 'draft-7', 'draft-6'] as const)('reads what the core renders in %s', async (standard) => {
    const t = 1_700_000_000_000
    const limiter = createLimiter({
      policies: [tokenBucket({ name: 'per-minute', limit: 10, window: '1m' }), fixedWindow({ name: 'per-day', limit: 1000, window: '1d' })],
      now: () => t,
    })
    for (let i = 0; i < 10; i++) await limiter.consume('k')
    const denied = await limiter.consume('k')
    const headers = createRateLimitHeaders({ standard })(denied)
    const info = parseRateLimitHeaders(headers, { now: t })
    expect(info.dialect).toBe(standard)
    expect(info.dialects).toEqual([standard, 'x-ratelimit'])
    expect(info).toMatchObject({ limit: 10, remaining: 0, retryAfterMs: 6000 })
    // Token bucket: the IETF reset is the next token (6 s), X-RateLimit-Reset the full refill.
    expect(info.resetAt).toBe(standard === 'draft-10' ? t + 6000 : denied.resetAt)
    if (standard === 'draft-10')
      expect(info.policies.map((p) => [p.name, p.remaining, p.windowMs])).toEqual([
        ['per-minute', 0, 60_000],
        ['per-day', 990, 86_400_000],
      ])
  })
})

describe('property: never throws on arbitrary header values', () => {
  const names = [
    'RateLimit',
    'RateLimit-Policy',
    'RateLimit-Limit',
    'RateLimit-Remaining',
    'RateLimit-Reset',
    'X-RateLimit-Limit',
    'X-RateLimit-Remaining',
    'X-RateLimit-Reset',
    'X-RateLimit-Tier',
    'Retry-After',
  ]
  // Structured-field-ish fragments, so the generator reaches deep into the parsers, not only their first check.
  const fragment = fc.constantFrom(
    '"a"',
    'b',
    ';r=',
    ';q=',
    ';t=',
    ';w=',
    ';pk=:',
    ':',
    '=',
    ',',
    ' ',
    '(',
    ')',
    '-',
    '1',
    '9',
    '.',
    '?1',
    '%"',
    '\\',
    '"',
    'limit=',
    'remaining=',
  )
  const value = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.array(fragment, { maxLength: 30 }).map((a) => a.join('')),
    fc.integer().map(String),
  )

  it('returns finite, non-negative figures or undefined', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), value), fc.integer({ min: 0, max: 4_000_000_000_000 }), (record, now) => {
        const info = parseRateLimitHeaders(record, { now })
        for (const n of [info.limit, info.remaining, info.retryAfterMs]) {
          if (n !== undefined) expect(Number.isFinite(n) && n >= 0).toBe(true)
        }
        if (info.resetAt !== undefined) expect(Number.isFinite(info.resetAt)).toBe(true)
        for (const p of info.policies) if (p.remaining !== undefined) expect(p.remaining).toBeGreaterThanOrEqual(0)
      }),
      { numRuns: 2000 },
    )
  })
})
