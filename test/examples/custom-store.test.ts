import fc from 'fast-check'
import { createLimiter, fixedWindow, MemoryStore, slidingWindow, tokenBucket } from 'ratekeeper'
import { describe, expect, it } from 'vitest'
import { MapStore } from '../../examples/custom-store.js'

const T0 = Date.UTC(2026, 0, 1)
const POLICIES = [
  tokenBucket({ name: 'per-second', limit: 3, window: '1s', burst: 5 }),
  slidingWindow({ name: 'per-10s', limit: 8, window: '10s' }),
  fixedWindow({ name: 'per-minute', limit: 20, window: '1m' }),
]
const TEAM = [tokenBucket({ name: 'team', limit: 10, window: '1s' })]

type Op =
  | { kind: 'consume' | 'peek'; key: number; cost: number; team: boolean }
  | { kind: 'refund'; key: number; cost: number }
  | { kind: 'reset'; key: number }
  | { kind: 'wait'; ms: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom('consume' as const, 'peek' as const),
      key: fc.nat(3),
      cost: fc.nat(4),
      team: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('refund' as const), key: fc.nat(3), cost: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), key: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 4000 }) }) },
)

describe('examples/custom-store.ts (MapStore)', () => {
  it('decides exactly as the MemoryStore over random traffic (consume, peek, refund, reset, layers)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 200 }), async (ops) => {
        let now = T0
        const mine = createLimiter({ store: new MapStore(), policies: POLICIES, now: () => now })
        const reference = createLimiter({ store: new MemoryStore(), policies: POLICIES, now: () => now })
        const lastAt = new Map<number, number>()
        for (const o of ops) {
          if (o.kind === 'wait') {
            now += o.ms
            continue
          }
          const key = `user:${o.key}`
          if (o.kind === 'reset') {
            await mine.reset(key)
            await reference.reset(key)
            continue
          }
          if (o.kind === 'refund') {
            const at = lastAt.get(o.key) ?? now
            expect(await mine.refund(key, { cost: o.cost, at })).toEqual(await reference.refund(key, { cost: o.cost, at }))
            continue
          }
          const options = { cost: o.cost, layers: o.team ? [{ name: 'team', key: 'team:1', policies: TEAM }] : undefined }
          const a = await mine[o.kind](key, options)
          const b = await reference[o.kind](key, options)
          expect(a).toEqual(b)
          if (a.allowed && o.kind === 'consume') lastAt.set(o.key, a.at)
        }
      }),
      { numRuns: 60 },
    )
  })

  it('is closed by close() and then refuses calls; expired entries are dropped when read', async () => {
    let now = T0
    const store = new MapStore()
    const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 1, window: '1s' })], now: () => now })
    await limiter.consume('a')
    expect(store.size).toBe(1)
    now += 1000
    expect((await limiter.consume('a')).remaining).toBe(0)
    now += 5000
    await limiter.peek('a')
    expect(store.size).toBe(0)
    store.close()
    const d = await limiter.consume('a')
    // A store failure is the limiter's business: onStoreError 'allow' (the default) admits it.
    expect(d.reason).toBe('store-error')
    expect(d.allowed).toBe(true)
  })
})
