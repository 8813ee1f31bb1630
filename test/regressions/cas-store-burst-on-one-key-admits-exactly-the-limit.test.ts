// casStore decided each request on its own: read, step, compare-and-set, and again on a conflict,
// up to maxAttempts (16). Requests made together for one key conflict with each other, one winner
// per round, so from the 17th on they gave up with ERR_RK_STORE, which the default
// onStoreError 'allow' admits: 200 concurrent requests on a key limited to 100 were all admitted
// (16 charged, 184 let through as a store outage), and the limiter reported an outage of a store
// that was answering; 200 members of one team at once went through a team ceiling of 100 alike.
// A process now decides the calls it holds for one tag (a subject, or a team and its members)
// together: one read, each call stepped in turn, one compare-and-set for all of them.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type CasBackend, casStore, createLimiter, fixedWindow, tokenBucket } from '../../src/index.js'

/** A versioned map that answers on a later turn of the event loop, as a networked backend does. */
function networkedMap(): CasBackend & { commits: number } {
  const data = new Map<string, CasBackend.Versioned>()
  let version = 0
  const later = () => new Promise((resolve) => setImmediate(resolve))
  const backend = {
    commits: 0,
    get: async (keys: readonly string[]) => {
      await later()
      return keys.map((k) => data.get(k))
    },
    commit: async (writes: readonly CasBackend.Write[]) => {
      await later()
      backend.commits++
      for (const w of writes) if (data.get(w.key)?.version !== w.expected) return false
      for (const w of writes) {
        if (w.value === undefined) data.delete(w.key)
        else data.set(w.key, { value: w.value, version: ++version })
      }
      return true
    },
    delete: async (keys: readonly string[]) => {
      for (const k of keys) data.delete(k)
    },
  }
  return backend
}

const T0 = Date.UTC(2030, 0, 1, 12)

describe('casStore under a burst of requests for one key', () => {
  it.each([
    ['fixed window', fixedWindow({ name: 'p', limit: 100, window: '1h' })],
    ['token bucket', tokenBucket({ name: 'p', limit: 100, window: '1h' })],
  ])('%s: 200 at once admit exactly 100, with no store error', async (_name, policy) => {
    const backend = networkedMap()
    const limiter = createLimiter({ store: casStore({ backend }), now: () => T0, timeoutMs: 60_000, policies: [policy] })
    const errors: unknown[] = []
    limiter.on('store-error', (e) => errors.push(e.error))
    const decisions = await Promise.all(Array.from({ length: 200 }, () => limiter.consume('sk_live_1')))
    expect(decisions.filter((d) => d.reason === 'store-error')).toHaveLength(0)
    expect(errors).toHaveLength(0)
    expect(decisions.filter((d) => d.allowed)).toHaveLength(100)
    // Decided as if one after another: the admitted ones count down from 99 to 0.
    expect(decisions.filter((d) => d.allowed).map((d) => d.remaining)).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i))
    expect((await limiter.peek('sk_live_1', { cost: 0 })).remaining).toBe(0)
  })

  it('requests for other keys, or with other costs, in the same burst are each decided exactly', async () => {
    const backend = networkedMap()
    const limiter = createLimiter({
      store: casStore({ backend }),
      now: () => T0,
      timeoutMs: 60_000,
      policies: [fixedWindow({ name: 'p', limit: 10, window: '1h' })],
    })
    const calls = Array.from({ length: 60 }, (_, i) => limiter.consume(`key-${i % 3}`, { cost: 1 + (i % 2) }))
    const decisions = await Promise.all(calls)
    expect(decisions.filter((d) => d.reason === 'store-error')).toHaveLength(0)
    for (let k = 0; k < 3; k++) {
      const mine = decisions.filter((d) => d.key === `key-${k}`)
      const charged = mine.filter((d) => d.allowed).reduce((sum, d) => sum + d.cost, 0)
      expect(charged).toBeLessThanOrEqual(10)
      expect((await limiter.peek(`key-${k}`, { cost: 0 })).remaining).toBe(10 - charged)
    }
  })

  it('members of one team at once: the team ceiling admits exactly its limit, with no store error', async () => {
    const backend = networkedMap()
    const limiter = createLimiter({
      store: casStore({ backend }),
      now: () => T0,
      timeoutMs: 60_000,
      policies: [fixedWindow({ name: 'member', limit: 10, window: '1h' })],
    })
    const layers = [{ name: 'team', key: 'team:acme', policies: [fixedWindow({ name: 'ceiling', limit: 100, window: '1h' })] }]
    const decisions = await Promise.all(Array.from({ length: 200 }, (_, i) => limiter.consume(`member-${i}`, { layers })))
    expect(decisions.filter((d) => d.reason === 'store-error')).toHaveLength(0)
    expect(decisions.filter((d) => d.allowed)).toHaveLength(100)
  })

  it('settles made together for one key each charge their extra, and refunds each give theirs back', async () => {
    const backend = networkedMap()
    const limiter = createLimiter({
      store: casStore({ backend }),
      now: () => T0,
      timeoutMs: 60_000,
      policies: [fixedWindow({ name: 'p', limit: 1000, window: '1h' })],
    })
    const reserved = await Promise.all(Array.from({ length: 100 }, () => limiter.consume('sk_live_1')))
    expect(reserved.every((d) => d.allowed)).toBe(true)
    // Each request really cost 3: 200 more in all, charged by 100 settles at once.
    const settled = await Promise.all(reserved.map((d) => limiter.settle(d, 3)))
    expect(settled.filter((d) => d.reason === 'store-error')).toHaveLength(0)
    expect((await limiter.peek('sk_live_1', { cost: 0 })).remaining).toBe(700)
    const more = await Promise.all(Array.from({ length: 100 }, () => limiter.consume('sk_live_1')))
    const refunded = await Promise.all(more.map((d) => limiter.refund('sk_live_1', { decision: d })))
    expect(refunded.filter((d) => d.reason === 'store-error')).toHaveLength(0)
    expect((await limiter.peek('sk_live_1', { cost: 0 })).remaining).toBe(700)
  })

  describe('a batch whose backend call is never answered', () => {
    afterEach(() => {
      vi.useRealTimers()
    })

    it('holds the next calls for its keys back for a second at most, not for ever', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
      const data = new Map<string, CasBackend.Versioned>()
      let version = 0
      let hang = true
      const backend: CasBackend = {
        // The first read is lost (a dead connection): its promise never settles.
        get: (keys) => {
          if (!hang) return keys.map((k) => data.get(k))
          hang = false
          return new Promise(() => {})
        },
        commit: (writes) => {
          for (const w of writes) if (data.get(w.key)?.version !== w.expected) return false
          for (const w of writes) if (w.value !== undefined) data.set(w.key, { value: w.value, version: ++version })
          return true
        },
        delete: () => {},
      }
      const limiter = createLimiter({
        store: casStore({ backend }),
        now: () => T0,
        timeoutMs: 60_000,
        policies: [fixedWindow({ name: 'p', limit: 5, window: '1h' })],
      })
      void limiter.consume('sk_live_1')
      await vi.advanceTimersByTimeAsync(0)
      let answered: unknown
      const next = limiter.consume('sk_live_1').then((d) => {
        answered = d
      })
      await vi.advanceTimersByTimeAsync(999)
      expect(answered).toBeUndefined()
      await vi.advanceTimersByTimeAsync(1)
      await next
      expect(answered).toMatchObject({ allowed: true, remaining: 4 })
    })
  })
})
