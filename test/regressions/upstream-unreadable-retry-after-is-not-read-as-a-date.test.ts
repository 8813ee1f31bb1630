// upstreamRateLimit read any Retry-After that was not delay-seconds with Date.parse, which takes
// almost anything: "5, 10" (the field sent twice, joined by Fetch Headers or Node) was 10 May
// 2001, "-5" and "+5" were dates in 2001, "12/25" a Christmas long past. Each was a wait in the
// past, sent on as `Retry-After: 1`: the app's clients came back at once to an upstream that had
// asked for more, and the upstream's other headers and `defaultRetryAfter` were never consulted.
// Now only an HTTP-date is read as a date, and a field sent twice honours its largest wait.
import { expect, it } from 'vitest'
import { upstreamRateLimit } from '../../src/provider/index.js'

const NOW = Date.UTC(2026, 0, 1)
const now = () => NOW
const at = (headers: Record<string, string | string[]> | Headers) => upstreamRateLimit({ status: 429, headers }, { now })

it('a Retry-After sent twice honours the larger wait', () => {
  const twice = new Headers()
  twice.append('Retry-After', '5')
  twice.append('Retry-After', '10')
  expect(at(twice)).toMatchObject({ retryAfterMs: 10_000, retryFrom: 'retry-after' })
  expect(at({ 'retry-after': '5, 10' })).toMatchObject({ retryAfterMs: 10_000, retryFrom: 'retry-after' })
})

it('a value that is neither delay-seconds nor an HTTP-date is not read', () => {
  for (const value of ['-5', '+5', '12/25', '10 5', '1 2 3']) {
    expect(at({ 'retry-after': value }), value).toMatchObject({ retryAfterMs: 60_000, retryFrom: 'default' })
  }
  expect(at({ 'retry-after': '-5', 'x-ratelimit-reset': '30' })).toMatchObject({ retryAfterMs: 30_000, retryFrom: 'x-ratelimit-reset' })
})

it('each HTTP-date form is still read', () => {
  expect(at({ 'retry-after': 'Thu, 01 Jan 2026 00:00:42 GMT' })).toMatchObject({ retryAfterMs: 42_000 })
  expect(at({ 'retry-after': 'Thursday, 01-Jan-26 00:00:42 GMT' })).toMatchObject({ retryAfterMs: 42_000 })
  expect(at({ 'retry-after': 'Thu Jan  1 00:00:42 2026' })).toMatchObject({ retryAfterMs: 42_000 })
})
