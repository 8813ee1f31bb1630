import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createLimiter, type Decision, fixedWindow, MemoryStore, type Policy, slidingWindow, tokenBucket } from '../../src/index.js'

// Any sequence of consumes, denials, refunds, waits and floods of new keys, replayed on a small
// MemoryStore and on a store that never fills (the reference): a watched key may lose its state
// in the small store only while it is not limited (it could admit a request of cost 1), or with
// an `evicted` event naming it. Every decision on a watched key is then the reference's.

type Op =
  | { kind: 'consume'; key: number; cost: number }
  | { kind: 'refund'; key: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'flood'; count: number; hits: number }

const WATCHED = ['w0', 'w1', 'w2']

const opArb = (maxHits: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('consume' as const), key: fc.nat(2), cost: fc.integer({ min: 1, max: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('refund' as const), key: fc.nat(2) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.nat(300), fc.nat(5_000)) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('flood' as const),
        count: fc.integer({ min: 1, max: 40 }),
        hits: fc.integer({ min: 1, max: maxHits }),
      }),
    },
  )

const policiesArb = fc
  .record({
    kind: fc.constantFrom('token-bucket', 'fixed-window', 'sliding-window'),
    limit: fc.integer({ min: 1, max: 4 }),
    windowMs: fc.integer({ min: 500, max: 4_000 }),
    layered: fc.boolean(),
  })
  .map(({ kind, limit, windowMs, layered }) => {
    const first =
      kind === 'token-bucket'
        ? tokenBucket({ name: 'p', limit, window: windowMs })
        : kind === 'fixed-window'
          ? fixedWindow({ name: 'p', limit, window: windowMs })
          : slidingWindow({ name: 'p', limit, window: windowMs })
    const list: Policy[] = [first]
    if (layered) list.push(tokenBucket({ name: 'q', limit: limit + 2, window: windowMs * 3 }))
    return list
  })

interface Outcome {
  evictions: number
}

async function replay(policies: Policy[], maxKeys: number, ops: Op[]): Promise<Outcome> {
  let t = 1_700_000_000_000
  const store = new MemoryStore({ maxKeys })
  const bounded = createLimiter({ store, now: () => t, policies })
  const reference = createLimiter({ store: new MemoryStore({ maxKeys: 64 }), now: () => t, policies })
  const evicted = new Set<string>()
  let evictions = 0
  bounded.on('evicted', (e) => {
    evicted.add(e.key)
    evictions++
  })
  /** Per watched key and policy: until when the reference says it can't admit a request of cost 1. */
  const limitedUntil = new Map<string, number[]>()
  const lastAdmitted = new Map<string, { cost: number; at: number }>()
  let previousOpAt = t
  let flood = 0

  const figures = (d: Decision) => d.policies.map((p) => [p.remaining, p.resetAt])
  /** Before an operation on `key`: the two stores agree on it, or the small one forgot it legitimately. */
  const check = async (key: string) => {
    const small = bounded.decide(key, { cost: 0 }) as Decision
    const large = reference.decide(key, { cost: 0 }) as Decision
    const a = figures(small)
    const b = figures(large)
    for (let i = 0; i < policies.length; i++) {
      if (a[i][0] === b[i][0] && a[i][1] === b[i][1]) continue
      // The small store forgot this entry: only once it was no longer limited, or with an event.
      const until = limitedUntil.get(key)?.[i] ?? 0
      if (!evicted.has(key) && until > previousOpAt) {
        throw new Error(`${key} lost policy ${policies[i].name} while limited until ${until} (last chance to evict at ${previousOpAt})`)
      }
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      await bounded.reset(key)
      await reference.reset(key)
      evicted.delete(key)
    }
  }
  const noteLimits = async (key: string) => {
    const d = await reference.peek(key, { cost: 1 })
    limitedUntil.set(
      key,
      d.policies.map((p) => (p.retryAfterMs > 0 ? t + p.retryAfterMs : t)),
    )
  }

  for (const op of ops) {
    if (op.kind === 'advance') t += op.ms
    else if (op.kind === 'flood') {
      for (let i = 0; i < op.count; i++) {
        const key = `flood-${flood++}`
        for (let j = 0; j < op.hits; j++) bounded.decide(key)
      }
    } else {
      const key = WATCHED[op.key]
      await check(key)
      if (op.kind === 'consume') {
        const small = bounded.decide(key, { cost: op.cost }) as Decision
        const large = reference.decide(key, { cost: op.cost }) as Decision
        expect(small.allowed).toBe(large.allowed)
        expect(figures(small)).toEqual(figures(large))
        if (small.allowed) lastAdmitted.set(key, { cost: op.cost, at: small.at })
      } else {
        const last = lastAdmitted.get(key)
        if (last !== undefined) {
          lastAdmitted.delete(key)
          const small = await bounded.refund(key, last)
          const large = await reference.refund(key, last)
          expect(figures(small)).toEqual(figures(large))
        }
      }
      await noteLimits(key)
    }
    expect(store.size).toBeLessThanOrEqual(maxKeys)
    previousOpAt = t
  }
  return { evictions }
}

describe('MemoryStore eviction against a store that never fills', () => {
  it('no limited or spent key ever gets through early: it keeps its state, or an event names it', async () => {
    await fc.assert(
      fc.asyncProperty(
        policiesArb,
        fc.integer({ min: 2, max: 12 }),
        fc.array(opArb(6), { maxLength: 60 }),
        async (policies, maxKeys, ops) => {
          await replay(policies, maxKeys, ops)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('while limited entries fit in their share, floods of new keys evict none of them, and no event is emitted', async () => {
    await fc.assert(
      fc.asyncProperty(policiesArb, fc.integer({ min: 0, max: 8 }), fc.array(opArb(1), { maxLength: 60 }), async (policies, extra, ops) => {
        // Flood keys decide once: with a limit above 1 none of them is limited.
        const maxKeys = 2 * WATCHED.length * policies.length + extra
        const unlimitedFloods = ops.filter((op) => op.kind !== 'flood' || policies[0].limit > 1)
        const { evictions } = await replay(policies, maxKeys, unlimitedFloods)
        expect(evictions).toBe(0)
      }),
      { numRuns: 150 },
    )
  })
})
