// Some call options read "not passed" with `??`, so null was taken as not passed, silently:
// refund(key, { at: null }) credited the current window instead of the one charged (at: now), and
// wait(key, { maxWaitMs: null }) waited without a bound. wait's `signal` was never checked: a
// value that is no AbortSignal threw a bare TypeError naming nothing, or (null) was ignored.
// `undefined` alone means "not passed"; each of these is now refused, naming the option.
import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'

const T0 = Date.UTC(2030, 0, 1)

function setup() {
  return createLimiter({ now: () => T0, sleep: async () => {}, policies: [fixedWindow({ name: 'rate', limit: 5, window: '1h' })] })
}

describe('call options given as null', () => {
  it('refund at: null', async () => {
    await expect(setup().refund('k', { at: null as never })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'at' })
  })

  it('wait maxWaitMs: null', async () => {
    await expect(setup().wait('k', { maxWaitMs: null as never })).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_OPTION',
      option: 'maxWaitMs',
    })
  })

  it.each([[null], [5], [{ aborted: false }]])('wait signal: %j', async (signal) => {
    await expect(setup().wait('k', { signal: signal as never })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'signal' })
  })

  it('an AbortSignal, and options left out, are taken as before', async () => {
    const limiter = setup()
    await expect(limiter.wait('k', { signal: new AbortController().signal, maxWaitMs: 1000 })).resolves.toMatchObject({ allowed: true })
    await expect(limiter.refund('k', { at: T0 })).resolves.toMatchObject({ reason: 'ok' })
  })
})
