// setTimeout fires at once (after 1 ms, with a TimeoutOverflowWarning) for a delay of 2^31 ms
// (24.8 days) or more. limiter.wait() on a monthly quota that was spent slept its retryAfterMs
// (about 30 days) on such a timer: it woke at once and asked the store again, about a thousand
// times a second, until the month was over. The default sleep now chains timers up to the delay.
import { createLimiter, fixedWindow } from 'ratekeeper'
import { describe, expect, it } from 'vitest'
import { timerSleep } from '../../src/limiter/sleep.js'

const settled = async (p: Promise<unknown>, ms: number): Promise<boolean> => {
  let done = false
  p.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  await new Promise((resolve) => setTimeout(resolve, ms))
  return done
}

describe('a sleep of 2^31 ms or more', () => {
  it.each([2 ** 31, 2 ** 31 + 1000, 30 * 86_400_000, Number.POSITIVE_INFINITY])(
    'timerSleep(%d) does not resolve at once, and aborts',
    async (ms) => {
      const controller = new AbortController()
      const sleeping = timerSleep(ms, controller.signal)
      expect(await settled(sleeping, 100)).toBe(false)
      controller.abort(new Error('stop'))
      await expect(sleeping).rejects.toThrow('stop')
    },
  )

  it('limiter.wait() on a spent monthly quota asks the store once, not in a loop', async () => {
    const limiter = createLimiter({ policies: [fixedWindow({ name: 'month', limit: 1, window: '30d' })] })
    await limiter.consume('k')
    let asked = 0
    const consume = limiter.consume.bind(limiter)
    limiter.consume = (key, options) => {
      asked++
      return consume(key, options)
    }
    const controller = new AbortController()
    const waiting = limiter.wait('k', { signal: controller.signal })
    const done = await settled(waiting, 200)
    controller.abort(new Error('stop'))
    await expect(waiting).rejects.toThrow('stop')
    expect(done).toBe(false)
    expect(asked).toBeLessThanOrEqual(2)
  })
})
