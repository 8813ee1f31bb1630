// upstreamRateLimit() read the draft-10 `RateLimit` field with regular expressions of its own,
// while the client reads it as a structured-field List: `r=-1` (a server that overshot) and
// `r=00` were "nothing left" to the client and no limit to the upstream (60 s by default); `t=30.5`
// was 30 s to one and 30.5 s to the other; `r=0;t=30;r=5` (a parameter sent twice: the last
// counts) was limited to one only; a 17-digit `t` read on one side only. Both now read the field
// with one List reader and one rule: the longest `t` of a policy with nothing remaining.
import { parseRateLimitHeaders } from 'ratekeeper/client'
import { upstreamRateLimit } from 'ratekeeper/provider'
import { describe, expect, it } from 'vitest'

const NOW = Date.UTC(2026, 0, 1)

const VALUES = [
  '"p";r=0;t=30',
  '"p";r=-1;t=30',
  '"p"; r=0; t=30',
  '"p";r=0;t=30.5',
  '"p";t=30;r=0',
  '"p";r=00;t=30',
  '"p";r=0;t=-5',
  '"a";r=0;t=30, "b";r=0;t=90',
  '"a";r=5;t=30, "b";r=0;t=90',
  '"p";r=0;t=99999999999999999',
  '"p";xr=0;t=30',
  '"p";r=0;xt=30;t=5',
  'p;r=0;t=30',
  '"p";r=0',
  '"p";r=0;t=30;r=5',
  '5;r=0;t=30',
  '"p";r=0;t=30, @@@',
]

describe('the draft-10 RateLimit field', () => {
  it.each(VALUES)('%j', (value) => {
    const info = parseRateLimitHeaders({ ratelimit: value }, { now: NOW })
    const upstream = upstreamRateLimit({ status: 429, headers: { ratelimit: value } }, { now: () => NOW })
    const waitMs = info.remaining === 0 && info.resetAt !== undefined ? info.resetAt - NOW : undefined
    if (waitMs === undefined) expect(upstream).toMatchObject({ retryFrom: 'default', retryAfterMs: 60_000 })
    else
      expect(upstream).toMatchObject({ retryFrom: 'ratelimit', retryAfterMs: Math.min(3600, Math.max(1, Math.ceil(waitMs / 1000))) * 1000 })
  })
})
