import { channel } from 'node:diagnostics_channel'
import { describe, expect, it } from 'vitest'
import {
  type CasBackend,
  casStore,
  createLimiter,
  type Decision,
  fixedWindow,
  MemoryStore,
  type Policy,
  slidingWindow,
  tokenBucket,
} from '../../src/index.js'
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

describe('MemoryStore: limited entries', () => {
  const setup = (maxKeys: number) => {
    const c = clock(1_000_000)
    const store = new MemoryStore({ maxKeys })
    const limiter = createLimiter({ store, now: c.now, policies: [fixedWindow({ name: 'fw', limit: 2, window: '1m' })] })
    const decide = (key: string, cost = 1) => limiter.decide(key, { cost }) as Decision
    return { c, store, limiter, decide }
  }

  it('a refund gives a spent key something to spend: it is an ordinary entry again', async () => {
    const { store, limiter, decide } = setup(4)
    decide('a')
    const spent = decide('a')
    expect(spent.remaining).toBe(0)
    await limiter.refund('a', { cost: 1, at: spent.at })
    expect(decide('a').remaining).toBe(0)
    expect(decide('a').allowed).toBe(false)
    expect(store.size).toBe(1)
  })

  it('reset forgets a limited key; peeks change nothing', async () => {
    const { store, limiter, decide } = setup(4)
    decide('a', 2)
    expect((await limiter.peek('a')).allowed).toBe(false)
    expect(decide('a', 0)).toMatchObject({ allowed: true, remaining: 0 })
    expect(store.size).toBe(1)
    await limiter.reset('a')
    expect(store.size).toBe(0)
    expect(decide('a').remaining).toBe(1)
  })

  it('a denial of a larger cost protects the entry until that cost could pass', () => {
    const c = clock(1_000_000)
    const store = new MemoryStore({ maxKeys: 4 })
    const limiter = createLimiter({ store, now: c.now, policies: [tokenBucket({ limit: 4, window: '4s' })] })
    limiter.decide('a', { cost: 2 })
    expect(limiter.decide('a', { cost: 4 })).toMatchObject({ allowed: false, retryAfterMs: 2_000 })
    c.advance(1_500)
    // Not spent (3 left), but denied 2 s before: a flood does not free it yet.
    for (let i = 0; i < 50; i++) limiter.decide(`flood-${i}`)
    expect(limiter.decide('a', { cost: 0 })).toMatchObject({ remaining: 3 })
  })

  it('prune drops limited entries that are fresh and moves those whose block ended back', () => {
    const { c, store, decide } = setup(10)
    decide('a', 2)
    decide('b', 2)
    expect(store.size).toBe(2)
    c.advance(60_000)
    expect(store.prune(c.now())).toBe(2)
    expect(store.size).toBe(0)
    // A token bucket whose block (1 s, one token) ends long before it is full again (2 s).
    const bucket = [tokenBucket({ name: 'tb', limit: 2, window: '2s' })]
    store.consume({ keys: ['c'], policies: bucket, cost: 2, now: c.now(), tag: 'c' })
    c.advance(1_000)
    const steps = store.evictionSteps
    expect(store.prune(c.now())).toBe(0)
    // Moved back to the LRU (one step), not dropped.
    expect(store.evictionSteps).toBe(steps + 1)
    expect(store.size).toBe(1)
    const look = store.peek({ keys: ['c'], policies: bucket, cost: 0, now: c.now(), tag: 'c' })
    expect(look.allowed).toBe(true)
    expect(look.results[0]).toBe(1)
  })

  it('close() empties both segments', () => {
    const { store, decide } = setup(4)
    decide('a', 2)
    decide('b')
    expect(store.size).toBe(2)
    store.close()
    expect(store.size).toBe(0)
  })

  it('maxKeys 1: a spent newcomer may take the only slot; the next newcomer takes it back, with an event', () => {
    const { store, limiter, decide } = setup(1)
    const evicted: string[] = []
    limiter.on('evicted', (e) => evicted.push(e.key))
    decide('a')
    decide('b', 2)
    expect(store.size).toBe(1)
    expect(decide('b').allowed).toBe(false)
    decide('c')
    expect(evicted).toEqual(['b'])
    expect(store.size).toBe(1)
  })
})

// The store remembers the entry of the last single-policy decision and skips the LRU lookup when
// the next one is for the same entry. These pin that it never changes what the LRU would do.
describe('MemoryStore: deciding the most recently used entry again', () => {
  const setup = (maxKeys: number) => {
    const c = clock(1_000_000)
    const store = new MemoryStore({ maxKeys })
    const bucket = tokenBucket({ name: 'bucket', limit: 10, window: '1h' })
    const limiter = createLimiter({ store, now: c.now, policies: [bucket] })
    const decide = (key: string) => limiter.decide(key) as Decision
    const remaining = async (key: string) => (await limiter.peek(key, { cost: 0 })).remaining
    return { c, store, limiter, decide, remaining }
  }

  it('a, b, a: a is the most recently used, so a new key evicts b', async () => {
    const { store, decide, remaining } = setup(2)
    decide('a')
    decide('b')
    expect(decide('a').remaining).toBe(8)
    decide('c')
    expect(store.size).toBe(2)
    expect(await remaining('a')).toBe(8)
    expect(await remaining('b')).toBe(10)
  })

  it('a, b, b: deciding b again leaves a the least recently used, so a new key evicts a', async () => {
    const { store, decide, remaining } = setup(2)
    decide('a')
    decide('b')
    expect(decide('b').remaining).toBe(8)
    decide('c')
    expect(store.size).toBe(2)
    expect(await remaining('a')).toBe(10)
    expect(await remaining('b')).toBe(8)
  })

  it('a, a decision on several entries, a: the multi-entry lookups moved a back, so a is looked up again', async () => {
    const { store, limiter, decide, remaining } = setup(3)
    const layered = { layers: [{ name: 'team', key: 't', policies: [tokenBucket({ name: 'team', limit: 100, window: '1h' })] }] }
    decide('a')
    limiter.decide('b', layered)
    expect(decide('a').remaining).toBe(8)
    // Least recently used first: b, t, a. A new key evicts b.
    decide('c')
    expect(store.size).toBe(3)
    expect(await remaining('a')).toBe(8)
    expect(await remaining('b')).toBe(10)
  })

  it('while lru-cache metrics have a subscriber, every decision still looks its entry up (and is reported)', () => {
    const { decide } = setup(10)
    const metrics = channel('lru-cache:metrics')
    const gets: unknown[] = []
    const listen = (message: unknown) => {
      if ((message as { op?: string }).op === 'get') gets.push((message as { key?: unknown }).key)
    }
    decide('a')
    metrics.subscribe(listen)
    try {
      decide('a')
      decide('a')
    } finally {
      metrics.unsubscribe(listen)
    }
    expect(gets).toEqual(['a', 'a'])
  })

  it('evicting the remembered key to make room: its slot goes to another key, and the key starts afresh', async () => {
    const { store, limiter, decide } = setup(2)
    const team = tokenBucket({ name: 'team', limit: 100, window: '1h' })
    const layered = { layers: [{ name: 'team', key: 't', policies: [team] }] }
    decide('a')
    decide('a')
    expect(decide('a').remaining).toBe(7)
    // Two new entries ('b' and the team's 't'): 'a', the least recently used, is evicted for the second.
    expect((limiter.decide('b', layered) as Decision).policies.map((p) => p.remaining)).toEqual([9, 99])
    expect(store.size).toBe(2)
    expect(decide('a').remaining).toBe(9)
    expect((await limiter.peek('b', { ...layered, cost: 0 })).policies.map((p) => p.remaining)).toEqual([10, 99])
  })

  it('evicting with maxKeys 1: each new key takes the slot of the one before, none inherits its state', () => {
    const { store, decide } = setup(1)
    for (let i = 0; i < 3; i++) decide('a')
    expect(decide('b').remaining).toBe(9)
    expect(decide('a').remaining).toBe(9)
    expect(decide('a').remaining).toBe(8)
    expect(store.size).toBe(1)
  })

  it('reset and refund of the remembered key are seen by the next decision', async () => {
    const { store, limiter, decide } = setup(10)
    decide('a')
    expect(decide('a').remaining).toBe(8)
    await limiter.reset('a')
    expect(store.size).toBe(0)
    expect(decide('a').remaining).toBe(9)
    // A refund back to full drops the entry (and frees its slot).
    await limiter.refund('a', { cost: 1 })
    expect(store.size).toBe(0)
    expect(decide('b').remaining).toBe(9)
    expect(decide('a').remaining).toBe(9)
    await limiter.refund('a', { cost: 1 })
    decide('a')
    expect(decide('a').remaining).toBe(8)
  })

  it('prune drops the remembered key when it is fresh again', () => {
    const { c, store, decide } = setup(10)
    decide('a')
    c.advance(3_600_000)
    expect(store.prune(c.now())).toBe(1)
    expect(decide('a').remaining).toBe(9)
    expect(store.size).toBe(1)
  })

  it('close() forgets it: the next decision is a store error, not a stale answer', () => {
    const { store, decide } = setup(10)
    decide('a')
    store.close()
    expect(decide('a')).toMatchObject({ allowed: true, reason: 'store-error' })
  })

  it('an evicted listener that decides on the same store does not change the decision in progress', () => {
    const store = new MemoryStore({ maxKeys: 2 })
    const now = () => 1_000_000
    const strict = createLimiter({ store, now, policies: [tokenBucket({ name: 'one', limit: 1, window: '1h' })] })
    const loose = createLimiter({ store, now, policies: [tokenBucket({ name: 'five', limit: 5, window: '1h' })] })
    const nested: Decision[] = []
    let deciding = false
    // The eviction is heard by the limiter whose call caused it, which decides on the same store
    // meanwhile; the nested decision makes room too (another event), hence the flag.
    strict.on('evicted', () => {
      if (deciding) return
      deciding = true
      nested.push(loose.decide('x') as Decision)
    })
    for (const key of ['a', 'a', 'b', 'b']) strict.decide(key)
    const d = strict.decide('c') as Decision
    expect(nested).toHaveLength(1)
    expect(d).toMatchObject({ allowed: true, remaining: 0, resetAt: 1_000_000 + 3_600_000 })
    expect(nested[0]).toMatchObject({ allowed: true, remaining: 4, resetAt: 1_000_000 + 720_000 })
  })

  it('decisions are independent: a later one never changes an earlier one, policies included', () => {
    const { decide } = setup(10)
    const first = decide('a')
    const second = decide('a')
    expect(first.policies[0]).toMatchObject({ remaining: 9, retryAfterMs: 0, violated: false })
    expect(second.policies[0]).toMatchObject({ remaining: 8, retryAfterMs: 0, violated: false })
    const c = clock(1_000_000)
    const one = createLimiter({ now: c.now, policies: [tokenBucket({ name: 'one', limit: 1, window: '1m' })] })
    const admitted = one.decide('k') as Decision
    const denied = one.decide('k') as Decision
    expect(denied.policies[0]).toMatchObject({ remaining: 0, retryAfterMs: 60_000, violated: true })
    expect(admitted.policies[0]).toMatchObject({ remaining: 0, retryAfterMs: 0, violated: false })
    expect(denied.violated).toEqual(['one'])
  })

  it('the same decisions with and without the LRU lookups skipped, and on the general path', async () => {
    // lru-cache publishes every get to this channel while it has subscribers: the store then never skips one.
    const metrics = channel('lru-cache:metrics')
    const trace = (seed: number) => {
      let x = seed
      const random = () => {
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648
        return x / 2_147_483_648
      }
      return Array.from({ length: 400 }, () => ({
        key: ['a', 'b', 'c', 'd', 'e'][Math.floor(random() * 5)],
        advance: [0, 0, 0, 1, 250, 5_000][Math.floor(random() * 6)],
        op: ['decide', 'decide', 'decide', 'general', 'peek', 'refund', 'reset', 'layered'][Math.floor(random() * 8)],
      }))
    }
    const run = async (policies: Policy[], steps: ReturnType<typeof trace>, general: boolean) => {
      const c = clock(1_000_000)
      const store = new MemoryStore({ maxKeys: 3 })
      const limiter = createLimiter({ store, now: c.now, policies, dryRun: false })
      const team = [tokenBucket({ name: 'team', limit: 4, window: '10s' })]
      const seen: unknown[] = []
      for (const { key, advance, op } of steps) {
        c.advance(advance)
        let d: Decision | undefined
        if (op === 'decide') d = (general ? limiter.decide(key, {}) : limiter.decide(key)) as Decision
        else if (op === 'general') d = limiter.decide(key, { cost: 1 }) as Decision
        else if (op === 'peek') d = await limiter.peek(key)
        else if (op === 'refund') d = await limiter.refund(key, { cost: 1 })
        else if (op === 'reset') await limiter.reset(key)
        else d = limiter.decide(key, { layers: [{ name: 'team', key: 'T', policies: team }] }) as Decision
        seen.push(d === undefined ? null : JSON.stringify(d), store.size)
      }
      return JSON.stringify(seen)
    }
    const lists: Policy[][] = [
      [tokenBucket({ name: 'tb', limit: 3, window: '1s' })],
      [fixedWindow({ name: 'fw', limit: 2, window: '1s' })],
      [slidingWindow({ name: 'sw', limit: 3, window: '1s' })],
    ]
    for (const [i, policies] of lists.entries()) {
      const steps = trace(i + 1)
      const skipping = await run(policies, steps, false)
      const onGeneralPath = await run(policies, steps, true)
      const listen = () => {}
      metrics.subscribe(listen)
      let looking: string
      try {
        looking = await run(policies, steps, false)
      } finally {
        metrics.unsubscribe(listen)
      }
      expect(skipping).toEqual(looking)
      expect(onGeneralPath).toEqual(looking)
    }
  })
})

/** A versioned in-process key-value backend, standing in for etcd/DynamoDB-style stores. */
function versionedMap(): CasBackend & { data: Map<string, CasBackend.Versioned & { expiresAt: number }>; conflicts: number } {
  const data = new Map<string, CasBackend.Versioned & { expiresAt: number }>()
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
    const policies = [tokenBucket({ name: 'a', limit: 20, window: '1m' }), fixedWindow({ name: 'b', limit: 15, window: '1h' })]
    const limiter = createLimiter({ store: casStore({ backend, maxAttempts: 1000 }), now: () => 1_000_000, policies })
    // Another process on the same backend: its writes race this one's (a process decides its own requests for a key together).
    const other = createLimiter({ store: casStore({ backend, maxAttempts: 1000 }), now: () => 1_000_000, policies })
    const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? limiter : other).consume('k')))
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
