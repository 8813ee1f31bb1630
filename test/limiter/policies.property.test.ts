import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, type Policy, slidingWindow, tokenBucket } from '../../src/index.js'
import { type Admission, maxPerWindow } from '../helpers/admissions.js'

type Step = { dt: number; cost: number; refund: boolean }

const stepArb = (maxDt: number, maxCost: number) =>
  fc.record({ dt: fc.integer({ min: 0, max: maxDt }), cost: fc.integer({ min: 0, max: maxCost }), refund: fc.boolean() })

/** Replays a trace through a limiter with one policy; returns admitted (time, cost) pairs. */
function replay(policy: Policy, steps: Step[], opts: { refunds?: boolean; backwards?: boolean } = {}) {
  let t = 1_700_000_000_000
  let maxT = Number.NEGATIVE_INFINITY
  const limiter = createLimiter({ store: new MemoryStore(), now: () => t, policies: [policy] })
  const admitted: Admission[] = []
  for (const s of steps) {
    t += opts.backwards && s.refund && !opts.refunds ? -s.dt : s.dt
    const d = limiter.decide('k', { cost: s.cost })
    if (d instanceof Promise) throw new Error('memory store must answer synchronously')
    expect(d.remaining).toBeGreaterThanOrEqual(0)
    for (const p of d.policies) expect(p.remaining).toBeGreaterThanOrEqual(0)
    if (d.allowed && s.cost > 0) {
      // Stamped with the latest time any admission saw: capacity is judged against it.
      maxT = Math.max(maxT, t)
      admitted.push({ t: maxT, cost: s.cost })
    }
    if (opts.refunds && s.refund && d.allowed && s.cost > 0) {
      const r = limiter.refund('k', { cost: s.cost, at: d.at })
      admitted.pop()
      void r
    }
    const peek = limiter.decide('k', { cost: 0 })
    if (peek instanceof Promise) throw new Error('sync')
    expect(peek.remaining).toBeLessThanOrEqual(policy.burst)
  }
  return admitted
}

/** Most cost admitted in any span of `span` ms ending at an admitted request. */
function maxInSpan(admitted: readonly Admission[], span: number): number {
  let best = 0
  for (let j = 0; j < admitted.length; j++) {
    let sum = 0
    for (let i = j; i >= 0 && admitted[i].t > admitted[j].t - span; i--) sum += admitted[i].cost
    best = Math.max(best, sum)
  }
  return best
}

/** A token bucket's bound: the cost admitted from one admission to a later one is at most `burst` plus the refill between them. */
function expectBucketBound(admitted: readonly Admission[], burst: number, limit: number, windowMs: number): void {
  for (let j = 0; j < admitted.length; j++) {
    let sum = 0
    for (let i = j; i >= 0; i--) {
      sum += admitted[i].cost
      const span = admitted[j].t - admitted[i].t
      expect(sum).toBeLessThanOrEqual(burst + Math.floor((span * limit) / windowMs))
    }
  }
}

describe('properties', () => {
  it('token bucket: admitted cost in any span ≤ burst + limit·span/window; remaining never negative', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 10 }),
        fc.array(stepArb(400, 5), { maxLength: 120 }),
        (limit, windowMs, extra, steps) => {
          const burst = limit + extra
          expectBucketBound(replay(tokenBucket({ limit, window: windowMs, burst }), steps), burst, limit, windowMs)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('fixed window: never more than the limit within one window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.array(stepArb(500, 6), { maxLength: 120 }),
        (limit, windowMs, steps) => {
          const admitted = replay(fixedWindow({ limit, window: windowMs }), steps)
          expect(maxPerWindow(admitted, windowMs)).toBeLessThanOrEqual(limit)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('sliding window: never more than the limit in any window-long span (hard), and denies only when the limit was reached within window + one sub-window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(stepArb(300, 4), { maxLength: 150 }),
        (limit, windowMs, precision, steps) => {
          const policy = slidingWindow({ limit, window: windowMs, precision })
          const sub = Math.ceil(windowMs / precision)
          let t = 1_700_000_000_000
          const limiter = createLimiter({ now: () => t, policies: [policy] })
          const admitted: Admission[] = []
          for (const s of steps) {
            t += s.dt
            const d = limiter.decide('k', { cost: s.cost })
            if (d instanceof Promise) throw new Error('sync')
            const inLast = (span: number) => admitted.filter((a) => a.t > t - span).reduce((x, a) => x + a.cost, 0)
            if (d.allowed) {
              if (s.cost > 0) admitted.push({ t, cost: s.cost })
              // Upper bound: including this request, the last window holds at most the limit.
              expect(inLast(windowMs)).toBeLessThanOrEqual(limit)
            } else if (s.cost <= limit) {
              // Lower bound: a denial means the counted sub-windows were full. They reach back at
              // most ⌈window / sub⌉ sub-windows before the current one: window + one sub-window
              // when the sub-window divides the window, up to nearly two otherwise.
              expect(inLast(Math.ceil(windowMs / sub) * sub + sub) + s.cost).toBeGreaterThan(limit)
            }
          }
          expect(maxInSpan(admitted, windowMs)).toBeLessThanOrEqual(limit)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('refunds never exceed capacity and the invariants still hold', () => {
    fc.assert(
      fc.property(fc.array(stepArb(300, 4), { maxLength: 100 }), (steps) => {
        replay(tokenBucket({ limit: 5, window: 1000, burst: 8 }), steps, { refunds: true })
        replay(fixedWindow({ limit: 5, window: 1000 }), steps, { refunds: true })
        replay(slidingWindow({ limit: 5, window: 1000 }), steps, { refunds: true })
      }),
      { numRuns: 100 },
    )
  })

  it('a clock going backwards never mints capacity', () => {
    fc.assert(
      fc.property(fc.array(stepArb(2000, 3), { maxLength: 100 }), (steps) => {
        const tb = replay(tokenBucket({ limit: 4, window: 1000 }), steps, { backwards: true })
        // Admissions are stamped with the latest time seen: the bound holds against it.
        expectBucketBound(tb, 4, 4, 1000)
        const fw = replay(fixedWindow({ limit: 4, window: 1000 }), steps, { backwards: true })
        expect(maxPerWindow(fw, 1000)).toBeLessThanOrEqual(4)
        const sw = replay(slidingWindow({ limit: 4, window: 1000 }), steps, { backwards: true })
        expect(maxInSpan(sw, 1000)).toBeLessThanOrEqual(4)
      }),
      { numRuns: 100 },
    )
  })

  it('all-or-nothing: a denied multi-policy request charges no policy', () => {
    fc.assert(
      fc.property(fc.array(stepArb(200, 5), { maxLength: 80 }), (steps) => {
        let t = 1_000_000
        const policies = [
          tokenBucket({ name: 'a', limit: 6, window: 1000, burst: 9 }),
          fixedWindow({ name: 'b', limit: 10, window: 2000 }),
          slidingWindow({ name: 'c', limit: 8, window: 1500 }),
        ]
        const limiter = createLimiter({ now: () => t, policies })
        for (const s of steps) {
          t += s.dt
          const before = limiter.decide('k', { cost: 0 })
          const d = limiter.decide('k', { cost: s.cost })
          const after = limiter.decide('k', { cost: 0 })
          if (before instanceof Promise || d instanceof Promise || after instanceof Promise) throw new Error('sync')
          if (!d.allowed) {
            expect(after.policies.map((p) => p.remaining)).toEqual(before.policies.map((p) => p.remaining))
            expect(d.violated.length).toBeGreaterThan(0)
          } else {
            before.policies.forEach((p, i) => {
              expect(after.policies[i].remaining).toBe(Math.min(p.remaining, policies[i].burst) - s.cost)
            })
          }
        }
      }),
      { numRuns: 150 },
    )
  })

  it('remaining is exactly how many cost-1 requests succeed right now', () => {
    fc.assert(
      fc.property(fc.constantFrom('tb', 'fw', 'sw'), fc.array(stepArb(300, 3), { maxLength: 40 }), (kind, steps) => {
        let t = 5_000_000
        const policy =
          kind === 'tb'
            ? tokenBucket({ limit: 5, window: 1000, burst: 7 })
            : kind === 'fw'
              ? fixedWindow({ limit: 6, window: 1000 })
              : slidingWindow({ limit: 6, window: 1000 })
        const limiter = createLimiter({ now: () => t, policies: [policy] })
        for (const s of steps) {
          t += s.dt
          limiter.decide('k', { cost: s.cost })
        }
        const peek = limiter.decide('k', { cost: 0 })
        if (peek instanceof Promise) throw new Error('sync')
        let ok = 0
        for (;;) {
          const d = limiter.decide('k')
          if (d instanceof Promise) throw new Error('sync')
          if (!d.allowed) break
          ok++
        }
        expect(ok).toBe(peek.remaining)
      }),
      { numRuns: 150 },
    )
  })
})
