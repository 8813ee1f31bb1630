// limiter.block(key, { until }) took any safe integer as `until`, so "block for ever" written as
// `until: Number.MAX_SAFE_INTEGER` was stored. Every 429 of that subject then carried a
// `blockedUntil` no Date can hold, and the problem body's `blocked-until`
// (new Date(blockedUntil).toISOString()) threw RangeError: Invalid time value: the blocked client
// got a 500 instead of its 429. `until` is now refused beyond the latest time a Date holds
// (8.64e15 ms, +275760-09-13), naming the option; a far date such as 9999-12-31 still blocks.
import { describe, expect, it } from 'vitest'
import { limitedBody } from '../../src/http/index.js'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { penaltyBox } from '../../src/limiter/algorithms/penalty-box.js'
import { clock } from '../helpers/clock.js'

const LATEST_DATE_MS = 8_640_000_000_000_000

function setup() {
  const c = clock(Date.UTC(2030, 0, 1))
  const limiter = createLimiter({
    now: c.now,
    policies: [
      fixedWindow({ name: 'rate', limit: 5, window: '1s' }),
      penaltyBox({ name: 'box', after: 3, within: '1m', blocks: ['1m'], forgiveAfter: '1h' }),
    ],
  })
  return { c, limiter }
}

describe('limiter.block until', () => {
  it.each([Number.MAX_SAFE_INTEGER, LATEST_DATE_MS + 1])('refuses %d, naming the option', async (until) => {
    const { limiter } = setup()
    await expect(limiter.block('sk_live_1', { until })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'until' })
    // Nothing was written: the subject is not blocked.
    expect((await limiter.consume('sk_live_1')).allowed).toBe(true)
  })

  it('blocks until the latest time a Date holds, and the 429 body renders', async () => {
    const { limiter } = setup()
    await limiter.block('sk_live_1', { until: LATEST_DATE_MS })
    const denied = await limiter.consume('sk_live_1')
    expect(denied.allowed).toBe(false)
    expect(denied.blockedUntil).toBe(LATEST_DATE_MS)
    expect(String(limitedBody(denied).body)).toContain('"blocked-until":"+275760-09-13T00:00:00.000Z"')
  })

  it('a far date given as a Date blocks as before', async () => {
    const { limiter } = setup()
    await limiter.block('sk_live_1', { until: new Date('9999-12-31T00:00:00Z') })
    expect((await limiter.consume('sk_live_1')).allowed).toBe(false)
  })
})
