import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
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
})
