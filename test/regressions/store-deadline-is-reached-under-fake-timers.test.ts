// A test of an application that advances fake timers (vitest's, or Jest's: both fake setImmediate
// and performance) by a store's timeout must see the store's deadline pass: a store that never
// answers is then decided by onStoreError. Deadlines were moved past the poll phase with
// setImmediate (for answers read late after a stall), and a fake clock runs an immediate that a
// timer schedules only at its next advance: `advanceTimersByTime(timeoutMs)` left the call
// pending and `runOnlyPendingTimers()` never settled it. A timer that fires on time has no stall
// to wait out, so it expires the call then.

import { afterEach, expect, it, vi } from 'vitest'
import { createLimiter, type Store, tokenBucket } from '../../src/index.js'
import { DeadlineQueue } from '../../src/stores/redis/deadlines.js'

afterEach(() => {
  vi.useRealTimers()
})

const silent = (): Promise<never> => new Promise<never>(() => {})
const neverAnswers: Store = { consume: silent, peek: silent, refund: silent, reset: async () => {}, close: () => {} }

function pendingConsume(): { readonly reason: () => string | undefined } {
  const limiter = createLimiter({
    store: neverAnswers,
    timeoutMs: 100,
    onStoreError: 'deny',
    policies: [tokenBucket({ limit: 1, window: '1s' })],
  })
  limiter.on('store-error', () => {})
  let reason: string | undefined
  void Promise.resolve(limiter.consume('k')).then((d) => {
    reason = d.reason
  })
  return { reason: () => reason }
}

it("the limiter's deadline passes when fake timers are advanced by its timeout", async () => {
  vi.useFakeTimers()
  const call = pendingConsume()
  await vi.advanceTimersByTimeAsync(99)
  expect(call.reason()).toBeUndefined()
  await vi.advanceTimersByTimeAsync(1)
  expect(call.reason()).toBe('store-error')
})

it("the limiter's deadline passes when the pending fake timers run", async () => {
  vi.useFakeTimers()
  const call = pendingConsume()
  await vi.runOnlyPendingTimersAsync()
  expect(call.reason()).toBe('store-error')
})

it("a RedisStore's deadline queue expires its calls when fake timers are advanced to their deadline", () => {
  vi.useFakeTimers()
  const expired: number[] = []
  const queue = new DeadlineQueue<{ expires: number; done: boolean; id: number }>((item) => expired.push(item.id))
  queue.add({ expires: performance.now() + 50, done: false, id: 1 })
  queue.add({ expires: performance.now() + 80, done: false, id: 2 })
  vi.advanceTimersByTime(50)
  expect(expired).toEqual([1])
  vi.advanceTimersByTime(30)
  expect(expired).toEqual([1, 2])
})
