import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { allowList } from '../../src/http/allow-list.js'
import { normalizeIp } from '../../src/http/ip.js'
import { apiKey, ipKey, lastIpKey, userKey } from '../../src/http/keys.js'
import { ConfigurationError } from '../../src/limiter/errors.js'

const info = (headers: Record<string, string> = {}, ip: string | undefined = '203.0.113.7') => ({
  ip,
  headers: { get: (name: string) => headers[name.toLowerCase()] },
})

describe('normalizeIp', () => {
  it('keeps IPv4 as it is', () => {
    expect(normalizeIp('203.0.113.7')).toBe('203.0.113.7')
  })

  it('turns IPv4-mapped IPv6 (dotted or hex) into the IPv4 address', () => {
    expect(normalizeIp('::ffff:203.0.113.7')).toBe('203.0.113.7')
    expect(normalizeIp('::FFFF:cb00:7107')).toBe('203.0.113.7')
    expect(normalizeIp('0:0:0:0:0:ffff:203.0.113.7')).toBe('203.0.113.7')
  })

  it('the dotted ::ffff: form (its fast path) gives the canonical IPv4 text and nothing else', () => {
    expect(normalizeIp('::FfFf:203.0.113.7')).toBe('203.0.113.7')
    expect(normalizeIp('::ffff:203.000.113.007')).toBe('203.0.113.7')
    expect(normalizeIp('::ffff:0.0.0.0')).toBe('0.0.0.0')
    expect(normalizeIp('[::ffff:203.0.113.7]')).toBe('203.0.113.7')
    expect(normalizeIp('::ffff:203.0.113.7%eth0')).toBe('203.0.113.7')
    expect(normalizeIp('::fffe:203.0.113.7')).toBe('::/56')
    for (const s of [
      '::ffff:256.0.0.1',
      '::ffff:1.2.3',
      '::ffff:1.2.3.4.',
      '::ffff:1.2.3.4.5',
      '::ffff:1..3.4',
      '::ffff:1234.1.1.1',
      '::ffff:',
    ]) {
      expect(normalizeIp(s)).toBe('not-an-address')
    }
  })

  it('groups IPv6 by /56 in canonical form', () => {
    expect(normalizeIp('2001:db8:1234:56ab::1')).toBe('2001:db8:1234:5600::/56')
    expect(normalizeIp('2001:0DB8:1234:56FF:ffff:ffff:ffff:ffff')).toBe('2001:db8:1234:5600::/56')
    expect(normalizeIp('[2001:db8:1234:5601::1]')).toBe('2001:db8:1234:5600::/56')
    expect(normalizeIp('fe80::1%eth0')).toBe('fe80::/56')
    expect(normalizeIp('::1')).toBe('::/56')
  })

  it('honours the prefix length', () => {
    expect(normalizeIp('2001:db8::1', 128)).toBe('2001:db8::1/128')
    expect(normalizeIp('2001:db8:ffff:1::1', 32)).toBe('2001:db8::/32')
    expect(normalizeIp('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::/64')
    expect(normalizeIp('2001:db8:1:2:3:4:5:6', 60)).toBe('2001:db8:1::/60')
  })

  it('gives all that is not an IP address one value', () => {
    for (const s of [
      'unknown',
      '1:2:3',
      '::ffff:999.1.1.1',
      '1::2::3',
      '12345::1',
      '1.2.3',
      '1.2.3.4:99999',
      '[::1',
      '[::1]x',
      '1.2.3.4:',
    ]) {
      expect(normalizeIp(s)).toBe('not-an-address')
    }
  })

  it('drops a port and leading zeros', () => {
    expect(normalizeIp('203.0.113.7:50001')).toBe('203.0.113.7')
    expect(normalizeIp('203.0.113.07')).toBe('203.0.113.7')
    expect(normalizeIp('01.2.3.4')).toBe('1.2.3.4')
    expect(normalizeIp('0001.2.3.4')).toBe('1.2.3.4')
    expect(normalizeIp(' 203.0.113.7 ')).toBe('203.0.113.7')
    expect(normalizeIp('[2001:db8::1]:443')).toBe('2001:db8::/56')
    expect(normalizeIp('[::ffff:1.2.3.4]:80')).toBe('1.2.3.4')
    expect(normalizeIp('[1.2.3.4]:80')).toBe('1.2.3.4')
  })

  it('property: every address of one /56 gets the same key, and the key is in that /56', () => {
    const group = fc.integer({ min: 0, max: 0xffff })
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.array(group, { minLength: 5, maxLength: 5 }), (a, low) => {
        // Not one of the prefixes that carry an IPv4 client's address (keyed by that address).
        const carriesIpv4 = (g: number[]) =>
          (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0) || g[0] === 0x64 || g[0] === 0x2002 || (g[0] === 0x2001 && g[1] === 0)
        fc.pre(!carriesIpv4(a))
        const b = [a[0], a[1], a[2], (a[3] & 0xff00) | (low[0] & 0xff), low[1], low[2], low[3], low[4]]
        const text = (g: number[]) => g.map((n) => n.toString(16)).join(':')
        const key = normalizeIp(text(a))
        expect(normalizeIp(text(b))).toBe(key)
        expect(key.endsWith('/56')).toBe(true)
        // Canonical: normalising the key's address again gives the key.
        expect(normalizeIp(key.slice(0, -3))).toBe(key)
      }),
    )
  })

  it('property: IPv4 and its mapped form agree; different IPv4 addresses never do', () => {
    const octet = fc.integer({ min: 0, max: 255 })
    const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'))
    fc.assert(
      fc.property(v4, v4, (a, b) => {
        expect(normalizeIp(`::ffff:${a}`)).toBe(a)
        if (a !== b) expect(normalizeIp(`::ffff:${a}`)).not.toBe(normalizeIp(`::ffff:${b}`))
      }),
    )
  })
})

describe('ipKey', () => {
  it('ipv4-mapped-ipv6-shares-bucket', () => {
    expect(ipKey('::ffff:192.0.2.1')).toBe(ipKey('192.0.2.1'))
    expect(ipKey('192.0.2.1')).toBe('ip:192.0.2.1')
  })

  it('ipv4-never-masked-as-ipv6 (CVE-2026-30827): IPv4 clients keep one bucket each', () => {
    expect(ipKey('::ffff:192.0.2.1')).not.toBe(ipKey('::ffff:192.0.2.2'))
    expect(ipKey('192.0.2.1', 32)).not.toBe(ipKey('198.51.100.1', 32))
  })

  it('refuses a missing address instead of sharing an "undefined" bucket', () => {
    for (const ip of [undefined, '']) {
      expect(() => ipKey(ip)).toThrow(ConfigurationError)
      expect(() => ipKey(ip)).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'ip' }))
    }
  })
})

describe('lastIpKey', () => {
  it('gives every address its own ipKey, whatever came before, and the same string for the same address', () => {
    const warnings: string[] = []
    const keyOf = lastIpKey(56, (code) => warnings.push(code))
    const addresses = [
      '203.0.113.7',
      '203.0.113.8',
      '203.0.113.8',
      '2001:db8::1',
      '2001:db8::ff',
      '203.0.113.7',
      'not an ip',
      '::ffff:203.0.113.7',
    ]
    for (const address of addresses) expect(keyOf(address)).toBe(ipKey(address, 56, () => {}))
    expect(keyOf('203.0.113.7')).toBe(keyOf('203.0.113.7'))
    expect(warnings).toEqual(['RK_IP_NOT_AN_ADDRESS'])
    expect(() => keyOf('')).toThrow(ConfigurationError)
  })
})

describe('apiKey', () => {
  it('reads X-Api-Key by default, prefixed by kind; absent → undefined (client IP)', () => {
    const key = apiKey()
    expect(key(undefined, info({ 'x-api-key': 'sk_live_1' }))).toBe('key:sk_live_1')
    expect(key(undefined, info())).toBeUndefined()
    expect(key(undefined, info({ 'x-api-key': '' }))).toBeUndefined()
  })

  it('reads a custom header', () => {
    expect(apiKey({ header: 'X-Token' })(undefined, info({ 'x-token': 't1' }))).toBe('key:t1')
  })

  it('reads a bearer token (scheme case-insensitive); other schemes are no key', () => {
    const key = apiKey({ bearer: true })
    expect(key(undefined, info({ authorization: 'Bearer abc.def' }))).toBe('key:abc.def')
    expect(key(undefined, info({ authorization: 'bearer   abc ' }))).toBe('key:abc')
    expect(key(undefined, info({ authorization: 'Basic dXNlcjpwYXNz' }))).toBeUndefined()
    expect(key(undefined, info({ authorization: 'Bearer ' }))).toBeUndefined()
  })

  it('hashes over-long values and escapes the hash form, so no two keys collide', () => {
    const key = apiKey()
    const long = key(undefined, info({ 'x-api-key': 'x'.repeat(1_000_000) }))
    expect(long).toMatch(/^key:#sha256:[0-9a-f]{64}$/)
    expect(key(undefined, info({ 'x-api-key': (long as string).slice(4) }))).toBe(`key:#${(long as string).slice(4)}`)
    expect(key(undefined, info({ 'x-api-key': 'x'.repeat(1_000_001) }))).not.toBe(long)
  })

  it('validates its options', () => {
    expect(() => apiKey({ header: 'bad header' })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'header' }))
    expect(() => apiKey({ bearer: 'yes' as never })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'bearer' }))
    expect(() => apiKey({ heder: 'x' } as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION', option: 'heder' }))
  })
})

describe('userKey', () => {
  it('prefixes ids by kind; anonymous → undefined (client IP)', () => {
    const key = userKey((_req, i: { headers: { get(n: string): string | undefined } }) => i.headers.get('x-user'))
    expect(key(undefined, info({ 'x-user': '42' }))).toBe('user:42')
    expect(key(undefined, info())).toBeUndefined()
    expect(userKey(() => 42)(undefined, info())).toBe('user:42')
    expect(userKey(() => null)(undefined, info())).toBeUndefined()
    expect(userKey(() => '')(undefined, info())).toBeUndefined()
  })

  it('different kinds of identity never share a key', () => {
    const asKey = apiKey()(undefined, info({ 'x-api-key': '42' }))
    const asUser = userKey(() => '42')(undefined, info())
    expect(new Set([asKey, asUser, ipKey('42')]).size).toBe(3)
  })

  it('rejects ids that are not strings or finite numbers', () => {
    expect(() => userKey(() => ({}) as never)(undefined, info())).toThrow(ConfigurationError)
    expect(() => userKey(() => Number.NaN)(undefined, info())).toThrow(ConfigurationError)
    expect(() => userKey('id' as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION' }))
  })
})

describe('allowList', () => {
  const allowed = allowList(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1'])
  const is = (ip: string | undefined) => allowed(undefined, info({}, ip))

  it('matches IPv4 and IPv6 addresses and ranges; IPv4-mapped clients match IPv4 entries', () => {
    expect(is('10.200.3.4')).toBe(true)
    expect(is('::ffff:10.200.3.4')).toBe(true)
    expect(is('192.0.2.7')).toBe(true)
    expect(is('192.0.2.8')).toBe(false)
    expect(is('11.0.0.1')).toBe(false)
    expect(is('2001:db8:ffff::1')).toBe(true)
    expect(is('2001:db9::1')).toBe(false)
    expect(is('::1')).toBe(true)
    expect(is(undefined)).toBe(false)
    expect(is('garbage')).toBe(false)
  })

  it('keeps IPv4 and IPv6 apart (a ::/0 entry does not allow IPv4 clients)', () => {
    const v6 = allowList(['::/0'])
    expect(v6(undefined, info({}, '2001:db8::1'))).toBe(true)
    expect(v6(undefined, info({}, '192.0.2.1'))).toBe(false)
  })

  it('rejects entries that are not addresses or ranges', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '::/129', '1.2.3.4/x', 5]) {
      expect(() => allowList([bad as string])).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION' }))
    }
    expect(() => allowList('10.0.0.0/8' as never)).toThrow(ConfigurationError)
  })
})
