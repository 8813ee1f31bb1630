// A decision made with per-call policies or layers keeps the request it charged, so that a refund
// or a settle goes back to the same policies. That request also carried the decision's lease: a
// settle below the estimate (a refund of the difference) or a refund of the decision gave the
// concurrency slot back too, while the work was still running, and a limit of 1 then let a second
// request in. Only limiter.release gives a lease back.

import { describe, expect, it } from 'vitest'
import { concurrency, createLimiter, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

describe('per-call and layer leases survive settle and refund', () => {
  const setup = () => {
    const c = clock(1_700_000_000_000)
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ name: 'tokens', limit: 100, window: '1h' })] })
    const policies = [tokenBucket({ name: 'exports', limit: 100, window: '1h' }), concurrency({ name: 'one-export', limit: 1 })]
    const layers = [{ name: 'team', key: 'team:acme', policies: [concurrency({ name: 'team-one', limit: 1 })] }]
    return { limiter, policies, layers }
  }

  it('settle below the estimate keeps the per-call lease', async () => {
    const { limiter, policies } = setup()
    const d = await limiter.consume('k', { policies, cost: 10 })
    await limiter.settle(d, 3)
    expect((await limiter.peek('k', { policies })).policies.map((p) => p.remaining)).toEqual([97, 0])
    expect((await limiter.consume('k', { policies })).allowed).toBe(false)
    await limiter.release(d)
    expect((await limiter.consume('k', { policies })).allowed).toBe(true)
  })

  it('refund of the decision keeps the per-call lease', async () => {
    const { limiter, policies } = setup()
    const d = await limiter.consume('k', { policies, cost: 10 })
    await limiter.refund('k', { decision: d })
    expect((await limiter.peek('k', { policies })).policies.map((p) => p.remaining)).toEqual([100, 0])
  })

  it('settle of a layered decision keeps the team lease', async () => {
    const { limiter, layers } = setup()
    const d = await limiter.consume('alice', { layers, cost: 10 })
    await limiter.settle(d, 1)
    expect((await limiter.consume('bob', { layers })).allowed).toBe(false)
    await limiter.release(d)
    expect((await limiter.consume('bob', { layers })).allowed).toBe(true)
  })
})
