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
