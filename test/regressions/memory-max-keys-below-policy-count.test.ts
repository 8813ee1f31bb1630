import { describe, expect, it } from 'vitest'
import { ConfigurationError, createLimiter, type Decision, MemoryStore, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

// One request needs one entry per policy. A store that can't hold them all mixed the states of
// the policies (maxKeys 1 with two token buckets admitted 8 of 8).

describe('MemoryStore maxKeys and the number of policies of one request', () => {
  const a = tokenBucket({ name: 'a', limit: 4, window: '1h' })
  const b = tokenBucket({ name: 'b', limit: 6, window: '1h' })

  it('a request with more policies than maxKeys is a configuration error naming maxKeys', async () => {
    const limiter = createLimiter({ store: new MemoryStore({ maxKeys: 1 }), now: () => 1_000_000, policies: [a, b] })
    expect(() => limiter.decide('k')).toThrow(ConfigurationError)
    expect(() => limiter.decide('k')).toThrow(/maxKeys/)
    await expect(limiter.consume('k')).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'maxKeys' })
    await expect(limiter.peek('k')).rejects.toMatchObject({ option: 'maxKeys' })
  })

  it('also when the extra policies come from a layer', async () => {
    const limiter = createLimiter({ store: new MemoryStore({ maxKeys: 2 }), now: () => 1_000_000, policies: [a, b] })
    expect((limiter.decide('k') as Decision).allowed).toBe(true)
    const layers = [{ name: 'team', key: 't', policies: [tokenBucket({ name: 'team', limit: 10, window: '1h' })] }]
    await expect(limiter.consume('k', { layers })).rejects.toMatchObject({ option: 'maxKeys' })
  })

  it('the store itself rejects it too, and stays usable', () => {
    const store = new MemoryStore({ maxKeys: 1 })
    const request = { keys: ['k', 'k'], policies: [a, b], cost: 1, now: 1_000_000, tag: 'k' }
    expect(() => store.consume(request)).toThrow(/maxKeys/)
    expect(store.consume({ ...request, keys: ['k'], policies: [a] }).allowed).toBe(true)
  })

  for (const maxKeys of [2, 3, 4]) {
    it(`maxKeys ${maxKeys} with two policies is exact: each policy keeps its own state`, () => {
      const c = clock(1_000_000)
      const limiter = createLimiter({ store: new MemoryStore({ maxKeys }), now: c.now, policies: [a, b] })
      const seen: number[][] = []
      for (let i = 0; i < 8; i++) {
        const d = limiter.decide('k') as Decision
        seen.push(d.allowed ? d.policies.map((p) => p.remaining) : [])
      }
      expect(seen).toEqual([[3, 5], [2, 4], [1, 3], [0, 2], [], [], [], []])
    })
  }
})
