// An IPv4 client can reach an IPv6 server under several IPv6 spellings of its address: the
// NAT64 well-known prefix (64:ff9b::/96, RFC 6052), SIIT's IPv4-translated form (::ffff:0:0/96),
// the old IPv4-compatible form (::/96), 6to4 (2002::/16, RFC 3056) and Teredo (2001::/32,
// RFC 4380). Grouped by /56 like any IPv6 address, each of these prefixes put every IPv4 client
// behind it into one bucket: one client locked out all the others. Each is keyed by the IPv4
// address it carries, exactly as the plain IPv4 address is.

import fc from 'fast-check'
import { createLimiter, fixedWindow } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/fetch'
import { describe, expect, it } from 'vitest'
import { allowList } from '../../src/http/allow-list.js'
import { normalizeIp } from '../../src/http/ip.js'
import { ipKey } from '../../src/http/keys.js'

type V4 = readonly [number, number, number, number]

const dotted = (a: V4) => a.join('.')
const hi = (a: V4) => (a[0] << 8) | a[1]
const lo = (a: V4) => (a[2] << 8) | a[3]
const hex = (n: number) => n.toString(16)

/** Every IPv6 spelling of `a` the key must see through, with the parts that vary drawn from `r`. */
function embeddedForms(a: V4, r: readonly number[]): string[] {
  const forms = [
    `::ffff:${dotted(a)}`,
    `::ffff:${hex(hi(a))}:${hex(lo(a))}`,
    `0:0:0:0:0:ffff:${dotted(a)}`,
    `64:ff9b::${dotted(a)}`,
    `64:ff9b::${hex(hi(a))}:${hex(lo(a))}`,
    `0064:FF9B:0:0:0:0:${dotted(a)}`,
    `[64:ff9b::${dotted(a)}]`,
    `::ffff:0:${dotted(a)}`,
    `::ffff:0:${hex(hi(a))}:${hex(lo(a))}`,
    // 6to4: the site's /48 is 2002:<its IPv4>::/48; subnet and interface are the site's choice.
    `2002:${hex(hi(a))}:${hex(lo(a))}:${hex(r[0])}:${hex(r[1])}:${hex(r[2])}:${hex(r[3])}:${hex(r[4])}`,
    `2002:${hex(hi(a))}:${hex(lo(a))}::${hex(r[5])}`,
    // Teredo: 2001:0:<server IPv4>:<flags>:<port ^ ffff>:<client IPv4 ^ ffffffff>.
    `2001:0:${hex(r[0])}:${hex(r[1])}:${hex(r[2])}:${hex(r[3])}:${hex(hi(a) ^ 0xffff)}:${hex(lo(a) ^ 0xffff)}`,
  ]
  // The IPv4-compatible form of 0.0.0.0/8 is `::` and `::1` (IPv6 loopback): not IPv4 clients.
  if (a[0] !== 0) forms.push(`::${dotted(a)}`, `::${hex(hi(a))}:${hex(lo(a))}`)
  return forms
}

const octet = fc.integer({ min: 0, max: 255 })
const ipv4 = fc.tuple(octet, octet, octet, octet) as fc.Arbitrary<V4>
const groups = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 6, maxLength: 6 })

describe('IPv4 embedded in IPv6 is keyed by the IPv4 address', () => {
  it('the forms of the report: NAT64, SIIT, IPv4-compatible', () => {
    expect(normalizeIp('64:ff9b::203.0.113.7')).toBe('203.0.113.7')
    expect(normalizeIp('::ffff:0:203.0.113.7')).toBe('203.0.113.7')
    expect(normalizeIp('::203.0.113.7')).toBe('203.0.113.7')
    expect(ipKey('64:ff9b::203.0.113.7')).toBe(ipKey('203.0.113.7'))
    // Two IPv4 clients behind one NAT64 prefix are two clients.
    expect(ipKey('64:ff9b::203.0.113.7')).not.toBe(ipKey('64:ff9b::198.51.100.9'))
  })

  it('6to4 and Teredo: the IPv4 address of the site or of the client', () => {
    // 6to4: 2002:cb00:7107::/48 belongs to whoever holds 203.0.113.7; its 256 /56s are one client.
    expect(normalizeIp('2002:cb00:7107:1:2:3:4:5')).toBe('203.0.113.7')
    expect(normalizeIp('2002:cb00:7107:ff00::1')).toBe('203.0.113.7')
    // Teredo: server 65.54.227.120, client 192.0.2.45 (as its NAT shows it), obfuscated as 3fff:fdd2.
    expect(normalizeIp('2001:0:4136:e378:8000:63bf:3fff:fdd2')).toBe('192.0.2.45')
    // Teredo clients of one server are different clients (a /56 held only the server's address).
    expect(normalizeIp('2001:0:4136:e378:8000:63bf:3fff:fdd2')).not.toBe(normalizeIp('2001:0:4136:e378:8000:63bf:3fff:fdd1'))
  })

  it('what is not an IPv4 client stays IPv6: loopback, unspecified, other prefixes', () => {
    expect(normalizeIp('::1')).toBe('::/56')
    expect(normalizeIp('::')).toBe('::/56')
    expect(normalizeIp('::ff')).toBe('::/56')
    // Not the NAT64 well-known /96: bits 32-95 must be zero.
    expect(normalizeIp('64:ff9b:1::203.0.113.7')).toBe('64:ff9b:1::/56')
    expect(normalizeIp('64:ff9b:0:0:1::203.0.113.7')).toBe('64:ff9b::/56')
    // 2001:db8::/32 (documentation) and 2001:1::/32 are not Teredo.
    expect(normalizeIp('2001:db8:1234:56ab::1')).toBe('2001:db8:1234:5600::/56')
    expect(normalizeIp('2001:1:4136:e378:8000:63bf:3fff:fdd2')).toBe('2001:1:4136:e300::/56')
  })

  it('fuzz: every embedded form of a random IPv4 address keys like the address itself', () => {
    fc.assert(
      fc.property(ipv4, groups, (a, r) => {
        for (const form of embeddedForms(a, r)) {
          expect(normalizeIp(form), form).toBe(dotted(a))
          expect(ipKey(form), form).toBe(ipKey(dotted(a)))
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('fuzz: distinct IPv4 addresses never share a key, whatever forms they come in', () => {
    fc.assert(
      fc.property(ipv4, ipv4, groups, fc.nat(), fc.nat(), (a, b, r, i, j) => {
        fc.pre(dotted(a) !== dotted(b))
        const fa = embeddedForms(a, r)
        const fb = embeddedForms(b, r)
        expect(ipKey(fa[i % fa.length])).not.toBe(ipKey(fb[j % fb.length]))
        expect(ipKey(fa[i % fa.length])).not.toBe(ipKey(dotted(b)))
      }),
      { numRuns: 2000 },
    )
  })

  it('fuzz: an IPv6 address outside the embedding prefixes never gets an IPv4 key', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), (g) => {
        const embedding =
          (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0) ||
          (g[0] === 0x64 && g[1] === 0xff9b) ||
          g[0] === 0x2002 ||
          (g[0] === 0x2001 && g[1] === 0)
        fc.pre(!embedding)
        expect(normalizeIp(g.map(hex).join(':'))).toMatch(/\/56$/)
      }),
    )
  })

  it('over HTTP: two IPv4 clients behind NAT64 keep a bucket each, shared with their plain IPv4 form', async () => {
    const limiter = createLimiter({ policies: [fixedWindow({ limit: 1, window: '1m' })], now: () => 0 })
    const limit = rateLimit({ limiter })
    const request = () => new Request('http://api.test/')
    expect(await limit(request(), { ip: '64:ff9b::203.0.113.7' })).toBeUndefined()
    // Another IPv4 client of the same translator is not locked out by the first.
    expect(await limit(request(), { ip: '64:ff9b::198.51.100.9' })).toBeUndefined()
    // The first client, seen again as plain IPv4 or through SIIT, has spent its allowance.
    expect((await limit(request(), { ip: '203.0.113.7' }))?.status).toBe(429)
    expect((await limit(request(), { ip: '::ffff:0:203.0.113.7' }))?.status).toBe(429)
    await limiter.close()
  })

  it('allowList: an IPv4 entry also matches the embedded forms of its addresses', () => {
    const skip = allowList(['10.0.0.0/8', '::1'])
    const info = (ip: string) => ({ ip, headers: { get: () => undefined } })
    expect(skip(undefined, info('64:ff9b::10.1.2.3'))).toBe(true)
    expect(skip(undefined, info('::ffff:0:10.1.2.3'))).toBe(true)
    expect(skip(undefined, info('64:ff9b::11.1.2.3'))).toBe(false)
    expect(skip(undefined, info('::1'))).toBe(true)
    // An IPv6 entry is matched against the address as written, as before.
    const nat64 = allowList(['64:ff9b::203.0.113.0/120', '2002::/16'])
    expect(nat64(undefined, info('64:ff9b::203.0.113.9'))).toBe(true)
    expect(nat64(undefined, info('64:ff9b::203.0.114.9'))).toBe(false)
    expect(nat64(undefined, info('2002:cb00:7107::1'))).toBe(true)
    // ... and never widens to IPv4 clients (2002::/16 is not 0.0.0.0/0).
    expect(nat64(undefined, info('203.0.113.9'))).toBe(false)
  })
})
