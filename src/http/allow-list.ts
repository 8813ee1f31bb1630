// allowList(): a skip function for listed client addresses and CIDR ranges.
import { invalid } from '../limiter/errors.js'
import { addressGroups, embeddedGroups } from './ip-parse.js'
import type { HttpRequestInfo } from './request.js'

interface Cidr {
  readonly v6: boolean
  /** 2 groups of 16 bits for IPv4, 8 for IPv6. */
  readonly groups: readonly number[]
  readonly bits: number
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

/**
 * A `skip` function that lets listed clients through unlimited: addresses or CIDR ranges, IPv4 or
 * IPv6 (`'10.0.0.0/8'`, `'127.0.0.1'`, `'::1'`, `'2001:db8::/32'`). IPv4-mapped IPv6 clients match
 * their IPv4 entries; the other IPv6 forms keys read as IPv4 (NAT64, SIIT, 6to4, Teredo, see
 * {@link normalizeIp}) match the IPv4 entries by that address and the IPv6 entries as written.
 * The address is the one the framework resolved, as for keys.
 *
 * @example
 * app.use(rateLimit({ policies, skip: allowList(['127.0.0.1', '::1', '10.0.0.0/8']) }))
 */
export function allowList(entries: readonly string[]): (req: unknown, info: Pick<HttpRequestInfo, 'ip'>) => boolean {
  const where = 'allowList()'
  if (!Array.isArray(entries)) invalid(where, 'entries', 'must be an array of IP addresses or CIDR ranges', entries)
  const list: Cidr[] = []
  entries.forEach((entry, i) => {
    if (typeof entry !== 'string') invalid(where, `entries[${i}]`, 'must be an IP address or CIDR range', entry)
    const slash = entry.indexOf('/')
    const addr = addressGroups(slash < 0 ? entry : entry.slice(0, slash))
    if (addr === undefined) invalid(where, `entries[${i}]`, 'must be an IP address or CIDR range', entry)
    const max = addr.v6 ? 128 : 32
    let bits = max
    if (slash >= 0) {
      const text = entry.slice(slash + 1)
      bits = /^\d{1,3}$/.test(text) ? Number(text) : -1
      if (bits < 0 || bits > max) invalid(where, `entries[${i}]`, `must have a prefix length from 0 to ${max}`, entry)
    }
    list.push({ v6: addr.v6, groups: addr.groups, bits })
  })
  return function isAllowListed(_req, info) {
    const ip = info.ip
    if (ip === undefined || ip.length === 0) return false
    const addr = addressGroups(ip)
    if (addr === undefined) return false
    // An IPv6 address carrying an IPv4 client's address is keyed as that IPv4 address: it
    // matches the IPv4 entries by it, and the IPv6 entries as written.
    const v4 = addr.v6 ? embeddedGroups(addr.groups) : undefined
    for (const cidr of list) {
      if (cidr.v6 === addr.v6 && matches(cidr, addr.groups)) return true
      if (v4 !== undefined && !cidr.v6 && matches(cidr, v4)) return true
    }
    return false
  }
}
