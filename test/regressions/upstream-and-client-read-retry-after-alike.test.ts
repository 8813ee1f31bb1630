// The client and upstreamRateLimit() each had a Retry-After parser of their own, and they read
// the same value differently. An impossible HTTP-date (hour 25) passed the upstream's pattern,
// Date.parse made it NaN, and upstreamRateLimit() threw a configuration error blaming an option
// ("retryAfterMs") the caller never passed: a gateway answered the upstream's 429 with a 500.
// "Monday, 01-Jan-60" was 1960 to one and 2060 (RFC 9110's rule) to the other; "1.1234567",
// "Sun, 06 Dec 26 …" and a 17-digit delay read on one side only. One parser now serves both.
import { parseRetryAfter } from 'ratekeeper/client'
import { upstreamRateLimit } from 'ratekeeper/provider'
import { describe, expect, it } from 'vitest'

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0)
const DEFAULT_MS = 60_000
const MAX_MS = 3_600_000

const VALUES = [
  '30',
  ' 7 ',
  '0',
  '1.2',
  '1.1234567',
  '99999999999999999',
  '1'.padEnd(400, '0'),
  '-5',
  '1e3',
  'soon',
  '',
  '12, 99',
  'Sun, 06 Dec 2026 12:00:30 GMT',
  'Sun, 06 Dec 2026 12:00:30 GMT, 5',
  'Sunday, 06-Dec-26 12:00:30 GMT',
  'Sun Dec  6 12:00:30 2026',
  'Sun, 06 Nov 1994 08:49:37 GMT',
  'Monday, 01-Jan-60 00:00:00 GMT',
  'Sun, 06 Nov 1994 25:00:00 GMT',
  'Sun, 31 Feb 2027 00:00:00 GMT',
  'Sun, 06 Dec 26 12:00:30 GMT',
  'Sun, 06-Dec-2026 12:00:30 GMT',
  'Sunday, 06 Dec 2026 12:00:30 GMT',
  '\u00a05',
]

/** What upstreamRateLimit() must send for a wait the client reads as `ms`. */
function expected(ms: number | undefined): { retryAfterMs: number; retryFrom: string } {
  if (ms === undefined) return { retryAfterMs: DEFAULT_MS, retryFrom: 'default' }
  return { retryAfterMs: Math.min(MAX_MS, Math.max(1000, Math.ceil(ms / 1000) * 1000)), retryFrom: 'retry-after' }
}

describe('Retry-After is read by one rule on both sides', () => {
  it.each(VALUES)('%j', (value) => {
    const client = parseRetryAfter(value, NOW)
    const upstream = upstreamRateLimit({ status: 429, headers: { 'retry-after': value } }, { now: () => NOW })
    expect(upstream).toMatchObject(expected(client))
  })

  it('reads a huge delay as a long wait, not as no wait', () => {
    expect(parseRetryAfter('99999999999999999', NOW)).toBeGreaterThanOrEqual(MAX_MS)
    expect(parseRetryAfter('1'.padEnd(400, '0'), NOW)).toBeGreaterThanOrEqual(MAX_MS)
    expect(Number.isFinite(parseRetryAfter('1'.padEnd(400, '0'), NOW))).toBe(true)
  })

  it('refuses an impossible date, and reads a two-digit year by RFC 9110', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 25:00:00 GMT', NOW)).toBeUndefined()
    expect(parseRetryAfter('Sun, 31 Feb 2027 00:00:00 GMT', NOW)).toBeUndefined()
    // 2060 is less than 50 years ahead: it is 2060, not 1960.
    expect(parseRetryAfter('Monday, 01-Jan-60 00:00:00 GMT', NOW)).toBe(Date.UTC(2060, 0, 1) - NOW)
  })

  it('never throws on an upstream value', () => {
    for (const value of VALUES) expect(() => upstreamRateLimit({ status: 429, headers: { 'retry-after': value } })).not.toThrow()
  })
})
