import fc from 'fast-check'
import { expect } from 'vitest'
import { concurrency, fixedWindow, type Policy, slidingWindow, tokenBucket } from '../../../src/index.js'
import { type PenaltyBoxPolicy, penaltyBox } from '../../../src/limiter/algorithms/penalty-box.js'
import type { Store, StoreResult } from '../../../src/limiter/store.js'

/** One check of a request: policy index and which subject it applies to. */
export interface TraceCheck {
  readonly policy: number
  readonly subject: number
}

export interface TraceOp {
  /**
   * `release`: a refund of the concurrency checks alone, with the lease (what `limiter.release` sends).
   * `block`: what `limiter.block` sends: a charge of the penalty boxes alone, blocking until now +
   * `chargedAgo` (an odd `cost`: now − `chargedAgo`, a block ending in the past), with one of
   * `REASONS` (by `lease`); `chargedAgo` 0 with an odd cost is what `limiter.unblock` sends.
   */
  readonly kind: 'consume' | 'peek' | 'refund' | 'reset' | 'release' | 'charge' | 'block'
  /** Time step before the op, ms (negative now and then: a clock that ran backwards). */
  readonly dt: number
  readonly cost: number
  /** Which checks of the request take part (indices into `checks`); empty = all. */
  readonly subset: readonly number[]
  /** Refund: how long before now the cost was charged. */
  readonly chargedAgo: number
  /** The request's lease: an index into the trace's leases; past its end, a lease never taken. */
  readonly lease: number
}

export interface Trace {
  readonly specs: readonly PolicySpec[]
  readonly checks: readonly TraceCheck[]
  readonly subjects: number
  readonly start: number
  /** Lease numbers the requests draw from (some near 2^53: Lua's tostring would round them). */
  readonly leases: readonly number[]
  readonly ops: readonly TraceOp[]
}

export type PolicySpec = (
  | { kind: 'tb'; limit: number; burst?: number; window: number }
  | { kind: 'fw'; limit: number; window: number | 'month' }
  | { kind: 'sw'; limit: number; window: number; precision: number }
  | { kind: 'cc'; limit: number; leaseMs: number; retryAfter: number }
  | { kind: 'pb'; after: number; within: number; blocks: number[]; forgiveAfter: number }
) & { shadow?: boolean }

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

const ccSpec: fc.Arbitrary<PolicySpec> = fc.record({
  kind: fc.constant('cc' as const),
  limit: fc.integer({ min: 0, max: 4 }),
  leaseMs: fc.constantFrom(1, 7, 50, 1000, 60_000),
  retryAfter: fc.constantFrom(1, 300, 1000, 5000),
})

const pbSpec: fc.Arbitrary<PolicySpec> = fc.record({
  kind: fc.constant('pb' as const),
  after: fc.integer({ min: 1, max: 3 }),
  within: fc.constantFrom(7, 250, 1000, 60_000),
  blocks: fc.array(fc.constantFrom(1, 7, 250, 1000, 60_000, 3_600_000), { minLength: 1, maxLength: 3 }),
  forgiveAfter: fc.constantFrom(1, 1000, 60_000, 86_400_000),
})

/** A policy of any kind, in shadow now and then (decided and counted, never denying). */
export const specArb: fc.Arbitrary<PolicySpec> = fc
  .tuple(
    fc.oneof(tbSpec, fwSpec, swSpec, ccSpec, pbSpec),
    fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  )
  .map(([spec, shadow]) => (shadow ? { ...spec, shadow } : spec))

/** Builds the policies of a trace (named p0, p1, … so names never clash). */
export function buildPolicies(specs: readonly PolicySpec[]): Policy[] {
  return specs.map((s, i) => {
    const name = `p${i}`
    const shadow = s.shadow
    if (s.kind === 'tb')
      return tokenBucket(
        s.burst === undefined
          ? { name, limit: s.limit, window: s.window, shadow }
          : { name, limit: s.limit, window: s.window, burst: s.burst, shadow },
      )
    if (s.kind === 'fw') return fixedWindow({ name, limit: s.limit, window: s.window, shadow })
    if (s.kind === 'pb')
      return penaltyBox({ name, after: s.after, within: s.within, blocks: s.blocks, forgiveAfter: s.forgiveAfter, shadow })
    if (s.kind === 'cc') return concurrency({ name, limit: s.limit, leaseMs: s.leaseMs, retryAfter: s.retryAfter, shadow })
    return slidingWindow({ name, limit: s.limit, window: s.window, precision: s.precision, shadow })
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
    { weight: 2, arbitrary: fc.constant('release' as const) },
    { weight: 2, arbitrary: fc.constant('charge' as const) },
  ),
  dt: dtArb,
  cost: fc.oneof(
    { weight: 8, arbitrary: fc.constant(1) },
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 14 }) },
    // Settled debts past what a uint32 count holds (only a charge admits them).
    { weight: 1, arbitrary: fc.constantFrom(1_000_000_000, 3_000_000_000, 4_294_967_296) },
  ),
  subset: fc.oneof(
    { weight: 3, arbitrary: fc.constant([] as number[]) },
    { weight: 1, arbitrary: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }) },
  ),
  chargedAgo: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 40 * 86_400_000 })),
  lease: fc.integer({ min: 0, max: 5 }),
})

const leasesArb = fc.uniqueArray(
  fc.oneof(
    fc.integer({ min: 0, max: 1000 }),
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 53 - 2, 2 ** 52 + 1, 10 ** 15 + 1),
  ),
  { minLength: 1, maxLength: 4 },
)

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
      leases: leasesArb,
      ops: fc.array(opArb, { minLength: 1, maxLength: maxOps }),
    })
    .chain((t) =>
      fc.array(fc.integer({ min: 0, max: t.subjects - 1 }), { minLength: t.specs.length, maxLength: t.specs.length }).map((subjectOf) => ({
        ...t,
        checks: subjectOf.map((subject, policy) => ({ policy, subject })),
      })),
    )
}

/** The `until` of a `block` op (0: an unblock), see {@link TraceOp}. */
function blockEnd(op: TraceOp, now: number): number {
  if (op.cost % 2 === 0) return now + op.chargedAgo
  return op.chargedAgo === 0 ? 0 : Math.max(1, now - op.chargedAgo)
}

/** Block reasons of `block` ops: none, short, with JSON's special characters, non-ASCII, the longest. */
const REASONS = ['', 'fraud', 'say "why" \\ here', 'Sperre – 封锁 🚫', 'x'.repeat(128)]

/** The ops of penalty-box traces: those of every trace, and blocks by hand. */
const pbOpArb = opArb.chain((op) =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(op) }, { weight: 1, arbitrary: fc.constant({ ...op, kind: 'block' as const }) }),
)

/**
 * Traces around a penalty box: a box (in shadow now and then) beside 1-2 rate policies that deny
 * often, so that offences, blocks, escalation and forgiveness all happen.
 */
export function penaltyBoxTraceArb(maxOps: number): fc.Arbitrary<Trace> {
  const rateSpec = fc.oneof(tbSpec, fwSpec, swSpec).map((s) => ({ ...s, limit: Math.min((s as { limit: number }).limit, 2) }) as PolicySpec)
  return fc
    .record({
      box: pbSpec,
      boxShadow: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      rates: fc.array(rateSpec, { minLength: 1, maxLength: 2 }),
      subjects: fc.integer({ min: 1, max: 2 }),
      start: startArb,
      leases: leasesArb,
      ops: fc.array(pbOpArb, { minLength: 1, maxLength: maxOps }),
    })
    .chain(({ box, boxShadow, rates, ...t }) => {
      const specs = [boxShadow ? { ...box, shadow: true } : box, ...rates]
      return fc
        .array(fc.integer({ min: 0, max: t.subjects - 1 }), { minLength: specs.length, maxLength: specs.length })
        .map((subjectOf) => ({
          ...t,
          specs,
          checks: subjectOf.map((subject, policy) => ({ policy, subject })),
        }))
    })
}

const ccOpArb = fc.record({
  kind: fc.oneof(
    { weight: 6, arbitrary: fc.constant('consume' as const) },
    { weight: 4, arbitrary: fc.constant('release' as const) },
    { weight: 1, arbitrary: fc.constant('peek' as const) },
    { weight: 1, arbitrary: fc.constant('refund' as const) },
    { weight: 1, arbitrary: fc.constant('charge' as const) },
    { weight: 1, arbitrary: fc.constant('reset' as const) },
  ),
  // Mostly within a lease's life, now and then past it (expiry), or back (a skewed caller clock).
  dt: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 20 }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 1500 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 120_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: -100, max: -1 }) },
  ),
  cost: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 4 }) }),
  subset: fc.constant([] as number[]),
  chargedAgo: fc.constant(0),
  lease: fc.integer({ min: 0, max: 6 }),
})

const ccFocusSpec: fc.Arbitrary<PolicySpec> = fc.record({
  kind: fc.constant('cc' as const),
  limit: fc.integer({ min: 1, max: 3 }),
  leaseMs: fc.constantFrom(7, 50, 1000, 60_000),
  retryAfter: fc.constantFrom(1, 300, 1000),
})

/**
 * Concurrency-heavy traces: one or two concurrency limits (and maybe a rate) on one subject,
 * acquires with a few leases (the same lease again renews), releases (twice, or of a lease never
 * taken), expiries, and clocks that step back.
 */
export function concurrencyTraceArb(maxOps: number): fc.Arbitrary<Trace> {
  return fc
    .record({
      specs: fc
        .tuple(fc.array(ccFocusSpec, { minLength: 1, maxLength: 2 }), fc.array(specArb, { maxLength: 1 }))
        .map(([a, b]) => [...a, ...b]),
      subjects: fc.constant(1),
      start: startArb,
      leases: fc.uniqueArray(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { minLength: 3, maxLength: 6 }),
      ops: fc.array(ccOpArb, { minLength: 1, maxLength: maxOps }),
    })
    .map((t) => ({ ...t, checks: t.specs.map((_, policy) => ({ policy, subject: 0 })) }))
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
    let checks = picked.length === 0 ? trace.checks : picked
    if (op.kind === 'release') {
      const leased = trace.checks.filter((c) => policies[c.policy].kind === 'concurrency')
      if (leased.length > 0) checks = leased
    }
    // A lease never taken (an unknown one) is past the end of the trace's leases.
    const lease = trace.leases[op.lease] ?? 424_242_424_242 + op.lease
    if (op.kind === 'block') {
      const boxed = trace.checks.filter((c) => policies[c.policy].kind === 'penalty-box')
      if (boxed.length > 0) checks = boxed
    }
    const reason = REASONS[op.lease % REASONS.length]
    const request = {
      keys: checks.map((c) => subjects[c.subject]),
      policies: checks.map((c) => {
        const policy = policies[c.policy]
        return op.kind === 'block' && policy.kind === 'penalty-box'
          ? (policy as PenaltyBoxPolicy).blocking(blockEnd(op, now), reason)
          : policy
      }),
      // Huge costs are settled debts: only a charge takes them (a consume of them is a plain denial).
      cost: op.cost > 1_000_000 && op.kind !== 'charge' ? op.cost % 15 : op.cost,
      now,
      tag,
      lease: op.kind === 'charge' ? undefined : lease,
    }
    const answers: Record<string, StoreResult | undefined> = {}
    for (const [name, store] of Object.entries(stores)) {
      if (op.kind === 'consume') answers[name] = await store.consume(request)
      else if (op.kind === 'peek') answers[name] = await store.peek(request)
      else if (op.kind === 'refund' || op.kind === 'release')
        answers[name] = await store.refund({ ...request, chargedAt: now - op.chargedAgo })
      else if (op.kind === 'charge' || op.kind === 'block') {
        if (store.charge === undefined) throw new Error(`${name} has no charge()`)
        answers[name] = await store.charge(request)
      } else {
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
