import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CONCURRENCY, RESERVATIONS, SETTLE, simulateConcurrency, simulateSettle, WORK } from '../../scripts/gen-lease-pictures.js'
import { METRICS_PICTURE, simulateMetrics } from '../../scripts/gen-metrics-picture.js'
import { drawAll, IMG_DIR, PICTURES, simulate } from '../../scripts/gen-pictures.js'

describe('algorithm pictures (scripts/gen-pictures.ts)', () => {
  it('docs/img holds what the real implementation draws today', async () => {
    for (const [file, svg] of await drawAll()) {
      const committed = readFileSync(join(IMG_DIR, file), 'utf8')
      expect(committed === svg, `docs/img/${file} is stale: run node --import tsx scripts/gen-pictures.ts`).toBe(true)
    }
  })

  it('shows what docs/algorithms.md says about each algorithm', async () => {
    const [bucket, sliding, fixed] = await Promise.all(PICTURES.map((p) => simulate(p.policy)))
    // The sliding window never admits more than the limit in a window-long span …
    expect(sliding.maxInWindow).toBe(10)
    // … the fixed window admits up to twice that across an edge …
    // (docs/algorithms.md quotes these two numbers.)
    expect(fixed.maxInWindow).toBe(19)
    // … and the token bucket a full burst plus the refill.
    expect(bucket.maxInWindow).toBeGreaterThan(10)
    expect(bucket.maxInWindow).toBeLessThanOrEqual(20)
    expect(bucket.admitted).toBeGreaterThan(sliding.admitted)
    for (const sim of [bucket, sliding, fixed]) {
      expect(sim.admitted + sim.rejected).toBe(82)
      expect(Math.min(...sim.remaining.map((s) => s.remaining))).toBe(0)
    }
  })

  it('draws the concurrency and reserve-then-settle pictures too', async () => {
    const files = [...(await drawAll()).keys()]
    expect(files).toContain(CONCURRENCY.file)
    expect(files).toContain(SETTLE.file)
  })

  it('shows what docs/concurrency-and-costs.md says about a concurrency limit', async () => {
    const sim = await simulateConcurrency()
    const { limit, leaseMs } = CONCURRENCY
    // In flight reaches the limit and never goes above it; everything ends released or expired.
    expect(Math.max(...sim.inFlight.map((s) => s.v))).toBe(limit)
    expect(sim.inFlight.at(-1)?.v).toBe(0)
    expect(sim.requests).toHaveLength(WORK.length)
    // The crashed holder's slot comes back exactly leaseMs after its admission, not before.
    const crashed = sim.requests.find((r) => r.crash)
    expect(crashed?.allowed).toBe(true)
    const at = (t: number) => sim.inFlight.find((s) => s.t === t)?.v
    const expiry = (crashed?.at ?? 0) + leaseMs
    expect((at(expiry - 100) ?? 0) - (at(expiry) ?? 0)).toBe(1)
    // Denials suggest retryAfter (1 s), or less when the earliest lease expires sooner.
    const denied = sim.requests.filter((r) => !r.allowed)
    expect(denied.length).toBeGreaterThan(0)
    for (const r of denied) expect(r.retryAfterMs).toBeLessThanOrEqual(1_000)
    expect(denied.some((r) => r.retryAfterMs === expiry - r.at)).toBe(true)
  })

  it('shows what docs/concurrency-and-costs.md says about reserve-then-settle', async () => {
    const sim = await simulateSettle()
    // An actual cost above the estimate puts the bucket in debt, while remaining shows 0 (never negative)…
    expect(Math.min(...sim.balance.map((s) => s.v))).toBeLessThan(0)
    for (const s of sim.balance) expect(s.remaining).toBe(Math.max(0, Math.floor(s.v)))
    // … and a reservation made meanwhile is denied until the debt is repaid.
    expect(sim.events.filter((e) => e.kind === 'denied').map((e) => e.name)).toEqual(['4'])
    // The extra is charged in full; the settle at the estimate (the hung-up client) changes nothing.
    const extra = sim.events.find((e) => e.kind === 'charged')
    // (Measured with peeks: whole tokens above 0, the wait below it, so within one token.)
    expect(Math.abs((extra?.measured ?? 0) - (extra?.tokens ?? 0))).toBeLessThanOrEqual(1)
    expect(sim.events.find((e) => e.kind === 'hung-up')?.measured).toBe(0)
    // Every reservation that was admitted was settled once.
    expect(sim.events.filter((e) => e.kind !== 'reserved' && e.kind !== 'denied')).toHaveLength(RESERVATIONS.length - 1)
  })

  it('shows what docs/observability.md says about the demo under load', async () => {
    const run = await simulateMetrics()
    const at = (t: number) => run.samples.find((s) => s.t === t)
    expect(run.samples.map((s) => s.t)).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60])
    // Nobody is limited until the public key has spent its burst of 150 (at 10 req/s, refilled at 100/min).
    for (const s of run.samples.filter((x) => x.t <= 25)) expect(s.limitedPerS).toBe(0)
    // Its bucket runs low before it is limited: the early warning of the third panel.
    expect(at(25)?.nearLimitShare.public_key).toBe(0)
    expect(at(30)?.nearLimitShare.public_key).toBeGreaterThan(at(30)?.limitedShare.public_key ?? 1)
    expect(at(60)?.nearLimitShare.public_key).toBe(1)
    // Then most of its requests are limited (about 1.7 of 10 a second get through), and the other keys never are.
    for (const s of run.samples.filter((x) => x.t >= 35)) {
      expect(s.limitedShare.public_key).toBeGreaterThan(0.8)
      expect(s.limitedShare.secret_key).toBe(0)
    }
    expect(run.publicKey.ok + run.publicKey.limited).toBe(10 * (60 - METRICS_PICTURE.limitedFromS))
    expect(run.publicKey.limited).toBeGreaterThan(run.publicKey.ok)
    // The key is never a label.
    expect(run.lastScrape).not.toContain('pk_test_demo')
  })
})
