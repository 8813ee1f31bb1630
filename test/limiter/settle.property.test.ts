// Properties of reserve-then-settle on a token bucket, a fixed window and a sliding window, on the
// memory store and casStore, within one window and with the clock still (so nothing refills and
// "charged" is exactly limit − remaining):
// - with a large limit, what is charged once every reservation is settled is the sum of the actual
//   costs, whatever the order of reservations and settles, and while some are open it is the settled
//   actual costs plus the open estimates;
// - with a small limit (actual costs above it: debt), remaining is never negative and equals
//   max(0, limit − net charged), and a reservation is admitted exactly when its estimate fits.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createLimiter, type Decision, fixedWindow, type Policy, slidingWindow, tokenBucket } from '../../src/index.js'
import { STORES } from './concurrency-stores.js'

// A whole hour: the fixed window's edges fall on it, and the trace never moves the clock.
const T0 = Date.UTC(2026, 0, 1, 12)

const POLICIES: readonly (readonly [string, (limit: number) => Policy])[] = [
  ['token bucket', (limit) => tokenBucket({ name: 'p', limit, window: '1h' })],
  ['fixed window', (limit) => fixedWindow({ name: 'p', limit, window: '1h' })],
  ['sliding window', (limit) => slidingWindow({ name: 'p', limit, window: '1h' })],
]

type Op = { kind: 'reserve'; estimate: number } | { kind: 'settle'; pick: number; actual: number; twice: boolean }

const opsArb = (maxCost: number) =>
  fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('reserve' as const), estimate: fc.integer({ min: 0, max: maxCost }) }),
      fc.record({
        kind: fc.constant('settle' as const),
        pick: fc.nat(),
        actual: fc.integer({ min: 0, max: 4 * maxCost }),
        twice: fc.boolean(),
      }),
    ),
    { maxLength: 40 },
  )

describe.each(STORES)('reserve-then-settle properties on %s', (_store, newStore) => {
  describe.each(POLICIES)('%s', (_policy, make) => {
    const run = async (limit: number, ops: Op[], finalActuals: readonly number[]) => {
      const limiter = createLimiter({ store: newStore(() => T0), now: () => T0, policies: [make(limit)] })
      const open: { decision: Decision; estimate: number }[] = []
      let net = 0
      const charged = async () => {
        const d = await limiter.peek('k', { cost: 0 })
        expect(d.remaining).toBeGreaterThanOrEqual(0)
        expect(d.remaining).toBe(Math.max(0, limit - net))
      }
      for (const op of ops) {
        if (op.kind === 'reserve') {
          const d = await limiter.consume('k', { cost: op.estimate })
          // Admitted exactly when the estimate fits what is left (a cost of 0 always is).
          expect(d.allowed).toBe(op.estimate === 0 || net + op.estimate <= limit)
          if (d.allowed) {
            net += op.estimate
            open.push({ decision: d, estimate: op.estimate })
          }
        } else if (open.length > 0) {
          const [{ decision, estimate }] = open.splice(op.pick % open.length, 1)
          const after = await limiter.settle(decision, op.actual)
          net += op.actual - estimate
          expect(after.remaining).toBe(Math.max(0, limit - net))
          // A second settle changes nothing.
          if (op.twice) await limiter.settle(decision, op.actual + 1)
        }
        await charged()
      }
      let i = 0
      for (const { decision, estimate } of open) {
        const actual = finalActuals[i++ % finalActuals.length]
        await limiter.settle(decision, actual)
        net += actual - estimate
      }
      await charged()
      await limiter.close()
      return net
    }

    it('with a large limit, what is charged is the sum of the actual costs', async () => {
      await fc.assert(
        fc.asyncProperty(opsArb(50), fc.array(fc.integer({ min: 0, max: 150 }), { minLength: 1, maxLength: 5 }), async (ops, finals) => {
          await run(1_000_000, ops, finals)
        }),
        { numRuns: 60 },
      )
    })

    it('with a small limit (debt), remaining is never negative and reservations fit exactly', async () => {
      await fc.assert(
        // Small estimates, so that several reservations are open when one of them goes into debt.
        fc.asyncProperty(fc.integer({ min: 1, max: 10 }), opsArb(3), async (limit, ops) => {
          // Estimates above the limit can never be admitted (exceeds-capacity), which the model also says.
          await run(limit, ops, [0, 7, 30])
        }),
        { numRuns: 100 },
      )
    })
  })
})
