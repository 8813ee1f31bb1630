// `refund(key, { decision })` gives back exactly what that decision charged, once: nothing for a
// decision that charged nothing (denied, dry-run, admitted by onStoreError 'allow' while the store
// was down), nothing the second time, and into the policies and layers the decision was made
// with, not the limiter's defaults. (Before: 1 / 1 / 2 remaining where 0 / 0 / 1 was right, and a
// decision on a per-call policy credited the default policy instead.)

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, type Store } from '../../src/index.js'

function flaky() {
  const mem = new MemoryStore()
  const state = { down: false }
  const store: Store = {
    consume: (r) => (state.down ? Promise.reject(new Error('down')) : mem.consume(r)),
    peek: (r) => mem.peek(r),
    refund: (r) => mem.refund(r),
    reset: (r) => mem.reset(r),
    close() {},
  }
  return { store, state }
}

describe('refund(key, { decision })', () => {
  it('gives nothing back for a denial, a store-error admission, or a second refund', async () => {
    const { store, state } = flaky()
    const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'p', limit: 3, window: '1h' })], onStoreError: 'allow' })
    limiter.on('store-error', () => {})
    for (let i = 0; i < 3; i++) await limiter.consume('a')
    const denied = await limiter.consume('a')
    expect(denied.allowed).toBe(false)
    expect((await limiter.refund('a', { decision: denied })).remaining).toBe(0)
    expect((await limiter.peek('a')).remaining).toBe(0)

    for (let i = 0; i < 3; i++) await limiter.consume('b')
    state.down = true
    const unlimited = await limiter.consume('b')
    state.down = false
    expect(unlimited).toMatchObject({ allowed: true, reason: 'store-error' })
    expect((await limiter.refund('b', { decision: unlimited })).remaining).toBe(0)

    const d = await limiter.consume('c')
    await limiter.consume('c')
    await limiter.consume('c')
    expect((await limiter.refund('c', { decision: d })).remaining).toBe(1)
    expect((await limiter.refund('c', { decision: d })).remaining).toBe(1)
    expect((await limiter.peek('c')).remaining).toBe(1)
  })

  it('a dry-run denial charged nothing either', async () => {
    const limiter = createLimiter({ policies: [fixedWindow({ name: 'p', limit: 1, window: '1h' })], dryRun: true })
    await limiter.consume('k')
    const wouldDeny = await limiter.consume('k')
    expect(wouldDeny.dryRun).toBe(true)
    expect((await limiter.refund('k', { decision: wouldDeny })).remaining).toBe(0)
  })

  it('refunds the policies the decision was made with, not the limiter defaults', async () => {
    const base = fixedWindow({ name: 'api', limit: 3, window: '1h' })
    const exporting = fixedWindow({ name: 'export', limit: 1, window: '1h' })
    const limiter = createLimiter({ policies: [base] })
    for (let i = 0; i < 3; i++) await limiter.consume('u')
    const d = await limiter.consume('u', { policies: [exporting] })
    expect(d.allowed).toBe(true)
    await limiter.refund('u', { decision: d })
    expect((await limiter.peek('u', { policies: [exporting] })).remaining).toBe(1)
    expect((await limiter.peek('u')).remaining).toBe(0)
  })

  it('refunds the layers the decision was made with (the team gets its unit back too)', async () => {
    const team = [{ name: 'team', key: 'team:acme', policies: [fixedWindow({ name: 'team', limit: 2, window: '1h' })] }]
    const limiter = createLimiter({ policies: [fixedWindow({ name: 'key', limit: 5, window: '1h' })] })
    const d = await limiter.consume('k1', { layers: team })
    await limiter.consume('k2', { layers: team })
    expect((await limiter.consume('k3', { layers: team })).allowed).toBe(false)
    await limiter.refund('k1', { decision: d })
    expect((await limiter.consume('k3', { layers: team })).allowed).toBe(true)
  })
})
