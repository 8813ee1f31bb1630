// topLimited counts each denial in a Space-Saving sketch, synchronously, on the request's path
// (the limiter's `limited` event). Once the sketch was full, every denial of a subject it did not
// hold scanned all `size` counters for the smallest: at size 10,000 a flood of distinct limited
// subjects (rotating IPv6 networks, made-up keys) paid about 13 µs per denied request, some 50
// times the decision itself. The smallest counter is now found in logarithmic time, so a large
// sketch costs a request little more than a small one. (The sketch's bounds are held by
// test/metrics/space-saving.property.test.ts.)
import { describe, expect, it } from 'vitest'
import { SpaceSaving } from '../../src/metrics/space-saving.js'

/** Nanoseconds per add of a new key to a full sketch of `capacity`, the best of a few runs. */
function nsPerNewKey(capacity: number, adds: number): number {
  let best = Number.POSITIVE_INFINITY
  for (let run = 0; run < 5; run++) {
    const sketch = new SpaceSaving(capacity)
    for (let i = 0; i < capacity; i++) sketch.add(`warm${i}`, 1 + (i % 7))
    const start = performance.now()
    for (let i = 0; i < adds; i++) sketch.add(`k${run}-${i}`)
    best = Math.min(best, ((performance.now() - start) * 1e6) / adds)
  }
  return best
}

describe('SpaceSaving update cost', () => {
  it('a new key costs about as much in a sketch of 10,000 counters as in one of 20', () => {
    const small = nsPerNewKey(20, 20_000)
    const large = nsPerNewKey(10_000, 20_000)
    // A scan of every counter made this ratio about 50; a heap keeps it to a few (log2 10,000 ≈
    // 13 steps against 4). 10 leaves room for a noisy shared machine.
    expect(large / small, `${large.toFixed(0)} ns vs ${small.toFixed(0)} ns per new key`).toBeLessThan(10)
  })
})
