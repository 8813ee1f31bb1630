// The CIDR matcher behind allowList / denyList: a binary trie over the address bits.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IpRanges } from '../../src/http/ip-ranges.js'
import { ConfigurationError } from '../../src/limiter/errors.js'

describe('IpRanges', () => {
  it('matches IPv4 addresses and ranges', () => {
    const r = new IpRanges(['10.0.0.0/8', '192.0.2.7', '198.51.100.0/25'], 'test()')
    expect(r.has('10.255.1.2')).toBe(true)
    expect(r.has('11.0.0.0')).toBe(false)
    expect(r.has('192.0.2.7')).toBe(true)
    expect(r.has('192.0.2.8')).toBe(false)
    expect(r.has('198.51.100.127')).toBe(true)
    expect(r.has('198.51.100.128')).toBe(false)
    expect(r.size).toBe(3)
  })

  it('matches IPv6 addresses and ranges, in any spelling', () => {
    const r = new IpRanges(['2001:db8::/32', '::1', 'fe80::1:0:0:0/80'], 'test()')
    expect(r.has('2001:DB8:ffff::1')).toBe(true)
    expect(r.has('2001:db9::1')).toBe(false)
    expect(r.has('::1')).toBe(true)
    expect(r.has('0:0:0:0:0:0:0:1')).toBe(true)
    expect(r.has('::2')).toBe(false)
    expect(r.has('fe80::1:0:ffff:1')).toBe(true)
    expect(r.has('fe80::2:0:0:0')).toBe(false)
  })

  it('reads IPv4-mapped IPv6 as its IPv4 address, both as entry and as client', () => {
    const r = new IpRanges(['::ffff:10.0.0.0/8', '192.0.2.1'], 'test()')
    expect(r.has('10.1.2.3')).toBe(true)
    expect(r.has('::ffff:10.1.2.3')).toBe(true)
    expect(r.has('::ffff:c000:201')).toBe(true)
    expect(r.has('::FFFF:192.0.2.1')).toBe(true)
    expect(r.has('::ffff:192.0.2.2')).toBe(false)
  })

  it('matches the embedded IPv4 forms against IPv4 entries, and against IPv6 entries as written', () => {
    const r = new IpRanges(['203.0.113.0/24', '2002::/16'], 'test()')
    expect(r.has('64:ff9b::203.0.113.9')).toBe(true) // NAT64
    expect(r.has('2002:cb00:7109::1')).toBe(true) // 6to4: the IPv6 entry
    const v4only = new IpRanges(['203.0.113.0/24'], 'test()')
    expect(v4only.has('2002:cb00:7109::1')).toBe(true) // 6to4: by its IPv4 address
    expect(v4only.has('2002:cb00:7209::1')).toBe(false)
  })

  it('/0 matches every address of its family only; /32 and /128 one address', () => {
    const v4 = new IpRanges(['0.0.0.0/0'], 'test()')
    expect(v4.has('255.255.255.255')).toBe(true)
    expect(v4.has('2001:db8::1')).toBe(false)
    const v6 = new IpRanges(['::/0'], 'test()')
    expect(v6.has('2001:db8::1')).toBe(true)
    expect(v6.has('10.0.0.1')).toBe(false)
    const hosts = new IpRanges(['192.0.2.1/32', '2001:db8::1/128'], 'test()')
    expect(hosts.has('192.0.2.1')).toBe(true)
    expect(hosts.has('192.0.2.0')).toBe(false)
    expect(hosts.has('2001:db8::1')).toBe(true)
    expect(hosts.has('2001:db8::')).toBe(false)
  })

  it('overlapping ranges, in either order, match their union', () => {
    for (const entries of [
      ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.3'],
      ['10.1.2.3', '10.1.0.0/16', '10.0.0.0/8'],
    ]) {
      const r = new IpRanges(entries, 'test()')
      expect(r.has('10.200.0.1')).toBe(true)
      expect(r.has('10.1.2.3')).toBe(true)
      expect(r.has('9.255.255.255')).toBe(false)
    }
  })

  it('ignores host bits of an entry past its prefix', () => {
    const r = new IpRanges(['10.1.2.3/8'], 'test()')
    expect(r.has('10.9.9.9')).toBe(true)
  })

  it('reads the client address as keys do: a port, brackets, spaces, leading zeros', () => {
    const r = new IpRanges(['203.0.113.0/24', '2001:db8::/32'], 'test()')
    expect(r.has('203.0.113.7:50001')).toBe(true)
    expect(r.has('[2001:db8::1]:443')).toBe(true)
    expect(r.has(' 203.0.113.7 ')).toBe(true)
    expect(r.has('203.0.113.0007')).toBe(true)
    expect(r.has('not an address')).toBe(false)
    expect(r.has('')).toBe(false)
  })

  it('rejects bad entries, naming the entry index', () => {
    for (const [bad, index] of [
      [['10.0.0.0/8', 'nope'], 1],
      [['10.0.0.0/33'], 0],
      [['::/129'], 0],
      [['1.2.3.4', '1.2.3.4/-1'], 1],
      [['10.0.0.0/'], 0],
      [['10.0.0.0/8/8'], 0],
      [['256.0.0.0'], 0],
      [['', '1.2.3.4'], 0],
      [['1.2.3.4', 5], 1],
    ] as const) {
      let error: unknown
      try {
        new IpRanges(bad as unknown as string[], 'test()')
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(ConfigurationError)
      expect(error).toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: `entries[${index}]` })
    }
    expect(() => new IpRanges('10.0.0.0/8' as never, 'test()')).toThrow(ConfigurationError)
  })

  it('agrees with a bit-by-bit reference on random addresses and ranges', () => {
    const bitsOf = (groups: readonly number[]) => groups.map((g) => g.toString(2).padStart(16, '0')).join('')
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255))
    const v4Text = (o: readonly number[]) => o.join('.')
    const v4Groups = (o: readonly number[]) => [(o[0] << 8) | o[1], (o[2] << 8) | o[3]]
    // Addresses drawn from a small space, so that hits are common.
    const near = fc.tuple(fc.constantFrom(10, 192), fc.nat(3), fc.nat(3), fc.nat(7))
    fc.assert(
      fc.property(
        fc.array(fc.tuple(near, fc.integer({ min: 0, max: 32 })), { maxLength: 20 }),
        fc.array(fc.oneof(near, v4), { minLength: 1, maxLength: 20 }),
        (ranges, addresses) => {
          const r = new IpRanges(
            ranges.map(([o, bits]) => `${v4Text(o)}/${bits}`),
            'test()',
          )
          for (const a of addresses) {
            const want = ranges.some(([o, bits]) => bitsOf(v4Groups(o)).slice(0, bits) === bitsOf(v4Groups(a)).slice(0, bits))
            expect(r.has(v4Text(a))).toBe(want)
          }
        },
      ),
    )
  })
})
