import { describe, expect, it } from 'vitest'
import { type CasBackend, casStore, createLimiter, fixedWindow, MemoryStore, tokenBucket, type Versioned } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

describe('MemoryStore', () => {
  it('10,000 concurrent consumes on one key with limit 100 admit exactly 100', async () => {
    const limiter = createLimiter({ policies: [fixedWindow({ limit: 100, window: '1h' })] })
    const decisions = await Promise.all(Array.from({ length: 10_000 }, () => limiter.consume('hot')))
    expect(decisions.filter((d) => d.allowed)).toHaveLength(100)
  })

  it('1,000,000 distinct keys with maxKeys 10,000: at most 10,000 entries and bounded heap', () => {
    const store = new MemoryStore({ maxKeys: 10_000 })
    const limiter = createLimiter({ store, now: () => 1_000_000, policies: [tokenBucket({ limit: 10, window: '1m' })] })
    for (let i = 0; i < 20_000; i++) limiter.decide(`warm-${i}`)
    globalThis.gc?.()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 1_000_000; i++) limiter.decide(`user-${i}`)
    expect(store.size).toBeLessThanOrEqual(10_000)
    globalThis.gc?.()
    const growth = process.memoryUsage().heapUsed - before
    // 10,000 entries of ~110 B; allow generous slack for GC timing, far below unbounded (~250 MB).
    expect(growth).toBeLessThan(40 * 1024 * 1024)
  })

  it('a flood of new keys never evicts (and so never unblocks) a limited key', () => {
    const c = clock(1_000_000)
    const store = new MemoryStore({ maxKeys: 100 })
    const limiter = createLimiter({ store, now: c.now, policies: [tokenBucket({ limit: 2, window: '1h' })] })
    limiter.decide('attacker')
    limiter.decide('attacker')
    expect(limiter.decide('attacker')).toMatchObject({ allowed: false })
    for (let i = 0; i < 10_000; i++) limiter.decide(`flood-${i}`)
    expect(store.size).toBeLessThanOrEqual(100)
    expect(limiter.decide('attacker')).toMatchObject({ allowed: false })
  })

  it('when every entry is limited, the one whose block ends soonest goes, and an event says so', () => {
    const c = clock(1_000_000)
    const store = new MemoryStore({ maxKeys: 3 })
    const limiter = createLimiter({ store, now: c.now, policies: [fixedWindow({ limit: 1, window: '1h' })] })
    const evicted: string[] = []
    limiter.on('evicted', (e) => evicted.push(e.key))
    limiter.decide('a', { policies: [fixedWindow({ name: 'long', limit: 1, window: '2h' })] })
    limiter.decide('a', { policies: [fixedWindow({ name: 'long', limit: 1, window: '2h' })] })
    limiter.decide('b')
    limiter.decide('b')
    limiter.decide('c', { policies: [fixedWindow({ name: 'longer', limit: 1, window: '3h' })] })
    limiter.decide('c', { policies: [fixedWindow({ name: 'longer', limit: 1, window: '3h' })] })
    limiter.decide('d')
    // b's block (1h window) ends first.
    expect(evicted).toEqual(['b'])
    expect(limiter.decide('a', { policies: [fixedWindow({ name: 'long', limit: 1, window: '2h' })] })).toMatchObject({ allowed: false })
  })

  it('blocked keys that expired are evicted like any other', () => {
    const c = clock(1_000_000)
    const store = new MemoryStore({ maxKeys: 2 })
    const limiter = createLimiter({ store, now: c.now, policies: [tokenBucket({ limit: 1, window: '1s' })] })
    limiter.decide('a')
    limiter.decide('a')
    c.advance(5_000)
    limiter.decide('b')
    limiter.decide('c')
    expect(store.size).toBeLessThanOrEqual(2)
  })

  it('drops entries that are fresh again (refund to full, prune)', () => {
    const c = clock(1_000_000)
    const store = new MemoryStore()
    const limiter = createLimiter({ store, now: c.now, policies: [tokenBucket({ limit: 5, window: '1s' })] })
    const d = limiter.decide('k')
    expect(store.size).toBe(1)
    void limiter.refund('k', { cost: 1, at: (d as { at: number }).at })
    expect(store.size).toBe(0)
    limiter.decide('k')
    expect(store.prune(c.now() + 10_000)).toBe(1)
    expect(store.size).toBe(0)
  })

  it('close() leaves no open handle and rejects later calls', () => {
    const store = new MemoryStore()
    const handles = process.getActiveResourcesInfo().length
    store.close()
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(handles)
    expect(() => store.reset({ keys: ['k'], policies: [], cost: 0, now: 0, tag: 'k' })).toThrow(/after close/)
  })
})

/** A versioned in-process key-value backend, standing in for etcd/DynamoDB-style stores. */
function versionedMap(): CasBackend & { data: Map<string, Versioned & { expiresAt: number }>; conflicts: number } {
  const data = new Map<string, Versioned & { expiresAt: number }>()
  let version = 0
  const backend = {
    data,
    conflicts: 0,
    get: async (keys: readonly string[]) => keys.map((k) => data.get(k)),
    commit: async (writes: readonly { key: string; expected: unknown; value: string | undefined; ttlMs: number }[]) => {
      // Yield first so concurrent callers interleave and really race.
      await new Promise((r) => setImmediate(r))
      for (const w of writes) {
        if (data.get(w.key)?.version !== w.expected) {
          backend.conflicts++
          return false
        }
      }
      for (const w of writes) {
        if (w.value === undefined) data.delete(w.key)
        else data.set(w.key, { value: w.value, version: ++version, expiresAt: Date.now() + w.ttlMs })
      }
      return true
    },
    delete: async (keys: readonly string[]) => {
      for (const k of keys) data.delete(k)
    },
  }
  return backend
}

describe('casStore', () => {
  it('runs the same policies on any compare-and-set backend, all-or-nothing, exact under races', async () => {
    const backend = versionedMap()
    const limiter = createLimiter({
      store: casStore({ backend, maxAttempts: 1000 }),
      now: () => 1_000_000,
      policies: [tokenBucket({ name: 'a', limit: 20, window: '1m' }), fixedWindow({ name: 'b', limit: 15, window: '1h' })],
    })
    const decisions = await Promise.all(Array.from({ length: 40 }, () => limiter.consume('k')))
    expect(decisions.filter((d) => d.allowed)).toHaveLength(15)
    expect(backend.conflicts).toBeGreaterThan(0)
    const d = await limiter.peek('k')
    expect(d.policies.map((p) => p.remaining)).toEqual([5, 0])
    await limiter.refund('k', { cost: 3, at: 1_000_000 })
    expect((await limiter.peek('k')).policies.map((p) => p.remaining)).toEqual([8, 3])
    await limiter.reset('k')
    expect(backend.data.size).toBe(0)
  })

  it('gives up with ERR_RK_STORE after maxAttempts conflicts (and the limiter applies onStoreError)', async () => {
    const backend: CasBackend = { get: () => [undefined], commit: () => false, delete: () => {} }
    const limiter = createLimiter({
      store: casStore({ backend, maxAttempts: 3 }),
      policies: [tokenBucket({ limit: 1, window: '1s' })],
      onStoreError: 'deny',
    })
    expect(await limiter.consume('k')).toMatchObject({ allowed: false, reason: 'store-error' })
    expect(() => casStore({ backend: {} as never })).toThrow(/backend/)
  })
})
