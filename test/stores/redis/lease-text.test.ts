// A lease travels to the script as text the script keeps a string (a sorted set member): nine
// characters for a safe integer, "~" and the decimal text for any other number. What matters is
// that two leases never share a text (one lease would release the other's slot) and that a
// lease's text is always the same (its release must name what its acquire wrote).

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { leaseText } from '../../../src/stores/redis/request.js'

/** The safe integer a nine-character text stands for (the inverse of leaseText). */
function leaseOf(text: string): number {
  let n = 0
  for (let i = 0; i < 8; i++) n = n * 64 + (text.charCodeAt(i) - 48)
  return n * 32 + (text.charCodeAt(8) - 48)
}

describe('leaseText', () => {
  it('writes a safe integer as nine characters from "0" to "o", which read back to it', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (lease) => {
        const text = leaseText(lease)
        expect(text).toMatch(/^[0-o]{8}[0-O]$/)
        expect(leaseOf(text)).toBe(lease)
        expect(leaseText(lease)).toBe(text)
      }),
      { numRuns: 2000 },
    )
  })

  it('keeps leases apart at the edges of its fields', () => {
    const cases = [0, 1, 31, 32, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 35, 2 ** 47, 2 ** 53 - 2, 2 ** 53 - 1]
    const texts = cases.map(leaseText)
    expect(new Set(texts).size).toBe(cases.length)
    expect(texts.map(leaseOf)).toEqual(cases)
    expect(leaseText(0)).toBe('000000000')
    expect(leaseText(2 ** 53 - 1)).toBe('oooooooo' + 'O')
  })

  it('writes any other number as "~" and its decimal text, never as a safe integer\'s text', () => {
    for (const lease of [2 ** 53, 2 ** 53 + 2, 2 ** 60, 0.5, 1234.5, 1e21]) {
      expect(leaseText(lease)).toBe(`~${String(lease)}`)
    }
  })
})
