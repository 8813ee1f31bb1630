import { describe, expect, it } from 'vitest'
import { concurrency, createLimiter, type Decision, MemoryStore } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

// A concurrency entry whose last lease is given back stays in the store, emptied (dormant), so
// that its subject's next request does not make it again. Dormant entries take slots of
// `maxKeys` like any entry: a flood of distinct keys, each released, must stay within the bound
// beside the limited entries, and the store must report them as the entries they replace (none).

describe('released concurrency keys stay bounded', () => {
  it('a flood of distinct keys, each released, beside full keys: within maxKeys, reported as none', async () => {
    const c = clock(1_700_000_000_000)
    const store = new MemoryStore({ maxKeys: 10 })
    const limiter = createLimiter({ store, now: c.now, policies: [concurrency({ limit: 2 })] })
    // Five keys with both slots taken: limited entries, kept apart from the others.
    for (let i = 0; i < 10; i++) expect((limiter.decide(`full-${i >> 1}`) as Decision).allowed).toBe(true)
    for (let i = 0; i < 1_000; i++) {
      const decision = limiter.decide(`flood-${i}`) as Decision
      expect(decision.allowed).toBe(true)
      await limiter.release(decision)
      expect(store.held).toBeLessThanOrEqual(10)
    }
    expect(store.size).toBe(5)
    // The full keys were never evicted, and a released key is as fresh as one never seen.
    for (let i = 0; i < 5; i++) expect((limiter.decide(`full-${i}`) as Decision).allowed).toBe(false)
    const { key: _a, ...released } = await limiter.peek('flood-999')
    const { key: _b, ...unseen } = await limiter.peek('never-seen')
    expect(released).toEqual(unseen)
    expect(store.prune(c.now())).toBe(0)
    expect(store.size).toBe(5)
  })

  it('one key taken and given back many times holds one entry at most, reported only while a lease lives', async () => {
    const store = new MemoryStore({ maxKeys: 3 })
    const limiter = createLimiter({ store, policies: [concurrency({ limit: 2 })] })
    for (let i = 0; i < 100; i++) {
      const decision = limiter.decide('one') as Decision
      expect(store.size).toBe(1)
      await limiter.release(decision)
      expect(store.size).toBe(0)
      expect(store.held).toBeLessThanOrEqual(1)
    }
    limiter.reset('one')
    expect(store.held).toBe(0)
  })
})
