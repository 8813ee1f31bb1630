// A lease travels to the script as its decimal text; the store remembers recent conversions.
// Whatever it remembers, the text is String(lease): the script compares leases as text.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { leaseText } from '../../../src/stores/redis/request.js'

describe('leaseText', () => {
  it('is String(lease) for any lease, however the memo slots collide', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.maxSafeNat(), fc.nat(4096), fc.double({ min: 0, max: 2 ** 60, noNaN: true })), { maxLength: 200 }),
        (leases) => {
          // Each twice, interleaved with the others: hits, misses and evictions of one slot.
          for (const lease of [...leases, ...leases.reverse()]) expect(leaseText(lease)).toBe(String(lease))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('keeps two leases of one slot apart', () => {
    expect([leaseText(5), leaseText(5 + 1024), leaseText(5), leaseText(5 + 2048)]).toEqual(['5', '1029', '5', '2053'])
  })
})

describe('leaseText of a lease above 2^31 (written as two small integers)', () => {
  it('is String(lease) where the low eight digits have leading zeros, at the edges, and past 2^53', () => {
    const cases = [1e8, 1e8 + 1, 1e8 - 1, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 123_000_000_000_007, 42 * 1e8, 5e15 + 0.5]
    for (const lease of cases) expect(leaseText(lease)).toBe(String(lease))
  })
})
