import fc from 'fast-check'
import { expect } from 'vitest'
import { fixedWindow, type Policy, slidingWindow, tokenBucket } from '../../../src/index.js'
import type { Store, StoreResult } from '../../../src/limiter/store.js'

/** One check of a request: policy index and which subject it applies to. */
export interface TraceCheck {
  readonly policy: number
  readonly subject: number
}

export interface TraceOp {
  readonly kind: 'consume' | 'peek' | 'refund' | 'reset'
  /** Time step before the op, ms (negative now and then: a clock that ran backwards). */
  readonly dt: number
  readonly cost: number
  /** Which checks of the request take part (indices into `checks`); empty = all. */
  readonly subset: readonly number[]
  /** Refund: how long before now the cost was charged. */
  readonly chargedAgo: number
}

export interface Trace {
  readonly specs: readonly PolicySpec[]
  readonly checks: readonly TraceCheck[]
  readonly subjects: number
  readonly start: number
  readonly ops: readonly TraceOp[]
}

export type PolicySpec =
  | { kind: 'tb'; limit: number; burst?: number; window: number }
  | { kind: 'fw'; limit: number; window: number | 'month' }
  | { kind: 'sw'; limit: number; window: number; precision: number }

const windows = fc.constantFrom(1, 7, 250, 1000, 1500, 60_000, 3_600_000, 86_400_000)

const tbSpec: fc.Arbitrary<PolicySpec> = fc.oneof(
  fc.record({ kind: fc.constant('tb' as const), limit: fc.integer({ min: 0, max: 12 }), window: windows }).map((s) => ({ ...s })),
  fc
    .record({
      kind: fc.constant('tb' as const),
      limit: fc.integer({ min: 1, max: 12 }),
      extra: fc.integer({ min: 0, max: 10 }),
      window: windows,
    })
    .map(({ extra, ...s }) => ({ ...s, burst: s.limit + extra })),
  // Rates finer than 1/1024 ms per token (ticksPerMs clamped) and huge tick counts.
  fc.record({
    kind: fc.constant('tb' as const),
    limit: fc.constantFrom(1_000_000, 3_000_000, 999_983),
    window: fc.constantFrom(1000, 7, 60_000),
  }),
)
const fwSpec: fc.Arbitrary<PolicySpec> = fc.record({
  kind: fc.constant('fw' as const),
  limit: fc.integer({ min: 0, max: 12 }),
  window: fc.oneof(windows, fc.constant('month' as const)),
})
const swSpec: fc.Arbitrary<PolicySpec> = fc.record({
  kind: fc.constant('sw' as const),
  limit: fc.integer({ min: 0, max: 12 }),
  window: windows,
  precision: fc.integer({ min: 1, max: 12 }),
})

export const specArb = fc.oneof(tbSpec, fwSpec, swSpec)

/** Builds the policies of a trace (named p0, p1, … so names never clash). */
export function buildPolicies(specs: readonly PolicySpec[]): Policy[] {
  return specs.map((s, i) => {
    const name = `p${i}`
    if (s.kind === 'tb')
      return tokenBucket(
        s.burst === undefined ? { name, limit: s.limit, window: s.window } : { name, limit: s.limit, window: s.window, burst: s.burst },
      )
    if (s.kind === 'fw') return fixedWindow({ name, limit: s.limit, window: s.window })
    return slidingWindow({ name, limit: s.limit, window: s.window, precision: s.precision })
  })
}

const dtArb = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 5000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 * 86_400_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 * 86_400_000 }) },
  // A caller clock that runs backwards (skewed app servers with clock 'caller').
  { weight: 1, arbitrary: fc.integer({ min: -5000, max: -1 }) },
)

const opArb = fc.record({
  kind: fc.oneof(
    { weight: 6, arbitrary: fc.constant('consume' as const) },
    { weight: 2, arbitrary: fc.constant('peek' as const) },
    { weight: 2, arbitrary: fc.constant('refund' as const) },
    { weight: 1, arbitrary: fc.constant('reset' as const) },
  ),
  dt: dtArb,
  cost: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 14 }) }),
  subset: fc.oneof(
    { weight: 3, arbitrary: fc.constant([] as number[]) },
    { weight: 1, arbitrary: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }) },
  ),
  chargedAgo: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 40 * 86_400_000 })),
})

const startArb = fc.oneof(
  fc.integer({ min: 0, max: 7_000_000_000_000 }),
  // Just before a UTC month boundary (and around leap days).
  fc
    .constantFrom(Date.UTC(2024, 1, 29), Date.UTC(2025, 0, 1), Date.UTC(2100, 1, 28), Date.UTC(2000, 2, 1))
    .chain((t) => fc.integer({ min: t - 5000, max: t + 5000 })),
  fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }),
)

/** Random traces: up to 3 policies over 1-2 subjects, then up to `maxOps` operations. */
export function traceArb(maxOps: number): fc.Arbitrary<Trace> {
  return fc
    .record({
      specs: fc.array(specArb, { minLength: 1, maxLength: 3 }),
      subjects: fc.integer({ min: 1, max: 2 }),
      start: startArb,
      ops: fc.array(opArb, { minLength: 1, maxLength: maxOps }),
    })
    .chain((t) =>
      fc.array(fc.integer({ min: 0, max: t.subjects - 1 }), { minLength: t.specs.length, maxLength: t.specs.length }).map((subjectOf) => ({
        ...t,
        checks: subjectOf.map((subject, policy) => ({ policy, subject })),
      })),
    )
}

/**
 * Replays `trace` through every store (all fed the same caller clock) and expects identical
 * results from each, op by op. `subjectBase` makes this run's subjects unique in a shared Redis.
 */
export async function replayTrace(trace: Trace, stores: Record<string, Store>, subjectBase: string): Promise<number> {
  const policies = buildPolicies(trace.specs)
  const subjects = Array.from({ length: trace.subjects }, (_, i) => `${subjectBase}:s${i}{x}%}${i}`)
  // Layers share one tag (the last subject), as the limiter does for a key and its team.
  const tag = subjects[subjects.length - 1]
  let now = trace.start
  let compared = 0
  for (const [index, op] of trace.ops.entries()) {
    now = Math.max(0, now + op.dt)
    const picked = op.subset.length === 0 ? trace.checks : op.subset.filter((i) => i < trace.checks.length).map((i) => trace.checks[i])
    const checks = picked.length === 0 ? trace.checks : picked
    const request = {
      keys: checks.map((c) => subjects[c.subject]),
      policies: checks.map((c) => policies[c.policy]),
      cost: op.cost,
      now,
      tag,
    }
    const answers: Record<string, StoreResult | undefined> = {}
    for (const [name, store] of Object.entries(stores)) {
      if (op.kind === 'consume') answers[name] = await store.consume(request)
      else if (op.kind === 'peek') answers[name] = await store.peek(request)
      else if (op.kind === 'refund') answers[name] = await store.refund({ ...request, chargedAt: now - op.chargedAgo })
      else {
        await store.reset(request)
        answers[name] = undefined
      }
    }
    const [first, ...rest] = Object.keys(stores)
    for (const name of rest) {
      expect(answers[name], `op ${index} (${op.kind}, cost ${op.cost}, t=${now}): ${name} vs ${first}`).toEqual(answers[first])
      compared++
    }
  }
  return compared
}
