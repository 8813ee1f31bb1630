// concurrency(): leases taken on admission, given back by limiter.release, expired after leaseMs;
// decided all-or-nothing with rate policies; released into the store that granted. Every test runs
// on the memory store and on casStore, with an injected clock.

import { describe, expect, it } from 'vitest'
import {
  concurrency,
  createLimiter,
  type Decision,
  fixedWindow,
  type LimiterOptions,
  MemoryStore,
  type Store,
  tokenBucket,
} from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { flakyStore, STORES } from './concurrency-stores.js'

const T0 = 1_700_000_000_000
const quiet = { warn: () => {} }

describe.each(STORES)('concurrency on %s', (_name, newStore) => {
  function setup(options: Partial<LimiterOptions> = {}, limit = 2) {
    const c = clock(T0)
    const store = newStore(c.now)
    const inFlight = concurrency({ name: 'in-flight', limit, leaseMs: '10s', retryAfter: '1s' })
    const limiter = createLimiter({ store, now: c.now, policies: [inFlight], logger: quiet, ...options })
    /** Slots free now, by a peek (which takes none). */
    const free = async (key = 'k') => (await limiter.peek(key)).remaining
    return { c, store, inFlight, limiter, free }
  }

  it('admits up to the limit, then denies with the policy named', async () => {
    const { limiter } = setup({}, 3)
    const admitted = [await limiter.consume('k'), await limiter.consume('k'), await limiter.consume('k')]
    expect(admitted.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
    ])
    const denied = await limiter.consume('k')
    expect(denied).toMatchObject({ allowed: false, reason: 'limited', violated: ['in-flight'], remaining: 0 })
    // Another subject has its own slots.
    expect((await limiter.consume('other')).allowed).toBe(true)
  })

  it('a peek takes no slot', async () => {
    const { limiter, free } = setup({}, 1)
    for (let i = 0; i < 3; i++) expect((await limiter.peek('k')).allowed).toBe(true)
    expect(await free()).toBe(1)
    expect((await limiter.consume('k')).allowed).toBe(true)
  })

  it('a denial suggests retryAfter, or the time until the earliest lease expires when sooner', async () => {
    const { c, limiter } = setup()
    await limiter.consume('k')
    c.advance(2_000)
    await limiter.consume('k')
    expect((await limiter.consume('k')).retryAfterMs).toBe(1_000)
    // The first lease expires at T0 + 10 s: 300 ms from now, sooner than retryAfter.
    c.set(T0 + 9_700)
    expect((await limiter.consume('k')).retryAfterMs).toBe(300)
    c.set(T0 + 10_000)
    expect((await limiter.consume('k')).allowed).toBe(true)
  })

  it('release frees the slot', async () => {
    const { limiter, free } = setup()
    const a = await limiter.consume('k')
    await limiter.consume('k')
    expect((await limiter.consume('k')).allowed).toBe(false)
    await limiter.release(a)
    expect(await free()).toBe(1)
    expect((await limiter.consume('k')).allowed).toBe(true)
  })

  it('a second release of the same decision frees nothing more', async () => {
    const { limiter, free } = setup()
    const a = await limiter.consume('k')
    await limiter.consume('k')
    await limiter.release(a)
    await limiter.release(a)
    expect(await free()).toBe(1)
    expect((await limiter.consume('k')).allowed).toBe(true)
    expect((await limiter.consume('k')).allowed).toBe(false)
  })

  it('releasing a denied decision frees nothing', async () => {
    const { limiter, free } = setup({}, 1)
    await limiter.consume('k')
    const denied = await limiter.consume('k')
    expect(denied.allowed).toBe(false)
    await limiter.release(denied)
    expect(await free()).toBe(0)
    expect((await limiter.consume('k')).allowed).toBe(false)
  })

  it('a lease nobody releases (a crashed holder) expires after leaseMs, not before', async () => {
    const { c, limiter, free } = setup()
    await limiter.consume('k') // never released
    c.set(T0 + 5_000)
    await limiter.consume('k') // held until T0 + 15 s
    c.set(T0 + 9_999)
    expect(await free()).toBe(0)
    expect((await limiter.consume('k')).allowed).toBe(false)
    c.set(T0 + 10_000)
    expect(await free()).toBe(1)
    expect((await limiter.consume('k')).allowed).toBe(true)
  })

  it('releasing after the lease expired does not free the slot someone else took since', async () => {
    const { c, limiter, free } = setup({}, 1)
    const late = await limiter.consume('k')
    c.advance(10_000)
    expect((await limiter.consume('k')).allowed).toBe(true)
    await limiter.release(late)
    expect(await free()).toBe(0)
    expect((await limiter.consume('k')).allowed).toBe(false)
  })

  it('a release after the limiter is closed does nothing (the lease expires on its own)', async () => {
    const { c, store, inFlight } = setup()
    const limiter = createLimiter({ store, now: c.now, policies: [inFlight] })
    const view = createLimiter({ store, now: c.now, policies: [inFlight] })
    const d = await limiter.consume('k')
    await limiter.close()
    await expect(limiter.release(d)).resolves.toBeUndefined()
    expect((await view.peek('k')).remaining).toBe(1)
    c.advance(10_000)
    expect((await view.peek('k')).remaining).toBe(2)
  })

  it('the same lease asked twice (a retried store call) holds one slot, its deadline renewed', async () => {
    const { c, store, inFlight } = setup({}, 2)
    const request = { keys: ['k'], policies: [inFlight], cost: 1, lease: 42, tag: 'k' }
    expect(await store.consume({ ...request, now: T0 })).toMatchObject({ allowed: true, results: [1, T0 + 10_000, 0] })
    c.set(T0 + 8_000)
    expect(await store.consume({ ...request, now: T0 + 8_000 })).toMatchObject({ allowed: true, results: [1, T0 + 18_000, 0] })
    // Still held past its first deadline, gone after the renewed one.
    expect((await store.peek({ ...request, cost: 0, lease: undefined, now: T0 + 17_999 })).results[0]).toBe(1)
    c.set(T0 + 18_000)
    expect((await store.peek({ ...request, cost: 0, lease: undefined, now: T0 + 18_000 })).results[0]).toBe(2)
  })

  it('a consume of cost 0 takes a slot all the same (a request in flight is not a cost); a peek takes none', async () => {
    const { limiter, free } = setup({}, 1)
    expect((await limiter.peek('k', { cost: 0 })).allowed).toBe(true)
    expect(await free()).toBe(1)
    const zero = await limiter.consume('k', { cost: 0 })
    expect(zero.allowed).toBe(true)
    expect(await free()).toBe(0)
    expect(await limiter.consume('k', { cost: 5 })).toMatchObject({ allowed: false, violated: ['in-flight'] })
    await limiter.release(zero)
    expect(await free()).toBe(1)
  })

  it('with rate policies, all or nothing: a rate denial takes no lease, a concurrency denial charges no token', async () => {
    const c = clock(T0)
    const store = newStore(c.now)
    const rate = tokenBucket({ name: 'rate', limit: 2, window: '1h' })
    const inFlight = concurrency({ name: 'in-flight', limit: 5, leaseMs: '10s' })
    const limiter = createLimiter({ store, now: c.now, policies: [rate, inFlight] })
    await limiter.consume('k')
    await limiter.consume('k')
    const rateDenied = await limiter.consume('k')
    expect(rateDenied).toMatchObject({ allowed: false, violated: ['rate'] })
    expect((await limiter.peek('k')).policies.map((p) => p.remaining)).toEqual([0, 3])

    const tight = createLimiter({
      store,
      now: c.now,
      policies: [fixedWindow({ name: 'hourly', limit: 10, window: '1h' }), concurrency({ name: 'one', limit: 1 })],
    })
    await tight.consume('j')
    const ccDenied = await tight.consume('j')
    expect(ccDenied).toMatchObject({ allowed: false, violated: ['one'] })
    expect((await tight.peek('j')).policies.map((p) => p.remaining)).toEqual([9, 0])
  })

  it('a release gives back the lease only: the rate charge stays', async () => {
    const c = clock(T0)
    const limiter = createLimiter({
      store: newStore(c.now),
      now: c.now,
      policies: [fixedWindow({ name: 'hourly', limit: 10, window: '1h' }), concurrency({ name: 'one', limit: 1 })],
    })
    const d = await limiter.consume('k')
    await limiter.release(d)
    expect((await limiter.peek('k')).policies.map((p) => p.remaining)).toEqual([9, 1])
  })

  it('a team concurrency layer: members share its slots, and a release frees the team slot', async () => {
    const c = clock(T0)
    const limiter = createLimiter({
      store: newStore(c.now),
      now: c.now,
      policies: [tokenBucket({ name: 'rate', limit: 100, window: '1m' })],
    })
    const layers = [{ name: 'team', key: 'team:acme', policies: [concurrency({ name: 'team-in-flight', limit: 2 })] }]
    const alice = await limiter.consume('alice', { layers })
    const bob = await limiter.consume('bob', { layers })
    expect([alice.allowed, bob.allowed]).toEqual([true, true])
    const carol = await limiter.consume('carol', { layers })
    expect(carol).toMatchObject({ allowed: false, violated: ['team-in-flight'] })
    await limiter.release(alice)
    const again = await limiter.consume('carol', { layers })
    expect(again.allowed).toBe(true)
    expect(again.policies.map((p) => `${p.layer ?? 'key'}:${p.name}=${p.remaining}`)).toEqual(['key:rate=99', 'team:team-in-flight=0'])
  })

  it('per-call concurrency policies take a lease that release gives back', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ store: newStore(c.now), now: c.now, policies: [tokenBucket({ limit: 100, window: '1m' })] })
    const policies = [concurrency({ name: 'exports', limit: 1 })]
    const d = await limiter.consume('k', { policies })
    expect((await limiter.consume('k', { policies })).allowed).toBe(false)
    await limiter.release(d)
    expect((await limiter.consume('k', { policies })).allowed).toBe(true)
  })

  it('a decision the fallback made during an outage is released in the fallback, not in the store', async () => {
    const c = clock(T0)
    const main = flakyStore(newStore(c.now))
    const fallback = new MemoryStore()
    const inFlight = concurrency({ name: 'in-flight', limit: 1 })
    const limiter = createLimiter({ store: main, fallback, onStoreError: 'fallback', now: c.now, policies: [inFlight], logger: quiet })
    const inMain = createLimiter({ store: main, now: c.now, policies: [inFlight] })
    const inFallback = createLimiter({ store: fallback, now: c.now, policies: [inFlight] })

    const before = await limiter.consume('k') // held in the store
    main.down = true
    const during = await limiter.consume('k')
    expect(during).toMatchObject({ allowed: true, reason: 'ok' })
    expect((await inFallback.peek('k')).remaining).toBe(0)
    main.down = false
    await limiter.release(during)
    expect((await inFallback.peek('k')).remaining).toBe(1)
    // The store's lease, taken before the outage, is still held.
    expect((await inMain.peek('k')).remaining).toBe(0)
    await limiter.release(before)
    expect((await inMain.peek('k')).remaining).toBe(1)
  })

  it('a release while the store is down resolves (the lease then expires on its own)', async () => {
    const c = clock(T0)
    const main = flakyStore(newStore(c.now))
    const inFlight = concurrency({ name: 'in-flight', limit: 1, leaseMs: '10s' })
    const limiter = createLimiter({ store: main, now: c.now, policies: [inFlight], logger: quiet })
    const errors: unknown[] = []
    limiter.on('store-error', (e) => errors.push(e.error))
    const d = await limiter.consume('k')
    main.down = true
    await expect(limiter.release(d)).resolves.toBeUndefined()
    expect(errors).toHaveLength(1)
    main.down = false
    expect((await limiter.peek('k')).remaining).toBe(0)
    c.advance(10_000)
    expect((await limiter.peek('k')).remaining).toBe(1)
  })

  it('a decision that is not one refuses with ERR_RK_INVALID_ARGUMENT', async () => {
    const { limiter } = setup()
    await expect(limiter.release(null as unknown as Decision)).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_ARGUMENT',
      option: 'decision',
    })
    // A decision of another limiter is not this one's: nothing to release.
    const other = createLimiter({ policies: [concurrency({ limit: 1 })] })
    await expect(limiter.release(await other.consume('k'))).resolves.toBeUndefined()
  })
})

describe('concurrency() options', () => {
  it('checks its options', () => {
    expect(() => concurrency({ limit: 100_001 })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'limit' }))
    expect(() => concurrency({ limit: 1, leaseMs: '1 minute' as '1m' })).toThrow(expect.objectContaining({ option: 'leaseMs' }))
    expect(() => concurrency({ limit: 1, retryAfter: -1 })).toThrow(expect.objectContaining({ option: 'retryAfter' }))
    expect(() => concurrency({ limit: 1, burst: 2 } as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }))
    expect(concurrency({ limit: 3 })).toMatchObject({ kind: 'concurrency', name: '3-in-flight', limit: 3, windowMs: 60_000 })
  })

  it('limit 0 denies everything, for good', async () => {
    const limiter = createLimiter({ policies: [concurrency({ name: 'none', limit: 0 })] })
    expect(await limiter.consume('k')).toMatchObject({ allowed: false, reason: 'exceeds-capacity', retryAfterMs: Number.POSITIVE_INFINITY })
  })

  it('a store that passes no lease is told so, rather than counting nothing', () => {
    const store = new MemoryStore()
    const policies = [concurrency({ limit: 1 })]
    expect(() => store.consume({ keys: ['k'], policies, cost: 1, now: T0, tag: 'k' })).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'lease' }),
    )
  })
})

// The memory store's fast path (`consumeInto`) takes leases too: the decision keeps its lease for
// the limiter that took it.
describe('concurrency on the fast path of an in-process store', () => {
  /** A memory store whose fast path and calls fail while `down`. */
  class FailingMemoryStore extends MemoryStore {
    down = false
    override consumeInto(...args: Parameters<MemoryStore['consumeInto']>): boolean {
      if (this.down) throw new Error('store down')
      return super.consumeInto(...args)
    }
  }

  it('a decision of another limiter on the same store is not released by this one', async () => {
    const store = new MemoryStore()
    const policies = [concurrency({ name: 'in-flight', limit: 1 })]
    const a = createLimiter({ store, policies })
    const b = createLimiter({ store, policies })
    const d = await a.decide('k')
    expect(d.allowed).toBe(true)
    await b.release(d)
    expect((await a.peek('k')).remaining).toBe(0)
    // Still a's to release, once.
    await a.release(d)
    expect((await a.peek('k')).remaining).toBe(1)
    expect((await a.consume('k')).allowed).toBe(true)
    await a.release(d)
    expect((await a.peek('k')).remaining).toBe(0)
  })

  it('when the fast path throws, the fallback decides with the lease, and release frees it there', async () => {
    const c = clock(T0)
    const main = new FailingMemoryStore()
    const fallback = new MemoryStore()
    const inFlight = concurrency({ name: 'in-flight', limit: 1 })
    const limiter = createLimiter({ store: main, fallback, onStoreError: 'fallback', now: c.now, policies: [inFlight], logger: quiet })
    const inFallback = createLimiter({ store: fallback, now: c.now, policies: [inFlight] })
    main.down = true
    const during = await limiter.consume('k')
    expect(during).toMatchObject({ allowed: true, reason: 'ok' })
    expect((await inFallback.peek('k')).remaining).toBe(0)
    expect((await limiter.consume('k')).allowed).toBe(false)
    await limiter.release(during)
    expect((await inFallback.peek('k')).remaining).toBe(1)
  })

  it("a fast-path lease goes back through the store's releaseLease: once, leaving what refund would", async () => {
    const c = clock(T0)
    const calls: string[] = []
    class CountingMemoryStore extends MemoryStore {
      override releaseLease(...args: Parameters<MemoryStore['releaseLease']>): void {
        calls.push('releaseLease')
        super.releaseLease(...args)
      }
      override refund(...args: Parameters<MemoryStore['refund']>): ReturnType<MemoryStore['refund']> {
        calls.push('refund')
        return super.refund(...args)
      }
    }
    const fast = new CountingMemoryStore()
    // A limit above the leases taken: an entry with nothing left is kept apart (and released by the general path).
    const inFlight = concurrency({ name: 'in-flight', limit: 3, leaseMs: '10s' })
    const limiter = createLimiter({ store: fast, now: c.now, policies: [inFlight] })
    // The same decisions through refund: a store with consumeInto and no releaseLease.
    const plain = new MemoryStore()
    const viaRefund: Store = {
      consumeInto: (...args) => plain.consumeInto(...args),
      consume: (r) => plain.consume(r),
      peek: (r) => plain.peek(r),
      refund: (r) => plain.refund(r),
      reset: (r) => plain.reset(r),
      close: () => plain.close(),
    }
    const other = createLimiter({ store: viaRefund, now: c.now, policies: [inFlight] })
    for (const l of [limiter, other]) {
      const [a, b] = [await l.decide('k'), await l.decide('k')]
      c.advance(1_000)
      await l.release(a)
      await l.release(a)
      expect((await l.peek('k')).remaining).toBe(2)
      await l.release(b)
    }
    expect(calls).toEqual(['releaseLease', 'releaseLease'])
    const states = [await limiter.peek('k'), await other.peek('k')].map((d) => [d.remaining, d.resetAt])
    expect(states[0]).toEqual([3, T0 + 2_000])
    expect(states[1]).toEqual(states[0])
  })

  it('a releaseLease that throws is a store-error: release resolves, the lease expires after its leaseMs', async () => {
    const c = clock(T0)
    class FailingRelease extends MemoryStore {
      down = false
      override releaseLease(...args: Parameters<MemoryStore['releaseLease']>): void {
        if (this.down) throw new Error('store down')
        super.releaseLease(...args)
      }
    }
    const store = new FailingRelease()
    const limiter = createLimiter({
      store,
      now: c.now,
      policies: [concurrency({ name: 'in-flight', limit: 1, leaseMs: '10s' })],
      logger: quiet,
    })
    const errors: { key: string; action: string }[] = []
    limiter.on('store-error', (e) => errors.push({ key: e.key, action: e.action }))
    const d = await limiter.decide('k')
    store.down = true
    await expect(limiter.release(d)).resolves.toBeUndefined()
    expect(errors).toEqual([{ key: 'k', action: 'allow' }])
    store.down = false
    // Given back once: a second release does nothing, and the slot stays taken until the lease expires.
    await limiter.release(d)
    expect((await limiter.peek('k')).remaining).toBe(0)
    c.advance(10_000)
    expect((await limiter.peek('k')).remaining).toBe(1)
  })

  it('with rate policies: several policies on the fast path, the rate charge stays after the release', async () => {
    const c = clock(T0)
    const limiter = createLimiter({
      now: c.now,
      policies: [concurrency({ name: 'in-flight', limit: 1 }), tokenBucket({ name: 'tokens', limit: 10, window: '1m' })],
    })
    const d = await limiter.decide('k')
    expect(d.policies.map((p) => p.remaining)).toEqual([0, 9])
    await limiter.release(d)
    const after = await limiter.peek('k', { cost: 0 })
    expect(after.policies.map((p) => p.remaining)).toEqual([1, 9])
  })
})
