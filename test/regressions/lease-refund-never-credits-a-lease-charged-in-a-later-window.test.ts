// With leases, a refund goes back to a live lease "taken before the charge" it gives back. A lease
// counted as taken when it was asked for, not when its answer came: a renewal asked for in one
// fixed window and decided by the store (on its own clock, as Redis's TIME) after the next window
// began was charged to the new window, yet a request spent in the old window, refunded, went back
// to it: the new window admitted 11 at a limit of 10. A lease now counts as taken when it arrives
// (only then can anything be spent from it).

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, type Store, type StoreRequest, type StoreResult } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 0, 1)

/** A memory store reached over a "network": each call is decided a turn later, at the time it is decided then. */
function remoteStore(now: () => number): Store & { flush(): Promise<void> } {
  const inner = new MemoryStore()
  const later = <T>(f: () => T): Promise<T> =>
    new Promise<T>((resolve, reject) => setImmediate(() => Promise.resolve().then(f).then(resolve, reject)))
  return {
    consume: (r: StoreRequest) => later(() => inner.consume({ ...r, now: now() }) as StoreResult),
    peek: (r) => later(() => inner.peek({ ...r, now: now() }) as StoreResult),
    refund: (r) => later(() => inner.refund({ ...r, now: now() }) as StoreResult),
    charge: (r) => later(() => (inner.charge as NonNullable<Store['charge']>).call(inner, { ...r, now: now() }) as StoreResult),
    reset: (r) => inner.reset(r),
    close: () => undefined,
    flush: () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve))),
  }
}

describe('a refund with leases', () => {
  it('never credits a lease that the store charged in a later window', async () => {
    const c = clock(T0 + 59_000)
    const store = remoteStore(c.now)
    const limiter = createLimiter({
      store,
      now: c.now,
      timeoutMs: 60_000,
      policies: [fixedWindow({ name: 'fw', limit: 10, window: '1m', lease: { size: 5, ttlMs: '2m' } })],
    })
    const decide = async (cost = 1) => {
      const p = limiter.consume('k', { cost })
      await store.flush()
      return p
    }
    // Spent in the first window from its lease; the renewal it starts reaches the store after the window's end.
    const pending = limiter.consume('k')
    await new Promise((resolve) => setImmediate(resolve)) // its lease arrives; the renewal is asked for
    const old = await pending
    expect(old.allowed).toBe(true)
    c.set(T0 + 60_000)
    await store.flush()
    let admitted = 0
    if ((await decide()).allowed) admitted++
    await limiter.refund('k', { decision: old })
    await store.flush()
    for (let i = 0; i < 14; i++) if ((await decide()).allowed) admitted++
    expect(admitted).toBe(10)
    await limiter.close()
  })
})
