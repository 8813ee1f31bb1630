import { expect, it } from 'vitest'
import { concurrency, createLimiter, type Decision, MemoryStore, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

// The memory store's single-lease fast path read its answer (remaining, resetAt, retry) from the
// store's scratch outcome after the write, and the write may emit `evicted` events whose listener
// decides on the same store, which overwrites that scratch: the lease's decision then carried the
// other decision's figures. The general path reads them before writing; so does the fast one now.

it('a lease taken while an evicted listener decides on the same store keeps its own figures', () => {
  const c = clock(1_700_000_000_000)
  const store = new MemoryStore({ maxKeys: 4 })
  const leases = createLimiter({ store, now: c.now, policies: [concurrency({ limit: 1, leaseMs: 30_000 })] })
  const rates = createLimiter({ store, now: c.now, policies: [tokenBucket({ limit: 100, window: '1m' })] })
  const reentrant: Decision[] = []
  leases.on('evicted', () => reentrant.push(rates.decide('someone-else') as Decision))
  const decisions: Decision[] = []
  // Each lease fills its key's limit of 1: limited entries, more than their share of maxKeys, so some are evicted.
  for (let i = 0; i < 6; i++) decisions.push(leases.decide(`client-${i}`) as Decision)
  expect(reentrant.length).toBeGreaterThan(0)
  for (const d of decisions) {
    expect({ allowed: d.allowed, remaining: d.remaining, resetAt: d.resetAt }).toEqual({
      allowed: true,
      remaining: 0,
      resetAt: c.now() + 30_000,
    })
  }
})
