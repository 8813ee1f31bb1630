// A block's reason is shown to the blocked client in the problem body only, JSON-escaped: it never
// reaches a response header (no header injection, no HTML in a header), whatever the characters,
// and a reason that could break a header line is refused when the block is written.
import { createLimiter, fixedWindow } from 'ratekeeper'
import { limitedBody, rateLimitHeaders } from 'ratekeeper/http'
import { penaltyBox } from 'ratekeeper/provider'
import { expect, it } from 'vitest'

const T0 = Date.UTC(2026, 0, 1)

it('a block reason is in the problem body, escaped, and in no header', async () => {
  const limiter = createLimiter({
    now: () => T0,
    policies: [
      fixedWindow({ name: 'per-minute', limit: 10, window: '1m' }),
      penaltyBox({ name: 'abuse', after: 5, within: '1m', blocks: ['10m'], forgiveAfter: '1d' }),
    ],
  })
  const reason = '"quoted" <script>alert(1)</script> \\ é 🚫'
  await limiter.block('k', { until: T0 + 60_000, reason })
  const d = await limiter.consume('k')
  expect(d.blockReason).toBe(reason)
  const headers = rateLimitHeaders(d)
  for (const value of Object.values(headers)) expect(value).not.toContain('script')
  expect(JSON.parse(limitedBody(d).body)['block-reason']).toBe(reason)
  for (const bad of ['a\r\nSet-Cookie: x=1', 'a\nb', 'nul\u0000'])
    await expect(limiter.block('k', { until: T0 + 60_000, reason: bad })).rejects.toMatchObject({ option: 'reason' })
})
