import { ConfigurationError, checkInteger, checkKnownOptions, checkOptionsObject, invalid, invalidAtRequest } from '../limiter/errors.js'
import { encodeSubject } from '../limiter/subject.js'

/**
 * What a key function sees about a request (the framework-neutral part of it). Adapters fill it
 * from the framework's own request; `raw` is that request (Express `req`, Koa `ctx`, Fastify
 * `request`, a Fetch `Request`).
 */
export interface KeyRequestInfo {
  /** The client address as the framework resolved it under its own trust-proxy setting. */
  readonly ip: string | undefined
  /** Request headers, read case-insensitively. */
  readonly headers: { get(name: string): string | undefined }
}

/**
 * Returns the key a request is counted under, or `undefined` to count it under the client's IP
 * (`ip:` + the address, IPv6 grouped by `ipv6Subnet`). May return a promise.
 *
 * Keys made by the helpers ({@link apiKey}, {@link userKey}, {@link ipKey}) are prefixed by kind
 * (`key:`, `user:`, `ip:`) so different kinds of identity never share a bucket. A key you build
 * yourself is used exactly as returned: prefix it too if it can meet another kind of identity.
 */
export type KeyFunction<Req = unknown, Info extends KeyRequestInfo = KeyRequestInfo> = (
  req: Req,
  info: Info,
) => string | undefined | Promise<string | undefined>

/** Prefix of keys made from a client address. */
export const IP_PREFIX = 'ip:'
/** Prefix of keys made from an API key or bearer token. */
export const API_KEY_PREFIX = 'key:'
/** Prefix of keys made from a user id. */
export const USER_PREFIX = 'user:'

/** The IPv6 prefix length clients are grouped by unless told otherwise: one customer site. */
export const DEFAULT_IPV6_SUBNET = 56

/** The value of a hex digit's char code, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48 // 0-9
  const lower = c | 0x20
  return lower >= 97 && lower <= 102 ? lower - 87 : -1 // a-f, A-F
}

/**
 * Appends the colon-separated groups of `s[from, to)` (1-4 hex digits each; none when empty) to
 * `out`. False when the text is not such a list.
 */
function parseGroups(s: string, from: number, to: number, out: number[]): boolean {
  if (from === to) return true
  let n = 0
  let digits = 0
  for (let i = from; i <= to; i++) {
    if (i === to || s.charCodeAt(i) === 58 /* : */) {
      if (digits === 0) return false
      out.push(n)
      n = 0
      digits = 0
      continue
    }
    const d = hexDigit(s.charCodeAt(i))
    if (d < 0 || ++digits > 4) return false
    n = n * 16 + d
  }
  return true
}

/**
 * Parses an IPv6 address (with `::` compression, an embedded dotted IPv4 tail and an optional
 * `%zone`) into 8 groups of 16 bits. Returns `undefined` for anything else.
 */
function parseIpv6(text: string): number[] | undefined {
  const zone = text.indexOf('%')
  let s = zone >= 0 ? text.slice(0, zone) : text
  if (s.length > 2 && s.charCodeAt(0) === 91 /* [ */ && s.charCodeAt(s.length - 1) === 93 /* ] */) s = s.slice(1, -1)
  let tail: number[] | undefined
  let end = s.length
  const dot = s.indexOf('.')
  if (dot >= 0) {
    // An IPv4 tail: the last 32 bits in dotted form.
    const lastColon = s.lastIndexOf(':')
    if (lastColon < 0 || lastColon > dot) return undefined
    const v4 = parseIpv4(s.slice(lastColon + 1))
    if (v4 === undefined) return undefined
    tail = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]]
    end = lastColon + 1
    // `::1.2.3.4` leaves `::`; `::ffff:1.2.3.4` leaves `::ffff:`. Keep a lone trailing `::`.
    if (!(end >= 2 && s.charCodeAt(end - 2) === 58)) end--
  }
  const want = tail === undefined ? 8 : 6
  // The one `::` of s[0, end), if any.
  let gap = s.indexOf('::')
  if (gap + 2 > end) gap = -1
  if (gap >= 0) {
    const again = s.indexOf('::', gap + 1)
    if (again >= 0 && again + 2 <= end) return undefined
  }
  const groups: number[] = []
  if (gap >= 0) {
    if (!parseGroups(s, 0, gap, groups)) return undefined
    const head = groups.length
    const rest: number[] = []
    if (!parseGroups(s, gap + 2, end, rest) || head + rest.length >= want) return undefined
    for (let i = head + rest.length; i < want; i++) groups.push(0)
    for (const g of rest) groups.push(g)
  } else if (!parseGroups(s, 0, end, groups) || groups.length !== want) {
    return undefined
  }
  if (tail !== undefined) groups.push(tail[0], tail[1])
  return groups
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

function parseIpv4(s: string): number[] | undefined {
  const m = IPV4.exec(s)
  if (m === null) return undefined
  const out = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]
  for (const n of out) if (n > 255) return undefined
  return out
}

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

/** RFC 5952 text of 8 groups: lower case, no leading zeros, the longest run (>= 2) of zero groups as `::`. */
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  let out = ''
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::'
      i += bestLen - 1
      continue
    }
    // A separator, except first and right after the `::`.
    if (i > 0 && i !== bestStart + bestLen) out += ':'
    out += groups[i].toString(16)
  }
  return out
}

/**
 * The IPv4 address (dotted) carried by an IPv6 address that stands for an IPv4 client, or
 * `undefined`. The forms, each the IPv4 client's own address as an IPv6 server sees it:
 * - `::ffff:0:0/96` IPv4-mapped (a dual-stack socket) and `::ffff:0:0:0/96` IPv4-translated (SIIT);
 * - `::/96` IPv4-compatible (deprecated), except `0.0.0.0/8`: `::` and `::1` are IPv6's own;
 * - `64:ff9b::/96`, the NAT64 well-known prefix (RFC 6052), behind which every IPv4 client of a
 *   translator appears;
 * - `2002::/16` 6to4 (RFC 3056): the site's /48 is derived from, and held by, its IPv4 address;
 * - `2001::/32` Teredo (RFC 4380): the client's public IPv4 address, stored inverted in the last
 *   32 bits (the next 64 bits before it name the Teredo server, shared by all its clients).
 */
function embeddedIpv4(g: readonly number[]): string | undefined {
  let high: number
  let low: number
  const g0 = g[0]
  if (g0 === 0) {
    if (g[1] !== 0 || g[2] !== 0 || g[3] !== 0) return undefined
    const g4 = g[4]
    const g5 = g[5]
    if (!((g4 === 0 && (g5 === 0xffff || (g5 === 0 && g[6] >= 0x100))) || (g4 === 0xffff && g5 === 0))) return undefined
    high = g[6]
    low = g[7]
  } else if (g0 === 0x64) {
    if (g[1] !== 0xff9b || g[2] !== 0 || g[3] !== 0 || g[4] !== 0 || g[5] !== 0) return undefined
    high = g[6]
    low = g[7]
  } else if (g0 === 0x2002) {
    high = g[1]
    low = g[2]
  } else if (g0 === 0x2001 && g[1] === 0) {
    high = g[6] ^ 0xffff
    low = g[7] ^ 0xffff
  } else {
    return undefined
  }
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
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

/** Code of the warning given the first time a client address is not an IP address. */
export const IP_NOT_AN_ADDRESS = 'RK_IP_NOT_AN_ADDRESS'

/** What a warning is told: a code and a message. */
export type KeyWarn = (code: string, message: string) => void

let warnedProcess = false
/** Without a limiter to tell, once per process. */
function warnProcess(code: string, message: string): void {
  if (warnedProcess) return
  warnedProcess = true
  process.emitWarning(message, { code })
}

/**
 * The key of a client address: `ip:` + {@link normalizeIp}. Throws `ERR_RK_INVALID_ARGUMENT`
 * when there is no address (a closed socket, or a proxy setup that yields none): such requests
 * must not share one "undefined" bucket. A value that is not an IP address is keyed
 * `ip:not-an-address` (one bucket for all such values, so a client can't make new ones) and
 * reported through `warn` (`RK_IP_NOT_AN_ADDRESS`; the value itself is never shown), or once per
 * process as a process warning when no `warn` is given.
 *
 * @example
 * ipKey('::ffff:203.0.113.7') // 'ip:203.0.113.7'
 */
export function ipKey(ip: string | undefined, ipv6Subnet: number = DEFAULT_IPV6_SUBNET, warn: KeyWarn = warnProcess): string {
  if (typeof ip !== 'string' || ip.length === 0) {
    throw new ConfigurationError(
      'ERR_RK_INVALID_ARGUMENT',
      'ratekeeper',
      'ip',
      'must be the client address, but this request has none (a closed socket, a trust-proxy setting that yields none, or a Fetch runtime without the ip option): give the adapter the address (Fetch: the ip option), or a key for every request',
      ip,
      { requestTime: true },
    )
  }
  const address = normalizeIp(ip, ipv6Subnet)
  if (address === NOT_AN_ADDRESS) {
    warn(
      IP_NOT_AN_ADDRESS,
      `ratekeeper: a client address the framework resolved is not an IP address (${ip.length} characters, not shown); ` +
        `every such request is counted in one shared bucket, "${IP_PREFIX}${NOT_AN_ADDRESS}". ` +
        'Check the trust-proxy setting and what your proxy writes in X-Forwarded-For, or pass a key function.',
    )
  }
  return IP_PREFIX + encodeSubject('ipKey()', address)
}

/** Options of {@link apiKey}. */
export interface ApiKeyOptions {
  /**
   * The request header holding the key.
   * @default 'authorization' when `bearer` is true, else 'x-api-key'
   */
  header?: string
  /**
   * Read the header as `Bearer <token>` (the scheme is case-insensitive); any other scheme counts
   * as no key.
   * @default false
   */
  bearer?: boolean
}

const API_KEY_KNOWN: { readonly [K in keyof Required<ApiKeyOptions>]: true } = { header: true, bearer: true }
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** A key part that can't be confused with another value: long values hashed, `#` escaped. */
function part(where: string, value: string): string {
  return encodeSubject(where, value)
}

/**
 * A key function that counts requests by API key: `key:` + the header's value (values longer
 * than 256 characters as their SHA-256). A request without the header (or, with `bearer`, without
 * a `Bearer` token) is counted by client IP.
 *
 * @example
 * app.use(rateLimit({ policies, key: apiKey() }))                  // X-Api-Key
 * app.use(rateLimit({ policies, key: apiKey({ bearer: true }) }))  // Authorization: Bearer …
 */
export function apiKey(options: ApiKeyOptions = {}): KeyFunction {
  const where = 'apiKey()'
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, API_KEY_KNOWN)
  if (options.bearer !== undefined && typeof options.bearer !== 'boolean') invalid(where, 'bearer', 'must be a boolean', options.bearer)
  if (options.header !== undefined && (typeof options.header !== 'string' || !HEADER_NAME.test(options.header))) {
    invalid(where, 'header', 'must be a header name', options.header)
  }
  const bearer = options.bearer ?? false
  const header = (options.header ?? (bearer ? 'authorization' : 'x-api-key')).toLowerCase()
  if (bearer) {
    return function bearerTokenKey(_req, info) {
      const value = info.headers.get(header)
      if (value === undefined || value.length < 8 || value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
      const token = value.slice(7).trim()
      return token.length === 0 ? undefined : API_KEY_PREFIX + part(where, token)
    }
  }
  return function apiKeyHeaderKey(_req, info) {
    const value = info.headers.get(header)
    return value === undefined || value.length === 0 ? undefined : API_KEY_PREFIX + part(where, value)
  }
}

/**
 * A key function that counts requests by user: `user:` + the id your function returns (for
 * example from the session your auth middleware set). `undefined`, `null` or `''` means an
 * anonymous request, counted by client IP.
 *
 * @example
 * app.use(rateLimit({ policies, key: userKey((req) => req.user?.id) }))
 */
export function userKey<Req = unknown, Info extends KeyRequestInfo = KeyRequestInfo>(
  getUserId: (req: Req, info: Info) => string | number | null | undefined,
): KeyFunction<Req, Info> {
  const where = 'userKey()'
  if (typeof getUserId !== 'function') invalid(where, 'getUserId', 'must be a function returning the user id', getUserId)
  return function userIdKey(req, info) {
    const id = getUserId(req, info)
    if (id === undefined || id === null || id === '') return undefined
    if (typeof id === 'number') {
      if (!Number.isFinite(id)) invalidAtRequest(where, 'user id', 'must be a string or a finite number', id, 'ERR_RK_INVALID_OPTION')
      return USER_PREFIX + String(id)
    }
    if (typeof id !== 'string') invalidAtRequest(where, 'user id', 'must be a string or a finite number', id, 'ERR_RK_INVALID_OPTION')
    return USER_PREFIX + part(where, id)
  }
}

interface Cidr {
  readonly v6: boolean
  /** 2 groups of 16 bits for IPv4, 8 for IPv6. */
  readonly groups: readonly number[]
  readonly bits: number
}

/** An address as 16-bit groups: 2 for IPv4 (IPv4-mapped IPv6 included), 8 for IPv6. */
function addressGroups(ip: string): { v6: boolean; groups: number[] } | undefined {
  if (ip.indexOf(':') < 0) {
    const v4 = parseIpv4(ip)
    return v4 === undefined ? undefined : { v6: false, groups: [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]] }
  }
  const g = parseIpv6(ip)
  if (g === undefined) return undefined
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) return { v6: false, groups: [g[6], g[7]] }
  return { v6: true, groups: g }
}

/** The groups of the IPv4 address an IPv6 client address carries (see {@link embeddedIpv4}), or `undefined`. */
function embeddedGroups(g: readonly number[]): number[] | undefined {
  const v4 = embeddedIpv4(g)
  if (v4 === undefined) return undefined
  const o = parseIpv4(v4) as number[]
  return [(o[0] << 8) | o[1], (o[2] << 8) | o[3]]
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
export function allowList(entries: readonly string[]): (req: unknown, info: KeyRequestInfo) => boolean {
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
