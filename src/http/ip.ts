// Client addresses in canonical form: the identity IP keys count by.
import { checkInteger } from '../limiter/errors.js'
import { embeddedIpv4, formatIpv6, parseIpv4, parseIpv6 } from './ip-parse.js'

/** The IPv6 prefix length clients are grouped by unless told otherwise: one customer site. */
export const DEFAULT_IPV6_SUBNET = 56

/** Whether `ip` starts with `::ffff:` (any case). */
function isMappedPrefix(ip: string): boolean {
  return (
    ip.length > 7 &&
    ip.charCodeAt(0) === 58 &&
    ip.charCodeAt(1) === 58 &&
    (ip.charCodeAt(2) | 0x20) === 102 &&
    (ip.charCodeAt(3) | 0x20) === 102 &&
    (ip.charCodeAt(4) | 0x20) === 102 &&
    (ip.charCodeAt(5) | 0x20) === 102 &&
    ip.charCodeAt(6) === 58
  )
}

/**
 * `s` from `from` to its end as an IPv4 address in canonical dotted form (what {@link parseIpv4}
 * accepts: four decimal octets of 1-3 digits, each at most 255), or `undefined`.
 */
function dottedIpv4(s: string, from: number): string | undefined {
  let octets = 0
  let n = 0
  let digits = 0
  let canonical = true
  for (let i = from; i <= s.length; i++) {
    const c = i === s.length ? 46 /* . */ : s.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || n > 255 || ++octets > 4) return undefined
      n = 0
      digits = 0
      continue
    }
    if (c < 48 || c > 57 || ++digits > 3) return undefined
    if (digits === 2 && n === 0) canonical = false // a leading zero
    n = n * 10 + (c - 48)
  }
  if (octets !== 4) return undefined
  if (canonical) return s.slice(from)
  const v4 = parseIpv4(s.slice(from))
  return v4 === undefined ? undefined : `${v4[0]}.${v4[1]}.${v4[2]}.${v4[3]}`
}

/**
 * Whether `s` is IPv4 in canonical dotted form: four decimal octets of 1-3 digits, each at most
 * 255, without leading zeros. The cheap check of {@link normalizeIp}: it allocates nothing.
 */
function isCanonicalIpv4(s: string): boolean {
  const length = s.length
  if (length < 7 || length > 15) return false
  let dots = 0
  let n = 0
  let digits = 0
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i)
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return false
      digits = 0
      n = 0
      continue
    }
    const d = c - 48
    if (d < 0 || d > 9 || (digits > 0 && n === 0)) return false
    n = n * 10 + d
    if (++digits > 3 || n > 255) return false
  }
  return dots === 3 && digits > 0
}

/**
 * What {@link normalizeIp} returns for text that is not an IP address: every such request shares
 * this one value (and so one bucket per route), so a client that can choose the text can't make
 * itself new buckets.
 */
export const NOT_AN_ADDRESS = 'not-an-address'

/** The key of 8 IPv6 groups: the IPv4 address they carry, or their first `ipv6Subnet` bits. */
function ipv6Key(groups: number[], ipv6Subnet: number): string {
  const v4 = embeddedIpv4(groups)
  if (v4 !== undefined) return v4
  for (let i = 0; i < 8; i++) {
    const keep = ipv6Subnet - i * 16
    if (keep <= 0) groups[i] = 0
    else if (keep < 16) groups[i] &= (0xffff << (16 - keep)) & 0xffff
  }
  return `${formatIpv6(groups)}/${ipv6Subnet}`
}

/** Whether `s[from, end)` is `:` and a port (1-5 digits, at most 65535). */
function isPortSuffix(s: string, from: number): boolean {
  if (s.charCodeAt(from) !== 58 /* : */) return false
  const digits = s.length - from - 1
  if (digits < 1 || digits > 5) return false
  let n = 0
  for (let i = from + 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
    n = n * 10 + (c - 48)
  }
  return n <= 65535
}

/** Dotted IPv4 with any number of leading zeros per octet (read as decimal) in canonical form, or `undefined`. */
function looseIpv4(s: string): string | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  const out: number[] = []
  for (const part of parts) {
    if (part.length === 0 || part.length > 12 || !/^\d+$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    out.push(n)
  }
  return out.join('.')
}

/**
 * The slow path of {@link normalizeIp}, for what the cheap checks did not take: surrounding
 * spaces, a port (`203.0.113.7:50001`, `[2001:db8::1]:443`), brackets around IPv4, more leading
 * zeros than three digits hold. Anything else is {@link NOT_AN_ADDRESS}.
 */
function normalizeUnusualIp(text: string, ipv6Subnet: number): string {
  let s = text.trim()
  if (s.charCodeAt(0) === 91 /* [ */) {
    const close = s.indexOf(']')
    if (close < 0 || (close + 1 < s.length && !isPortSuffix(s, close + 1))) return NOT_AN_ADDRESS
    s = s.slice(1, close)
    if (s.indexOf(':') >= 0) {
      const groups = parseIpv6(s)
      return groups === undefined ? NOT_AN_ADDRESS : ipv6Key(groups, ipv6Subnet)
    }
  } else {
    const colon = s.indexOf(':')
    if (colon >= 0 && s.indexOf(':', colon + 1) >= 0) {
      const groups = parseIpv6(s)
      return groups === undefined ? NOT_AN_ADDRESS : ipv6Key(groups, ipv6Subnet)
    }
    // One colon: IPv4 and a port (IPv6 has at least two).
    if (colon >= 0) {
      if (!isPortSuffix(s, colon)) return NOT_AN_ADDRESS
      s = s.slice(0, colon)
    }
  }
  return looseIpv4(s) ?? NOT_AN_ADDRESS
}

/**
 * The canonical form of a client address, as keys use it:
 * - IPv4 in dotted decimal without leading zeros (`203.0.113.7`; `203.0.113.07` is read as
 *   decimal, the same address);
 * - an IPv6 address that carries an IPv4 client's address as its IPv4 address: IPv4-mapped
 *   (`::ffff:203.0.113.7`, `::ffff:cb00:7107`), so a dual-stack socket can't give one client two
 *   buckets, and likewise SIIT (`::ffff:0:203.0.113.7`), IPv4-compatible (`::203.0.113.7`), the
 *   NAT64 well-known prefix (`64:ff9b::203.0.113.7`), 6to4 (`2002:cb00:7107::/48`) and Teredo
 *   (`2001:0::/32`), so that the IPv4 clients behind one of those prefixes are not one client
 *   (and IPv4 is never masked as IPv6);
 * - other IPv6 masked to its first `ipv6Subnet` bits, in RFC 5952 form with the prefix length
 *   (`2001:db8:1234:5600::/56`), because one customer is usually given a whole /56 or /48 and
 *   could otherwise rotate through 2^72 addresses;
 * - a port some proxies append (`203.0.113.7:50001`, `[2001:db8::1]:443`) is dropped: the client
 *   is the address, not the connection;
 * - anything else (not an IP address) is {@link NOT_AN_ADDRESS}, one value for all such text.
 *
 * @example
 * normalizeIp('::ffff:203.0.113.7')            // '203.0.113.7'
 * normalizeIp('203.0.113.7:50001')             // '203.0.113.7'
 * normalizeIp('64:ff9b::203.0.113.7')          // '203.0.113.7'
 * normalizeIp('2001:db8:1234:56ab::1')         // '2001:db8:1234:5600::/56'
 * normalizeIp('2001:db8::1', 128)              // '2001:db8::1/128'
 */
export function normalizeIp(ip: string, ipv6Subnet: number = DEFAULT_IPV6_SUBNET): string {
  if (isCanonicalIpv4(ip)) return ip
  if (ip.indexOf(':') < 0) return normalizeUnusualIp(ip, ipv6Subnet)
  // The IPv6 text met most: an IPv4 client of a dual-stack socket (`::ffff:203.0.113.7`).
  if (isMappedPrefix(ip)) {
    const v4 = dottedIpv4(ip, 7)
    if (v4 !== undefined) return v4
  }
  const groups = parseIpv6(ip)
  return groups === undefined ? normalizeUnusualIp(ip, ipv6Subnet) : ipv6Key(groups, ipv6Subnet)
}

/** Throws unless `subnet` is a valid IPv6 grouping prefix length (32-128). */
export function checkIpv6Subnet(where: string, option: string, subnet: unknown): number {
  return checkInteger(where, option, subnet, 32, 128)
}
