// With a leased policy, the limiter decides from local leases on the server's clock, and a
// decision's time (`at`, what a refund names as the time charged) is that clock's. A refund the
// leases cannot take went to the store with that time, which the store read on its own clock (as
// Redis's TIME): on a server 5 s ahead of the store, a request charged in the store's last seconds
// of a window and refunded after the next began was credited to the new window, whose per-key
// limit of 3 then admitted 4 (and a leased quota took back a unit of the old window). A refund now
// reaches the store with the time charged turned into the store's clock, on the early side.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, type Store, type StoreRequest, type StoreResult } from '../../src/index.js'

const T0 = Date.UTC(2026, 0, 1)

/** A memory store on a clock of its own (as Redis's TIME), answering at once. */
function storeOnItsOwnClock(now: () => number): Store {
  const inner = new MemoryStore()
  return {
    consume: (r: StoreRequest) => inner.consume({ ...r, now: now() }) as StoreResult,
    peek: (r) => inner.peek({ ...r, now: now() }) as StoreResult,
    refund: (r) => inner.refund({ ...r, now: now() }) as StoreResult,
    charge: (r) => (inner.charge as NonNullable<Store['charge']>).call(inner, { ...r, now: now() }) as StoreResult,
    reset: (r) => inner.reset(r),
    close: () => undefined,
  }
}

describe('a refund on a server whose clock is ahead of the store', () => {
  it('credits a policy the store charged only in the window it charged', async () => {
    let real = T0 + 56_000
    const store = storeOnItsOwnClock(() => real)
    const quota = fixedWindow({ name: 'quota', limit: 1_000, window: '1m', lease: { size: 5, ttlMs: 1_000 } })
    const limiter = createLimiter({
      store,
      now: () => real + 5_000,
      policies: [quota, fixedWindow({ name: 'per-key', limit: 3, window: '1m' })],
    })
    const old = await limiter.consume('k')
    expect(old.allowed).toBe(true)
    real = T0 + 60_500 // the store's next window
    let admitted = 0
    for (let i = 0; i < 3; i++) if ((await limiter.consume('k')).allowed) admitted++
    await limiter.refund('k', { decision: old })
    for (let i = 0; i < 3; i++) if ((await limiter.consume('k')).allowed) admitted++
    expect(admitted).toBe(3)
    await limiter.close()
  })

  it('credits a leased policy only in the window its lease was charged in', async () => {
    let real = T0 + 56_000
    const store = storeOnItsOwnClock(() => real)
    const quota = fixedWindow({ name: 'quota', limit: 10, window: '1m', lease: { size: 5, ttlMs: 1_000 } })
    const a = createLimiter({ store, now: () => real + 5_000, policies: [quota] })
    const b = createLimiter({ store, now: () => real, policies: [quota] })
    const old = await a.consume('all')
    expect(old.allowed).toBe(true)
    real = T0 + 60_500 // the store's next window; a's lease of the old one has ended
    let admitted = 0
    for (let i = 0; i < 12; i++) if ((await b.consume('all')).allowed) admitted++
    await a.refund('all', { decision: old })
    // A server that has not seen the window full (b remembers its denial until the window's end).
    const c = createLimiter({ store, now: () => real, policies: [quota] })
    for (let i = 0; i < 3; i++) if ((await c.consume('all')).allowed) admitted++
    await c.close()
    expect(admitted).toBe(10)
    await a.close()
    await b.close()
  })
})
