// `window: 60` is 60 milliseconds: a number is read as ms. Written by someone who meant seconds
// (rate-limiter-flexible's `duration: 60` is seconds), it limits per 60 ms, a thousand times more
// than meant, and nothing said so. A window given as a number below one second is now reported
// once per process (`RK_WINDOW_IN_MS`); the string form (`'60ms'`, `'60s'`) says what is meant
// and is never reported.
import { afterEach, beforeEach, expect, it, type MockInstance, vi } from 'vitest'
import { fixedWindow, slidingWindow, tokenBucket } from '../../src/index.js'

let emitted: MockInstance
beforeEach(() => {
  emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
})
afterEach(() => emitted.mockRestore())

const reports = () => emitted.mock.calls.filter((c) => (c[1] as { code?: string } | undefined)?.code === 'RK_WINDOW_IN_MS')

it('a numeric window under a second is reported once, naming the window and the way to say seconds', () => {
  tokenBucket({ limit: 100, window: '60ms' })
  fixedWindow({ limit: 100, window: 60_000 })
  slidingWindow({ limit: 100, window: '1m' })
  tokenBucket({ limit: 100, window: 1000 })
  expect(reports()).toHaveLength(0)

  fixedWindow({ limit: 100, window: 60 })
  expect(reports()).toHaveLength(1)
  const message = String(reports()[0][0])
  expect(message).toContain('window: 60')
  expect(message).toContain("'60s'")
  expect(message).toContain("'60ms'")

  tokenBucket({ limit: 5, window: 500 })
  expect(reports()).toHaveLength(1)
})
