// allowList on the trie agrees with the linear scan it replaced (kept here as the reference), on
// random IPv4 / IPv6 / IPv4-mapped / embedded-IPv4 addresses and random ranges of every length.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { allowList } from '../../src/http/allow-list.js'
import { addressGroups, embeddedGroups, formatIpv6 } from '../../src/http/ip-parse.js'

interface Cidr {
  v6: boolean
  groups: readonly number[]
  bits: number
}

function matches(cidr: Cidr, groups: readonly number[]): boolean {
  for (let i = 0; i < cidr.groups.length; i++) {
    const keep = cidr.bits - i * 16
    if (keep <= 0) return true
    const mask = keep >= 16 ? 0xffff : (0xffff << (16 - keep)) & 0xffff
    if ((groups[i] & mask) !== (cidr.groups[i] & mask)) return false
  }
  return true
}

/** The linear matcher allowList had before the trie. */
function linear(entries: readonly string[], ip: string): boolean {
  const list = entries.map((entry) => {
    const slash = entry.indexOf('/')
    const addr = addressGroups(slash < 0 ? entry : entry.slice(0, slash))
    if (addr === undefined) throw new Error(entry)
    return { v6: addr.v6, groups: addr.groups, bits: slash < 0 ? (addr.v6 ? 128 : 32) : Number(entry.slice(slash + 1)) }
  })
  const addr = addressGroups(ip)
  if (addr === undefined) return false
  const v4 = addr.v6 ? embeddedGroups(addr.groups) : undefined
  return list.some((c) => (c.v6 === addr.v6 && matches(c, addr.groups)) || (v4 !== undefined && !c.v6 && matches(c, v4)))
}

// Few distinct values per group, so that random addresses often share prefixes with random ranges.
const group = fc.constantFrom(0, 1, 0x64, 0xff9b, 0x2001, 0x2002, 0xffff, 0x0a00, 0xc000, 0x8000)
const v4 = fc.tuple(fc.constantFrom(10, 192, 0, 255), fc.nat(2), fc.nat(2), fc.nat(2)).map((o) => o.join('.'))
const v6 = fc.array(group, { minLength: 8, maxLength: 8 }).map(formatIpv6)
const mapped = v4.map((a) => `::ffff:${a}`)
const nat64 = v4.map((a) => `64:ff9b::${a}`)
const address = fc.oneof(v4, v6, mapped, nat64)
const range = fc.oneof(
  fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, b]) => `${a}/${b}`),
  fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([a, b]) => `${a}/${b}`),
  fc.tuple(mapped, fc.integer({ min: 0, max: 32 })).map(([a, b]) => `${a}/${b}`),
  address,
)

describe('allowList (trie) agrees with the linear scan', () => {
  it('on random addresses and ranges', () => {
    fc.assert(
      fc.property(fc.array(range, { maxLength: 30 }), fc.array(address, { minLength: 1, maxLength: 30 }), (entries, ips) => {
        const skip = allowList(entries)
        for (const ip of ips) expect({ ip, listed: skip(undefined, { ip }) }).toEqual({ ip, listed: linear(entries, ip) })
      }),
      { numRuns: 500 },
    )
  })
})
