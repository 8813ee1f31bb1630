// upstreamRateLimit() read `X-RateLimit-Reset` and `RateLimit-Reset` with a parser of its own,
// which the client's reading disagreed with: 2e11 was epoch seconds to one (the year 8300) and
// epoch ms to the other; a draft-6 reset of 1767225642 (epoch seconds, as some servers send) was
// 56 years from now to the upstream; `5, 40` (a field sent twice) and a 17-digit value read on one
// side only. Both now read a reset by one rule (resetToEpochMs, 'auto').
import { parseRateLimitHeaders } from 'ratekeeper/client'
import { upstreamRateLimit } from 'ratekeeper/provider'
import { describe, expect, it } from 'vitest'

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0)

const VALUES = [
  '30',
  '30.5',
  ' 30 ',
  String(NOW / 1000 + 42),
  String(NOW + 7_500),
  String(NOW / 1000 - 100),
  '200000000000',
  '99999999999999999',
  '-5',
  '5, 40',
  'soon',
]

describe.each(['X-RateLimit-Reset', 'RateLimit-Reset'])('%s', (name) => {
  it.each(VALUES)('%j', (value) => {
    const resetAt = parseRateLimitHeaders({ [name]: value }, { now: NOW }).resetAt
    const upstream = upstreamRateLimit({ status: 429, headers: { [name]: value } }, { now: () => NOW })
    if (resetAt === undefined) expect(upstream).toMatchObject({ retryFrom: 'default', retryAfterMs: 60_000 })
    else {
      const seconds = Math.min(3600, Math.max(1, Math.ceil((resetAt - NOW) / 1000)))
      expect(upstream).toMatchObject({ retryAfterMs: seconds * 1000, retryFrom: name.toLowerCase() })
    }
  })
})
