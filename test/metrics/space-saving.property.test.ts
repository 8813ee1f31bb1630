import fc from 'fast-check'
import { SpaceSaving } from 'ratekeeper/metrics'
import { describe, expect, it } from 'vitest'

/** A skewed stream over a small alphabet: some keys heavy, many light, weights 1-3. */
const stream = fc.array(
  fc.record({
    key: fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 60 }).map(String)),
    weight: fc.integer({ min: 1, max: 3 }),
  }),
  {
    maxLength: 600,
  },
)

describe('SpaceSaving: the bounds Space-Saving guarantees, on random streams', () => {
  it('count - error ≤ true ≤ count for every monitored key; unmonitored keys ≤ floor; heavy keys monitored', () => {
    fc.assert(
      fc.property(stream, fc.integer({ min: 1, max: 25 }), (items, capacity) => {
        const sketch = new SpaceSaving(capacity)
        const truth = new Map<string, number>()
        for (const { key, weight } of items) {
          sketch.add(key, weight)
          truth.set(key, (truth.get(key) ?? 0) + weight)
        }
        const total = items.reduce((sum, i) => sum + i.weight, 0)
        expect(sketch.total).toBe(total)
        const top = sketch.top()
        expect(top.length).toBe(Math.min(capacity, truth.size))
        // The counters hold exactly the stream's weight.
        expect(top.reduce((sum, h) => sum + h.count, 0)).toBe(total)
        const monitored = new Set(top.map((h) => h.key))
        for (const h of top) {
          const actual = truth.get(h.key) ?? 0
          expect(h.count - h.error).toBeLessThanOrEqual(actual)
          expect(actual).toBeLessThanOrEqual(h.count)
        }
        for (const [key, actual] of truth) {
          if (!monitored.has(key)) expect(actual).toBeLessThanOrEqual(sketch.floor)
          if (actual > total / capacity) expect(monitored.has(key)).toBe(true)
        }
        // Heaviest first.
        for (let i = 1; i < top.length; i++) expect(top[i - 1].count).toBeGreaterThanOrEqual(top[i].count)
      }),
      { numRuns: 300 },
    )
  })

  it('is exact while the distinct keys fit', () => {
    const sketch = new SpaceSaving(3)
    for (const key of ['x', 'y', 'x', 'z', 'x', 'y']) sketch.add(key)
    expect(sketch.top()).toEqual([
      { key: 'x', count: 3, error: 0 },
      { key: 'y', count: 2, error: 0 },
      { key: 'z', count: 1, error: 0 },
    ])
    expect(sketch.floor).toBe(1)
  })
})
