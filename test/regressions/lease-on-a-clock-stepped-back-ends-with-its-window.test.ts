// A fixed window's lease ends with the window it was charged to, on the server's clock. When that
// clock stepped back (an NTP correction, a VM resumed), a lease taken before the step lived on for
// as long as the step in real time, past its window's end: the server kept admitting from the old
// window's units while the store, on its own clock, had opened the next window to the whole fleet
// (10 a window admitted 14). And a request decided before the step, refunded, went back to a lease
// of the next window taken after it (its clock read earlier): 11. A step back now ends the fixed
// window's leases (their units go back to the store), and a lease taken on a clock behind its
// highest reading takes back no refund of a request decided before.

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

describe('a lease on a server whose clock stepped back', () => {
  it('is not spent past the end of the window it was charged to', async () => {
    let real = T0 + 59_000
    let stepped = 0
    const store = storeOnItsOwnClock(() => real)
    const policies = [fixedWindow({ name: 'fw', limit: 10, window: '1m', lease: { size: 5, ttlMs: 400 } })]
    const a = createLimiter({ store, now: () => real - stepped, policies })
    const b = createLimiter({ store, now: () => real, policies })
    const perWindow = new Map<number, number>()
    const count = (allowed: boolean) => {
      const w = Math.floor(real / 60_000)
      if (allowed) perWindow.set(w, (perWindow.get(w) ?? 0) + 1)
    }
    // Server a is busy just before the window's end: it holds a lease of several units.
    for (let i = 0; i < 6; i++) count((await a.consume('all')).allowed)
    stepped = 30_000 // its clock goes back 30 s
    real = T0 + 60_100 // the next window (the store's clock, and b's)
    for (let i = 0; i < 12; i++) count((await b.consume('all')).allowed)
    for (let i = 0; i < 6; i++) count((await a.consume('all')).allowed)
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(10)
    await a.close()
    await b.close()
  })

  it('takes back no refund of a request decided before the step into a lease of the next window', async () => {
    let real = T0 + 59_000
    let stepped = 0
    const store = storeOnItsOwnClock(() => real)
    const policies = [fixedWindow({ name: 'fw', limit: 10, window: '1m', lease: { size: 5, ttlMs: 400 } })]
    const a = createLimiter({ store, now: () => real - stepped, policies })
    const b = createLimiter({ store, now: () => real, policies })
    const old = await a.consume('all') // charged to the first window
    expect(old.allowed).toBe(true)
    stepped = 30_000
    real = T0 + 60_100
    let admitted = 0
    if ((await a.consume('all')).allowed) admitted++ // a lease of the next window, on a clock reading earlier than `old`
    await a.refund('all', { decision: old })
    for (let i = 0; i < 12; i++) if ((await b.consume('all')).allowed) admitted++
    for (let i = 0; i < 6; i++) if ((await a.consume('all')).allowed) admitted++
    expect(admitted).toBe(10)
    await a.close()
    await b.close()
  })
})
