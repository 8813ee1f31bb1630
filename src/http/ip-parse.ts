// IP address text ↔ 16-bit groups: the parsers behind normalizeIp and allowList.

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
export function parseIpv6(text: string): number[] | undefined {
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

export function parseIpv4(s: string): number[] | undefined {
  const m = IPV4.exec(s)
  if (m === null) return undefined
  const out = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]
  for (const n of out) if (n > 255) return undefined
  return out
}

/** RFC 5952 text of 8 groups: lower case, no leading zeros, the longest run (>= 2) of zero groups as `::`. */
export function formatIpv6(groups: readonly number[]): string {
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
export function embeddedIpv4(g: readonly number[]): string | undefined {
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

/** An address as 16-bit groups: 2 for IPv4 (IPv4-mapped IPv6 included), 8 for IPv6. */
export function addressGroups(ip: string): { v6: boolean; groups: number[] } | undefined {
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
export function embeddedGroups(g: readonly number[]): number[] | undefined {
  const v4 = embeddedIpv4(g)
  if (v4 === undefined) return undefined
  const o = parseIpv4(v4) as number[]
  return [(o[0] << 8) | o[1], (o[2] << 8) | o[3]]
}
