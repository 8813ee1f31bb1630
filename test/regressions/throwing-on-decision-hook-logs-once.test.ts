// An `onDecision` hook that throws on every request used to print a process warning per request,
// past the `logger`: a log line per request instead of one per state change. It is now reported
// once per limiter, through the limiter's `warn` (its `logger` when given), and never fails the
// request.
import { afterEach, beforeEach, expect, it, type MockInstance, vi } from 'vitest'
import { withRateLimit } from '../../adapters/fetch.js'
import { fixedWindow } from '../../src/index.js'

let emitted: MockInstance
beforeEach(() => {
  emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
})
afterEach(() => {
  emitted.mockRestore()
})

const options = (logger?: { warn(message: string): void }) => ({
  policies: [fixedWindow({ limit: 100, window: '1m' })],
  ip: () => '203.0.113.7',
  logger,
  onDecision: () => {
    throw new Error('hook bug')
  },
})

it('goes to the logger once, however many requests the hook fails on', async () => {
  const lines: string[] = []
  const handler = withRateLimit(async () => new Response('ok'), options({ warn: (line) => lines.push(line) }))
  for (let i = 0; i < 5; i++) expect((await handler(new Request('http://localhost/'))).status).toBe(200)
  expect(lines).toHaveLength(1)
  expect(lines[0]).toContain('hook bug')
  expect(emitted).not.toHaveBeenCalled()
})

it('without a logger, is printed once', async () => {
  const handler = withRateLimit(async () => new Response('ok'), options())
  for (let i = 0; i < 5; i++) await handler(new Request('http://localhost/'))
  expect(emitted.mock.calls.filter((c) => (c[1] as { code?: string } | undefined)?.code === 'RK_HOOK_THREW')).toHaveLength(1)
})
