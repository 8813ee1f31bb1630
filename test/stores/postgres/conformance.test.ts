// Conformance: the PostgreSQL store answers exactly what the TypeScript policies answer. The
// same random traces as the Redis twins' (time steps, costs, several policies over one or two
// subjects, peeks, refunds, resets, charges, leases, penalty boxes) are replayed through the
// reference oracle (policy.step directly), the MemoryStore and the PostgresStore (clock 'caller',
// so all share one clock), op by op. Two stores on one table: the second never saw what the first
// wrote, so its guesses of the stored states are stale and must be corrected by the database.

import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { MemoryStore } from '../../../src/index.js'
import type { PostgresStore } from '../../../src/stores/postgres/index.js'
import { describePostgres, postgresFixture } from '../../helpers/postgres.js'
import { ReferenceStore } from '../redis/reference.js'
import { concurrencyTraceArb, penaltyBoxTraceArb, replayTrace, traceArb } from '../redis/traces.js'

const DAY = 86_400_000

describePostgres('PostgresStore conformance', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>
  let store: PostgresStore
  let run = 0

  beforeAll(async () => {
    fixture = await postgresFixture('conf')
    // Caller clock: traces jump days, and back (extraTtlMs keeps states readable, as the Redis suite's does); cleanup
    // sweeps every 16th write as in production.
    store = await fixture.store({ clock: 'caller', timeoutMs: 5000, extraTtlMs: DAY })
  })

  afterAll(async () => {
    store.close()
    await fixture.drop()
  })

  it('gives the reference answer for random traces (every policy kind, mixes, peeks, refunds, resets, charges, leases)', async () => {
    let compared = 0
    await fc.assert(
      fc.asyncProperty(traceArb(40), async (trace) => {
        compared += await replayTrace(trace, { reference: new ReferenceStore(), postgres: store }, `r${run++}`)
      }),
      { numRuns: 150 },
    )
    expect(compared).toBeGreaterThan(600)
  })

  it('gives the MemoryStore answer for the same traces', async () => {
    await fc.assert(
      fc.asyncProperty(traceArb(30), async (trace) => {
        await replayTrace(trace, { memory: new MemoryStore({ maxKeys: 10_000 }), postgres: store }, `m${run++}`)
      }),
      { numRuns: 60 },
    )
  })

  it('gives the reference answer for concurrency traces (acquire, renew, release twice, unknown leases, expiry)', async () => {
    let compared = 0
    await fc.assert(
      fc.asyncProperty(concurrencyTraceArb(40), async (trace) => {
        compared += await replayTrace(trace, { reference: new ReferenceStore(), postgres: store }, `cc${run++}`)
      }),
      { numRuns: 150 },
    )
    expect(compared).toBeGreaterThan(500)
  })

  it('gives the reference answer for penalty-box traces (offences, blocks, escalation, forgiveness, shadow boxes)', async () => {
    let compared = 0
    await fc.assert(
      fc.asyncProperty(penaltyBoxTraceArb(40), async (trace) => {
        compared += await replayTrace(trace, { reference: new ReferenceStore(), postgres: store }, `pb${run++}`)
      }),
      { numRuns: 150 },
    )
    expect(compared).toBeGreaterThan(500)
  })

  it('gives the reference answer when two stores (two processes) take turns on the same states', async () => {
    const other = await fixture.store({ clock: 'caller', timeoutMs: 5000, extraTtlMs: DAY })
    let turn = 0
    // Each op goes to one of the two stores in turn: each finds states the other wrote.
    const alternating = {
      consume: (r: Parameters<PostgresStore['consume']>[0]) => (turn++ % 2 === 0 ? store : other).consume(r),
      peek: (r: Parameters<PostgresStore['peek']>[0]) => (turn++ % 2 === 0 ? store : other).peek(r),
      refund: (r: Parameters<PostgresStore['refund']>[0]) => (turn++ % 2 === 0 ? store : other).refund(r),
      charge: (r: Parameters<PostgresStore['charge']>[0]) => (turn++ % 2 === 0 ? store : other).charge(r),
      reset: (r: Parameters<PostgresStore['reset']>[0]) => (turn++ % 2 === 0 ? store : other).reset(r),
      close: () => {},
    }
    let compared = 0
    await fc.assert(
      fc.asyncProperty(traceArb(30), async (trace) => {
        compared += await replayTrace(trace, { reference: new ReferenceStore(), postgres: alternating }, `t${run++}`)
      }),
      // Found by this property: a debt whose row expires past 2^53 ms, read back by the other store
      // (test/regressions/postgres-debt-expiring-past-2-53-ms-is-read.test.ts).
      {
        // 120 traces compare about 720 answers (six runs of 60 gave 305-433, and one CI run 292): the
        // bound below is then far from a run's chance low.
        numRuns: 120,
        examples: [
          [
            {
              specs: [
                { kind: 'tb', limit: 1, window: 86400000, shadow: true },
                { kind: 'tb', limit: 0, window: 1, shadow: true },
              ],
              subjects: 1,
              start: 1709164795000,
              leases: [9007199254740991],
              ops: [
                { kind: 'charge', dt: 0, cost: 1000000000, subset: [], chargedAgo: 0, lease: 0 },
                { kind: 'consume', dt: 0, cost: 1, subset: [], chargedAgo: 0, lease: 0 },
              ],
              checks: [
                { policy: 0, subject: 0 },
                { policy: 1, subject: 0 },
              ],
            },
          ] as never,
        ],
      },
    )
    expect(compared).toBeGreaterThan(300)
    other.close()
  })
})
