// Properties of a concurrency limit under any interleaving of acquires, releases, clock jumps and
// crashed holders (that never release), on the memory store and casStore: the store agrees with a
// model of live leases at every step — so in flight never exceeds the limit, remaining is never
// negative — and once everything is released or expired, nothing is in flight.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { concurrency, createLimiter, type Decision, fixedWindow } from '../../src/index.js'
import { STORES } from './concurrency-stores.js'

const T0 = 1_700_000_000_000
const LEASE_MS = 1_000

type Op =
  | { kind: 'acquire'; key: number; crash: boolean }
  | { kind: 'release'; pick: number; twice: boolean }
  | { kind: 'jump'; ms: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('acquire' as const), key: fc.integer({ min: 0, max: 1 }), crash: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat(), twice: fc.boolean() }) },
  // Jumps around the lease length, so leases expire mid-trace (and exactly at their deadline).
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('jump' as const), ms: fc.oneof(fc.integer({ min: 0, max: 1_500 }), fc.constant(LEASE_MS)) }),
  },
)

interface Held {
  readonly decision: Decision
  readonly key: number
  readonly expiresAt: number
  readonly crashed: boolean
  released: boolean
}

describe.each(STORES)('concurrency properties on %s', (_name, newStore) => {
  it('the store agrees with the live leases at every step: never above the limit, never negative, back to 0 at the end', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(opArb, { maxLength: 60 }), async (limit, ops) => {
        let t = T0
        const limiter = createLimiter({
          store: newStore(() => t),
          now: () => t,
          policies: [concurrency({ name: 'in-flight', limit, leaseMs: LEASE_MS, retryAfter: '1s' })],
        })
        const held: Held[] = []
        const inFlight = (key: number) => held.filter((h) => h.key === key && !h.released && h.expiresAt > t).length
        const check = async () => {
          for (const key of [0, 1]) {
            const n = inFlight(key)
            expect(n).toBeLessThanOrEqual(limit)
            const peek = await limiter.peek(`k${key}`)
            expect(peek.remaining).toBeGreaterThanOrEqual(0)
            expect(peek.remaining).toBe(limit - n)
          }
        }
        for (const op of ops) {
          if (op.kind === 'acquire') {
            const before = inFlight(op.key)
            const d = await limiter.consume(`k${op.key}`)
            expect(d.allowed).toBe(before < limit)
            if (!d.allowed) {
              // The hint: at most retryAfter, and no later than the earliest live lease's expiry.
              const earliest = Math.min(...held.filter((h) => h.key === op.key && !h.released && h.expiresAt > t).map((h) => h.expiresAt))
              expect(d.retryAfterMs).toBe(Math.max(1, Math.min(1_000, earliest - t)))
            }
            if (d.allowed) held.push({ decision: d, key: op.key, expiresAt: t + LEASE_MS, crashed: op.crash, released: false })
          } else if (op.kind === 'release') {
            const candidates = held.filter((h) => !h.crashed)
            if (candidates.length > 0) {
              const h = candidates[op.pick % candidates.length]
              await limiter.release(h.decision)
              if (op.twice) await limiter.release(h.decision)
              h.released = true
            }
          } else {
            t += op.ms
          }
          await check()
        }
        // Every holder that did not crash releases; crashed leases expire after leaseMs.
        for (const h of held) if (!h.crashed && !h.released) await limiter.release(h.decision)
        for (const key of [0, 1]) {
          const running = held.filter((h) => h.key === key && h.crashed && h.expiresAt > t).length
          expect((await limiter.peek(`k${key}`)).remaining).toBe(limit - running)
        }
        t += LEASE_MS
        for (const key of [0, 1]) expect((await limiter.peek(`k${key}`)).remaining).toBe(limit)
        await limiter.close()
      }),
      { numRuns: 120 },
    )
  })

  it('with a rate policy beside it, a request takes a lease and a token together or neither', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), async (ops) => {
        let t = T0
        const limit = 2
        const tokens = 5
        const limiter = createLimiter({
          store: newStore(() => t),
          now: () => t,
          policies: [
            fixedWindow({ name: 'per-day', limit: tokens, window: '1d' }),
            concurrency({ name: 'in-flight', limit, leaseMs: LEASE_MS }),
          ],
        })
        const held: Held[] = []
        let spent = 0
        for (const op of ops) {
          if (op.kind === 'acquire') {
            const live = held.filter((h) => !h.released && h.expiresAt > t).length
            const d = await limiter.consume('k')
            expect(d.allowed).toBe(live < limit && spent < tokens)
            if (d.allowed) {
              spent++
              held.push({ decision: d, key: 0, expiresAt: t + LEASE_MS, crashed: op.crash, released: false })
            }
          } else if (op.kind === 'release') {
            const open = held.filter((h) => !h.crashed && !h.released)
            if (open.length > 0) {
              const h = open[op.pick % open.length]
              await limiter.release(h.decision)
              h.released = true
            }
          } else {
            // Within one day: the daily window never starts over here.
            t += op.ms
          }
          const live = held.filter((h) => !h.released && h.expiresAt > t).length
          expect((await limiter.peek('k', { cost: 0 })).policies.map((p) => p.remaining)).toEqual([tokens - spent, limit - live])
        }
        await limiter.close()
      }),
      { numRuns: 100 },
    )
  })
})
