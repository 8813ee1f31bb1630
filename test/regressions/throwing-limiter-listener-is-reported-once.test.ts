// A limiter event listener that threw (a `limited` listener's bug, a topLimited `subject` that
// fails on some keys) printed a process warning per event, past the limiter's `logger`: one
// line per denied request, which a flood of denials turned into a flood of log lines. It is now
// reported once per limiter and event, through the limiter's `warn` (its logger when given), and
// still never fails the request.
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

const listenerWarnings = () => emitted.mock.calls.filter(([message]) => String(message).includes('listener threw'))

it('a throwing listener is reported once, to the logger, and every request is still decided', async () => {
  const lines: string[] = []
  const limiter = createLimiter({
    policies: [fixedWindow({ limit: 1, window: '1m' })],
    now: () => 1_000,
    logger: { warn: (line: string) => lines.push(line) },
  })
  topLimited(limiter, {
    subject: () => {
      throw new Error('no account for this key')
    },
  })
  let denied = 0
  for (let i = 0; i < 100; i++) if (!(await limiter.consume('k')).allowed) denied++
  expect(denied).toBe(99)
  expect(lines.filter((l) => l.includes("'limited' listener threw"))).toHaveLength(1)
  expect(listenerWarnings()).toHaveLength(0)
})

it('without a logger or warn listener, one process warning', async () => {
  const limiter = createLimiter({ policies: [fixedWindow({ limit: 1, window: '1m' })], now: () => 1_000 })
  limiter.on('decision', () => {
    throw new Error('bug')
  })
  for (let i = 0; i < 50; i++) await limiter.consume('k')
  expect(listenerWarnings()).toHaveLength(1)
  expect(listenerWarnings()[0][1]).toEqual({ code: 'RK_LISTENER_THREW' })
})

it("a throwing 'warn' listener is reported once too", async () => {
  const limiter = createLimiter({ policies: [fixedWindow({ limit: 1, window: '1m' })], now: () => 1_000 })
  limiter.on('warn', () => {
    throw new Error('bug in warn')
  })
  limiter.on('decision', () => {
    throw new Error('bug')
  })
  for (let i = 0; i < 20; i++) await limiter.consume('k')
  expect(listenerWarnings().length).toBeLessThanOrEqual(2)
  expect(listenerWarnings().length).toBeGreaterThanOrEqual(1)
})
