// allowList(): a skip function for listed client addresses and CIDR ranges, that is an allow list too.
import type { AccessList } from './access-list.js'
import { IpRanges } from './ip-ranges.js'
import type { HttpRequestInfo } from './request.js'

/** What `allowList` returns: a `skip` function, and an {@link AccessList} for the `allow` option. */
export type AllowList = ((req: unknown, info: Pick<HttpRequestInfo, 'ip'>) => boolean) & AccessList

/**
 * A `skip` function that lets listed clients through unlimited: addresses or CIDR ranges, IPv4 or
 * IPv6 (`'10.0.0.0/8'`, `'127.0.0.1'`, `'::1'`, `'2001:db8::/32'`). IPv4-mapped IPv6 clients match
 * their IPv4 entries; the other IPv6 forms keys read as IPv4 (NAT64, SIIT, 6to4, Teredo, see
 * {@link normalizeIp}) match the IPv4 entries by that address and the IPv6 entries as written.
 * The address is the one the framework resolved, read as keys read it (a port or brackets a proxy
 * added are dropped). A lookup costs O(prefix length) whatever the number of entries.
 *
 * It is also a list for the `allow` option (beside `denyList` for `deny`), where a deny list
 * wins over it: `allow: allowList([...])`.
 *
 * @example
 * app.use(rateLimit({ policies, skip: allowList(['127.0.0.1', '::1', '10.0.0.0/8']) }))
 */
export function allowList(entries: readonly string[]): AllowList {
  const ranges = new IpRanges(entries, 'allowList()')
  const isAllowListed = (_req: unknown, info: Pick<HttpRequestInfo, 'ip'>): boolean => ranges.has(info.ip)
  return Object.assign(isAllowListed, {
    byKey: false,
    hasIp: (req: HttpRequestInfo) => ranges.has(req.ip),
    hasKey: () => false,
  })
}
