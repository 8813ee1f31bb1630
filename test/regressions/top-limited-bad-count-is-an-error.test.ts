// topLimited().top(n) passed `n` to Array#slice unchecked: top(-1) answered every subject but the
// last, top(NaN) and top(1.5) answered nothing or one, and a subject function answering something
// other than a string was counted under it (`undefined` as a key). Both are now errors that name
// what was wrong: never a list silently cut some other way.
import { afterEach, beforeEach, expect, it, type MockInstance, vi } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { topLimited } from '../../src/metrics/index.js'

let emitted: MockInstance
beforeEach(() => {
  emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
})
afterEach(() => {
  emitted.mockRestore()
})

const limiterOf = () => createLimiter({ policies: [fixedWindow({ limit: 1, window: '1m' })], now: () => 1_000 })

it('top(n) takes a count, or nothing', async () => {
  const limiter = limiterOf()
  const limited = topLimited(limiter, { size: 5 })
  for (const key of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) await limiter.consume(key)
  expect(limited.top()).toHaveLength(3)
  expect(limited.top(2)).toHaveLength(2)
  expect(limited.top(0)).toEqual([])
  for (const n of [-1, Number.NaN, 1.5, '2']) {
    expect(() => limited.top(n as number)).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'n' }))
  }
})

it('a subject that is not a non-empty string is never counted', async () => {
  const limiter = limiterOf()
  const limited = topLimited(limiter, { subject: () => undefined as unknown as string })
  for (let i = 0; i < 3; i++) await limiter.consume('k')
  expect(limited.top()).toEqual([])
  expect(limited.total).toBe(0)
  expect(emitted.mock.calls.some(([message]) => String(message).includes('subject'))).toBe(true)
})
