// A set of IPv4 and IPv6 CIDR ranges, matched in O(prefix length): a binary trie over the address bits.
import { invalid } from '../limiter/errors.js'
import { NOT_AN_ADDRESS, normalizeIp } from './ip.js'
import { addressGroups, embeddedGroups, parseIpv4, parseIpv6 } from './ip-parse.js'

/** An address as 16-bit groups: 2 for IPv4 (IPv4-mapped IPv6 included), 8 for IPv6. */
interface Groups {
  readonly v6: boolean
  readonly groups: readonly number[]
}

/** Trie nodes 0 and 1 are the IPv4 and IPv6 roots; no node is ever a child of either, so 0 means "no child". */
const V4_ROOT = 0
const V6_ROOT = 1
const NONE = 0

/**
 * The groups of a client address, read as keys read it (see {@link normalizeIp}): the common
 * spellings at once, and the unusual ones (a port, brackets, spaces, more leading zeros than
 * three digits) through `normalizeIp`. `undefined` for text that is no address.
 */
export function clientGroups(ip: string): Groups | undefined {
  const direct = addressGroups(ip)
  if (direct !== undefined) return direct
  // An IPv6 client with a port is read at full length (/128), an IPv4 one as dotted text.
  const key = normalizeIp(ip, 128)
  if (key === NOT_AN_ADDRESS) return undefined
  if (key.endsWith('/128')) {
    const g = parseIpv6(key.slice(0, -4))
    return g === undefined ? undefined : { v6: true, groups: g }
  }
  const o = parseIpv4(key)
  return o === undefined ? undefined : { v6: false, groups: [(o[0] << 8) | o[1], (o[2] << 8) | o[3]] }
}

/**
 * A set of addresses and CIDR ranges (`'10.0.0.0/8'`, `'192.0.2.7'`, `'2001:db8::/32'`), built
 * once, asked per request. A lookup walks at most 32 (IPv4) or 128 (IPv6) trie nodes, whatever
 * the number of ranges, and in practice far fewer: a subtree holding one range is one leaf,
 * compared at once. A range inside another adds nothing. IPv4-mapped IPv6 (entries and clients)
 * is read as its IPv4 address; a client address of another form carrying an IPv4 client (NAT64,
 * SIIT, 6to4, Teredo: see {@link normalizeIp}) matches the IPv4 ranges by that address and the
 * IPv6 ranges as written.
 */
export class IpRanges {
  /**
   * Children: node n's 0-child at 2n, its 1-child at 2n + 1: a node index (> 1), NONE, or a leaf
   * `-(r + 1)` standing for range r alone in that subtree.
   */
  #child: Int32Array = new Int32Array(1024)
  /** Whether node n ends a range (every address below it matches). */
  #end: Uint8Array = new Uint8Array(512)
  #nodes = 2
  /** Range r's groups at 8r…8r + 7 (IPv4 uses the first 2), and its prefix length. */
  readonly #groups: Uint16Array
  readonly #bits: Uint8Array
  #hasV4 = false
  /** The number of entries given. */
  readonly size: number

  /**
   * Throws a `ConfigurationError` naming `where` and `${option}[i]` for the first entry that is
   * not an address or range.
   */
  constructor(entries: readonly string[], where: string, option = 'entries') {
    if (!Array.isArray(entries)) invalid(where, option, 'must be an array of IP addresses or CIDR ranges', entries)
    this.#groups = new Uint16Array(entries.length * 8)
    this.#bits = new Uint8Array(entries.length)
    entries.forEach((entry, i) => {
      const name = `${option}[${i}]`
      if (typeof entry !== 'string') invalid(where, name, 'must be an IP address or CIDR range', entry)
      const slash = entry.indexOf('/')
      const addr = addressGroups(slash < 0 ? entry : entry.slice(0, slash))
      if (addr === undefined) invalid(where, name, 'must be an IP address or CIDR range', entry)
      const max = addr.v6 ? 128 : 32
      let bits = max
      if (slash >= 0) {
        const text = entry.slice(slash + 1)
        bits = /^\d{1,3}$/.test(text) ? Number(text) : -1
        if (bits < 0 || bits > max) invalid(where, name, `must have a prefix length from 0 to ${max}`, entry)
      }
      this.#groups.set(addr.groups, i * 8)
      this.#bits[i] = bits
      this.#insert(addr.v6 ? V6_ROOT : V4_ROOT, i)
      if (!addr.v6) this.#hasV4 = true
    })
    this.size = entries.length
  }

  /** Whether the client address `ip` (as the framework resolved it) is in one of the ranges. */
  has(ip: string | undefined): boolean {
    if (ip === undefined || ip.length === 0) return false
    const addr = clientGroups(ip)
    if (addr === undefined) return false
    if (!addr.v6) return this.#walk(V4_ROOT, addr.groups, 32)
    if (this.#walk(V6_ROOT, addr.groups, 128)) return true
    if (!this.#hasV4) return false
    const v4 = embeddedGroups(addr.groups)
    return v4 !== undefined && this.#walk(V4_ROOT, v4, 32)
  }

  #walk(root: number, groups: readonly number[], max: number): boolean {
    const child = this.#child
    const end = this.#end
    let node = root
    for (let i = 0; i < max; i++) {
      if (end[node] === 1) return true
      node = child[2 * node + ((groups[i >> 4] >> (15 - (i & 15))) & 1)]
      if (node === NONE) return false
      if (node < 0) return this.#inRange(-node - 1, groups)
    }
    return end[node] === 1
  }

  /** Whether `groups` starts with range r's prefix. */
  #inRange(r: number, groups: readonly number[]): boolean {
    const bits = this.#bits[r]
    const at = r * 8
    for (let i = 0; 16 * i < bits; i++) {
      const keep = bits - 16 * i
      const mask = keep >= 16 ? 0xffff : (0xffff << (16 - keep)) & 0xffff
      if (((groups[i] ^ this.#groups[at + i]) & mask) !== 0) return false
    }
    return true
  }

  /** Bit i of range r's address. */
  #bit(r: number, i: number): number {
    return (this.#groups[r * 8 + (i >> 4)] >> (15 - (i & 15))) & 1
  }

  #insert(root: number, r: number): void {
    const bits = this.#bits[r]
    let node = root
    for (let i = 0; ; i++) {
      // Already inside a shorter range: this one adds nothing.
      if (this.#end[node] === 1) return
      if (i === bits) {
        this.#end[node] = 1
        return
      }
      const slot = 2 * node + this.#bit(r, i)
      const next = this.#child[slot]
      if (next === NONE) {
        this.#child[slot] = -r - 1
        return
      }
      if (next > 0) {
        node = next
        continue
      }
      // A leaf: range `other` alone below. Push it one level down, under a new node, and go on.
      const other = -next - 1
      const split = this.#newNode()
      this.#child[slot] = split
      if (this.#bits[other] === i + 1) this.#end[split] = 1
      else this.#child[2 * split + this.#bit(other, i + 1)] = next
      node = split
    }
  }

  #newNode(): number {
    const n = this.#nodes++
    if (n >= this.#end.length) {
      const child = new Int32Array(this.#child.length * 2)
      child.set(this.#child)
      this.#child = child
      const end = new Uint8Array(this.#end.length * 2)
      end.set(this.#end)
      this.#end = end
    }
    return n
  }
}
