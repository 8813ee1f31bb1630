// The injected clock (`now`) is the one input every decision trusts. A clock that answered NaN (a
// date parsed from a bad string), Infinity, or a time far past the range the integer arithmetic
// is exact for (microseconds or nanoseconds mistaken for ms) made the limiter admit everything,
// silently: fixed and sliding windows on NaN, a token bucket on 1.7e18, a sliding window and a
// concurrency limit on Infinity (20000 of 20000 admitted at a limit of 5). Now such a time is an
// ERR_RK_INVALID_OPTION naming `now`, from every call that reads the clock.

import { describe, expect, it } from 'vitest'
import { concurrency, createLimiter, fixedWindow, type Policy, slidingWindow, tokenBucket } from '../../src/index.js'

const policies: Policy[] = [
  fixedWindow({ name: 'fw', limit: 5, window: '1h' }),
  slidingWindow({ name: 'sw', limit: 5, window: '1h' }),
  tokenBucket({ name: 'tb', limit: 5000, window: '1s' }),
  concurrency({ name: 'cc', limit: 5 }),
]

const badTimes: [string, unknown][] = [
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['nanoseconds', 1.7e18],
  ['microseconds', Date.UTC(2026, 0, 1) * 1000],
  ['a string', '1767225600000'],
  ['a negative time', -1],
]

describe('a clock answering no usable epoch ms', () => {
  for (const [label, time] of badTimes) {
    it(`${label}: every call is refused naming "now", nothing is admitted`, async () => {
      for (const policy of policies) {
        const limiter = createLimiter({ now: () => time as number, policies: [policy] })
        let admitted = 0
        for (let i = 0; i < 20; i++) {
          try {
            if ((await limiter.consume('k')).allowed) admitted++
          } catch (error) {
            expect(error).toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'now' })
          }
        }
        expect(admitted, `${policy.kind} on ${label}`).toBe(0)
        expect(() => limiter.decide('k')).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'now' }))
        await expect(limiter.consume('k', { cost: 2 })).rejects.toMatchObject({ option: 'now' })
        await expect(limiter.peek('k')).rejects.toMatchObject({ option: 'now' })
        await expect(limiter.refund('k', { cost: 1 })).rejects.toMatchObject({ option: 'now' })
      }
    })
  }

  it('a clock at 0, fractional ms and the last exact ms stay usable', async () => {
    for (const time of [0, 1_767_225_600_000.25, 7_258_118_400_000]) {
      const limiter = createLimiter({ now: () => time, policies: [fixedWindow({ name: 'fw', limit: 1, window: '1h' })] })
      expect((await limiter.consume('k')).allowed).toBe(true)
      expect((await limiter.consume('k')).allowed).toBe(false)
    }
  })
})
