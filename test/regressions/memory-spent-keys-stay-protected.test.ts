import { describe, expect, it } from 'vitest'
import { createLimiter, type Decision, fixedWindow, MemoryStore, type Policy, slidingWindow, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

// A key that spent exactly its allowance (remaining 0) but was never denied is limited: a flood of
// new keys must not evict it and hand it a fresh allowance.

const algorithms: [string, () => Policy][] = [
  ['tokenBucket', () => tokenBucket({ limit: 3, window: '1h' })],
  ['fixedWindow', () => fixedWindow({ limit: 3, window: '1h' })],
  ['slidingWindow', () => slidingWindow({ limit: 3, window: '1h' })],
]

describe('a key with remaining 0 stays protected like a denied one', () => {
  for (const [name, policy] of algorithms) {
    it(`${name}: spent one at a time, then a flood of new keys`, () => {
      const c = clock(1_700_000_000_000)
      const store = new MemoryStore({ maxKeys: 1_000 })
      const limiter = createLimiter({ store, now: c.now, policies: [policy()] })
      for (let i = 0; i < 3; i++) expect((limiter.decide('spent') as Decision).allowed).toBe(true)
      for (let i = 0; i < 20_000; i++) limiter.decide(`flood-${i}`)
      expect(store.size).toBeLessThanOrEqual(1_000)
      expect(limiter.decide('spent')).toMatchObject({ allowed: false, remaining: 0 })
    })

    it(`${name}: spent in one request of cost 3`, () => {
      const c = clock(1_700_000_000_000)
      const store = new MemoryStore({ maxKeys: 100 })
      const limiter = createLimiter({ store, now: c.now, policies: [policy()] })
      expect(limiter.decide('spent', { cost: 3 })).toMatchObject({ allowed: true, remaining: 0 })
      for (let i = 0; i < 5_000; i++) limiter.decide(`flood-${i}`)
      expect(limiter.decide('spent')).toMatchObject({ allowed: false })
    })

    it(`${name}: spent on one of two policies decided together`, () => {
      const c = clock(1_700_000_000_000)
      const store = new MemoryStore({ maxKeys: 100 })
      const loose = tokenBucket({ name: 'loose', limit: 1_000, window: '1h' })
      const limiter = createLimiter({ store, now: c.now, policies: [loose, policy()] })
      for (let i = 0; i < 3; i++) limiter.decide('spent')
      for (let i = 0; i < 5_000; i++) limiter.decide(`flood-${i}`)
      expect(limiter.decide('spent')).toMatchObject({ allowed: false })
    })
  }

  it('the default maxKeys: a token bucket spent exactly, then more new keys than the store holds', () => {
    const c = clock(1_700_000_000_000)
    const store = new MemoryStore()
    const limiter = createLimiter({ store, now: c.now, policies: [tokenBucket({ limit: 5, window: '15m' })] })
    for (let i = 0; i < 5; i++) limiter.decide('spent')
    for (let i = 0; i < 250_000; i++) limiter.decide(`flood-${i}`)
    expect(store.size).toBe(100_000)
    expect(limiter.decide('spent')).toMatchObject({ allowed: false })
  })

  it('protected until it could admit a request of cost 1 again, no longer', () => {
    const c = clock(1_700_000_000_000)
    const store = new MemoryStore({ maxKeys: 10 })
    // One token per 20 minutes.
    const limiter = createLimiter({ store, now: c.now, policies: [tokenBucket({ limit: 3, window: '1h' })] })
    for (let i = 0; i < 3; i++) limiter.decide('spent')
    c.advance(19 * 60_000)
    for (let i = 0; i < 100; i++) limiter.decide(`flood-${i}`)
    expect(limiter.decide('spent')).toMatchObject({ allowed: false })
    c.advance(60_000)
    expect(limiter.decide('spent')).toMatchObject({ allowed: true, remaining: 0 })
  })
})
