// `limiter.close()` gives a server's unspent lease units back to the store. A second call made
// while the first was still giving them back resolved at once: a shutdown that closes the limiter
// from two places (a signal handler and the server's own close) and then quits its Redis client
// after either resolves cut the give-back short, and the units stayed lost until the window ended.
// Every call of close() now resolves when closing is done.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { countingStore } from '../limiter/lease-stores.js'

const T0 = Date.UTC(2026, 0, 1, 12, 0, 30)

describe('limiter.close() called twice', () => {
  it('resolves, each time, once the leases are back in the store', async () => {
    const c = clock(T0)
    const store = countingStore({ async: true })
    const quota = fixedWindow({ name: 'global', limit: 1_000, window: '1m', lease: { size: 100, ttlMs: '10s' } })
    const limiter = createLimiter({ store, now: c.now, timeoutMs: 60_000, policies: [quota] })
    for (let i = 0; i < 20; i++) {
      const pending = limiter.consume('all')
      await store.flush()
      expect((await pending).allowed).toBe(true)
    }
    await store.flush()
    const first = limiter.close()
    await limiter.close() // the second call
    const check = createLimiter({ store, now: c.now, policies: [fixedWindow({ name: 'global', limit: 1_000, window: '1m' })] })
    const pending = check.peek('all')
    await store.flush()
    expect((await pending).remaining).toBe(980)
    await first
  })
})
