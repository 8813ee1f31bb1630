import { channel } from 'node:diagnostics_channel'
import { describe, expect, it } from 'vitest'
import { createLimiter, type Decision, fixedWindow, MemoryStore, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

// A store full of denied entries must neither stall on each new key nor hand the only unlimited
// room back and forth: two alternating keys at limit 1 per 15 minutes got 20 of 20 through.

const FIFTEEN_MINUTES = 15 * 60_000

/**
 * A limiter on a store of `maxKeys` entries, every one of them held by a denied key. With
 * `spread`, the clock moves 1 ms per key, so every block ends at a different time.
 */
function fullOfDeniedKeys(maxKeys: number | undefined, spread = false) {
  const c = clock(1_700_000_000_000)
  const store = maxKeys === undefined ? new MemoryStore() : new MemoryStore({ maxKeys })
  const policy = spread ? tokenBucket({ limit: 1, window: '15m' }) : fixedWindow({ limit: 1, window: '15m' })
  const limiter = createLimiter({ store, now: c.now, policies: [policy] })
  const decide = (key: string) => limiter.decide(key) as Decision
  for (let i = 0; i < store.maxKeys; i++) {
    decide(`denied-${i}`)
    decide(`denied-${i}`)
    if (spread) c.advance(1)
  }
  expect(store.size).toBe(store.maxKeys)
  return { c, store, limiter, decide }
}

/** Counts what lru-cache is asked to do (every get, set, has… is published while someone listens). */
function countCacheOperations<T>(fn: () => T): { result: T; operations: number } {
  const metrics = channel('lru-cache:metrics')
  let operations = 0
  const listen = () => {
    operations++
  }
  metrics.subscribe(listen)
  try {
    return { result: fn(), operations }
  } finally {
    metrics.unsubscribe(listen)
  }
}

describe('a memory store full of denied keys', () => {
  for (const maxKeys of [10_000, undefined]) {
    it(`two alternating new keys at limit 1 per 15 minutes get one request each (maxKeys ${maxKeys ?? 'default'})`, () => {
      const { decide } = fullOfDeniedKeys(maxKeys)
      let admitted = 0
      for (let i = 0; i < 20; i++) if (decide(i % 2 === 0 ? 'alice' : 'bob').allowed) admitted++
      expect(admitted).toBe(2)
    })
  }

  it('two alternating new keys at limit 2 get two requests each: unlimited keys keep room of their own', () => {
    const c = clock(1_700_000_000_000)
    const store = new MemoryStore({ maxKeys: 1_000 })
    const limiter = createLimiter({ store, now: c.now, policies: [fixedWindow({ limit: 2, window: '15m' })] })
    for (let i = 0; i < 1_000; i++) for (let j = 0; j < 3; j++) limiter.decide(`denied-${i}`)
    let admitted = 0
    for (let i = 0; i < 40; i++) if ((limiter.decide(i % 2 === 0 ? 'alice' : 'bob') as Decision).allowed) admitted++
    expect(admitted).toBe(4)
    expect(store.size).toBeLessThanOrEqual(1_000)
  })

  it('admitting a new key costs the same work whether the store holds 1,000 or 100,000 entries', () => {
    const perNewKey = (maxKeys: number) => {
      const { store, decide } = fullOfDeniedKeys(maxKeys, true)
      const stepsBefore = store.evictionSteps
      const { operations } = countCacheOperations(() => {
        for (let i = 0; i < 50; i++) expect(decide(`new-${i}`).allowed).toBe(true)
      })
      return { operations: operations / 50, steps: (store.evictionSteps - stepsBefore) / 50 }
    }
    const small = perNewKey(1_000)
    const large = perNewKey(100_000)
    // One eviction and the heap's reordering (log2 of the entries held: 10 and 17).
    expect(small.steps).toBeGreaterThan(1)
    // A walk over the store would be ~1,000 and ~100,000 per key; admitting one is a handful of operations.
    expect(small.operations).toBeLessThanOrEqual(8)
    expect(large.operations).toBeLessThanOrEqual(8)
    expect(large.steps).toBeLessThanOrEqual(40)
    expect(large.steps).toBeLessThanOrEqual(small.steps + 12)
  })

  it('a flood of denied keys costs the same work per key at any store size', () => {
    const perDeniedKey = (maxKeys: number) => {
      const { store, decide } = fullOfDeniedKeys(maxKeys, true)
      const stepsBefore = store.evictionSteps
      const { operations } = countCacheOperations(() => {
        for (let i = 0; i < 50; i++) {
          decide(`more-${i}`)
          decide(`more-${i}`)
        }
      })
      expect(store.size).toBeLessThanOrEqual(maxKeys)
      return { operations: operations / 50, steps: (store.evictionSteps - stepsBefore) / 50 }
    }
    const small = perDeniedKey(1_000)
    const large = perDeniedKey(100_000)
    expect(large.operations).toBeLessThanOrEqual(16)
    expect(large.steps).toBeLessThanOrEqual(80)
    expect(large.steps).toBeLessThanOrEqual(small.steps + 24)
  })

  it('unlimited clients keep half the store: a flood of denied keys never evicts one used since', () => {
    const c = clock(1_700_000_000_000)
    const store = new MemoryStore({ maxKeys: 100 })
    const limiter = createLimiter({ store, now: c.now, policies: [tokenBucket({ limit: 10, window: '1h' })] })
    const evicted: string[] = []
    limiter.on('evicted', (e) => evicted.push(e.key))
    // 49 regular clients, then 10,000 keys that each spend their allowance and are denied.
    for (let i = 0; i < 49; i++) limiter.decide(`regular-${i}`)
    for (let i = 0; i < 10_000; i++) for (let j = 0; j < 11; j++) limiter.decide(`attacker-${i}`)
    expect(store.size).toBeLessThanOrEqual(100)
    for (let i = 0; i < 49; i++) expect((limiter.decide(`regular-${i}`) as Decision).remaining).toBe(8)
    // The limited entries beyond their share went, with an event each.
    expect(evicted.length).toBeGreaterThan(0)
  })

  it('when limited entries alone exceed maxKeys, the soonest unblocked go first, with an event and a warning', async () => {
    const c = clock(1_700_000_000_000)
    const store = new MemoryStore({ maxKeys: 4 })
    const short = fixedWindow({ name: 'short', limit: 1, window: '1m' })
    const long = fixedWindow({ name: 'long', limit: 1, window: '1h' })
    const limiter = createLimiter({ store, now: c.now, policies: [long] })
    const evicted: { key: string; blockedUntil: number }[] = []
    const warnings: string[] = []
    limiter.on('evicted', (e) => evicted.push(e))
    limiter.on('warn', (w) => warnings.push(w.code))
    for (const key of ['a', 'b', 'c']) limiter.decide(key)
    limiter.decide('quick', { policies: [short] })
    // Four limited entries; two more limited keys push out the one blocked for a minute, then one of the others.
    limiter.decide('d')
    expect(evicted.map((e) => e.key)).toEqual(['quick'])
    expect(evicted[0].blockedUntil).toBe(Math.ceil((c.now() + 1) / 60_000) * 60_000)
    limiter.decide('e')
    expect(evicted).toHaveLength(2)
    expect(warnings).toEqual(['RK_MEMORY_LIMITED_EVICTED'])
    expect(store.size).toBe(4)
    const peeks = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((key) => limiter.peek(key)))
    expect(peeks.filter((d) => !d.allowed)).toHaveLength(4)
    // The newest two are among them: of equal blocks, the entry already held goes first.
    expect(peeks.slice(3).map((d) => d.allowed)).toEqual([false, false])
  })

  it('limited keys stay limited until their block ends, then compete as unlimited keys', () => {
    const c = clock(1_700_000_000_000)
    const store = new MemoryStore({ maxKeys: 10 })
    const limiter = createLimiter({ store, now: c.now, policies: [tokenBucket({ limit: 2, window: '1m' })] })
    limiter.decide('spent')
    limiter.decide('spent')
    for (let i = 0; i < 1_000; i++) limiter.decide(`flood-${i}`)
    expect((limiter.decide('spent') as Decision).allowed).toBe(false)
    // 30 s later one token is back: the key is no longer limited (remaining 1) and may be evicted like any other.
    c.advance(FIFTEEN_MINUTES / 30)
    expect((limiter.decide('spent') as Decision).allowed).toBe(true)
  })
})
