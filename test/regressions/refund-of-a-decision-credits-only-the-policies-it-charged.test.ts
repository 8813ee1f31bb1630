// `refund(key, { decision, policies, layers })` used the lists given beside the decision whatever
// the decision had charged: a decision made with the limiter's own policy, refunded with
// `policies: [exporting]`, gave a unit back to `exporting`, which it never charged (1 of 1 spent
// there, then 2 admitted), while its own charge stayed. A decision is now given back to what it
// charged; lists other than those are refused, naming the option.

import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'

const T0 = Date.UTC(2026, 0, 1)

describe('refund(key, { decision }) with lists it was not decided with', () => {
  it('other policies: refused, nobody credited', async () => {
    const api = fixedWindow({ name: 'api', limit: 3, window: '1h' })
    const exporting = [fixedWindow({ name: 'export', limit: 1, window: '1h' })]
    const limiter = createLimiter({ now: () => T0, policies: [api] })
    const d = await limiter.consume('u')
    expect((await limiter.consume('u', { policies: exporting })).allowed).toBe(true)
    await expect(limiter.refund('u', { decision: d, policies: exporting })).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_OPTION',
      option: 'policies',
    })
    expect((await limiter.consume('u', { policies: exporting })).allowed).toBe(false)
    expect((await limiter.refund('u', { decision: d })).remaining).toBe(3)
  })

  it('a layer it did not charge: refused', async () => {
    const team = [{ name: 'team', key: 'team:a', policies: [fixedWindow({ name: 'team', limit: 1, window: '1h' })] }]
    const limiter = createLimiter({ now: () => T0, policies: [fixedWindow({ name: 'key', limit: 3, window: '1h' })] })
    const d = await limiter.consume('u')
    await limiter.consume('v', { layers: team })
    await expect(limiter.refund('u', { decision: d, layers: team })).rejects.toMatchObject({ option: 'layers' })
    expect((await limiter.peek('w', { layers: team })).allowed).toBe(false)
  })

  it('a decision made with per-call lists is given back to them, whatever lists come with it', async () => {
    const own = [fixedWindow({ name: 'own', limit: 1, window: '1h' })]
    const other = [fixedWindow({ name: 'other', limit: 1, window: '1h' })]
    const limiter = createLimiter({ now: () => T0, policies: [fixedWindow({ name: 'default', limit: 3, window: '1h' })] })
    const d = await limiter.consume('u', { policies: own })
    await limiter.consume('u', { policies: other })
    await expect(limiter.refund('u', { decision: d, policies: other })).rejects.toMatchObject({ option: 'policies' })
    expect((await limiter.peek('u', { policies: other })).remaining).toBe(0)
    // The same lists it was decided with (what the HTTP count modes pass) are fine.
    expect((await limiter.refund('u', { decision: d, policies: own })).remaining).toBe(1)
  })
})
