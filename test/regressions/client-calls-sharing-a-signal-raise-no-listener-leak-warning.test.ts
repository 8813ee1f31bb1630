// Apps pass one long-lived signal (a shutdown signal) to every outgoing call. Each call waiting in
// the client (queue, pacing, backoff) added its own abort listeners to it, so eleven waiting calls
// made Node print "MaxListenersExceededWarning: Possible EventTarget memory leak detected", though
// nothing leaked; fetch itself, given the same signal by thirty calls, prints nothing.
import { getEventListeners } from 'node:events'
import { createClient } from 'ratekeeper/client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { scriptedServer, virtualTime } from '../client/helpers.js'

let warnings: string[] = []
const onWarning = (warning: Error): void => {
  warnings.push(warning.name)
}
beforeEach(() => {
  warnings = []
  process.on('warning', onWarning)
})
afterEach(() => {
  process.off('warning', onWarning)
})

/** Lets pending `process.emitWarning` calls (emitted on the next tick) arrive. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('thirty calls sharing one signal', () => {
  it('waiting in the queue (concurrency 2) for a real server: no leak warning', async () => {
    const server = await scriptedServer()
    server.plan('/', [{ status: 200, body: 'ok' }])
    try {
      const api = createClient({ baseUrl: server.url, queue: { concurrency: 2 } })
      const shutdown = new AbortController()
      const statuses = await Promise.all(
        Array.from({ length: 30 }, async () => {
          const res = await api('/', { signal: shutdown.signal })
          await res.text()
          return res.status
        }),
      )
      await settle()
      expect(statuses.every((s) => s === 200)).toBe(true)
      expect(warnings).not.toContain('MaxListenersExceededWarning')
    } finally {
      await server.close()
    }
  })

  it('held back by a Retry-After: no leak warning, all abort at once, nothing left on the signal', async () => {
    const time = virtualTime(1_700_000_000_000)
    const api = createClient({
      baseUrl: 'http://api.test',
      fetch: async () => new Response(null, { status: 429, headers: { 'retry-after': '30' } }),
      now: time.now,
      sleep: time.sleep,
    })
    await api('/', { rateLimit: { retry: false } }).catch(() => {})
    const shutdown = new AbortController()
    const calls = Array.from({ length: 30 }, () => api('/', { signal: shutdown.signal }))
    await settle()
    shutdown.abort(new Error('shutting down'))
    const results = await Promise.allSettled(calls)
    await settle()
    expect(results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'shutting down')).toBe(true)
    expect(warnings).not.toContain('MaxListenersExceededWarning')
    expect(time.pending()).toBe(0)
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0)
  })

  it('waiting in the queue and the rate, never aborted: nothing left on the signal', async () => {
    const time = virtualTime(1_700_000_000_000)
    const api = createClient({
      baseUrl: 'http://api.test',
      fetch: async () => new Response('ok'),
      now: time.now,
      sleep: time.sleep,
      queue: { concurrency: 2, rate: { limit: 5, window: '1s' } },
    })
    const shutdown = new AbortController()
    const statuses = await Promise.all(Array.from({ length: 30 }, async () => (await api('/', { signal: shutdown.signal })).status))
    await settle()
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(warnings).not.toContain('MaxListenersExceededWarning')
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0)
  })
})
