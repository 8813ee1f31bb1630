// Lists section: the CIDR matcher behind allow and deny lists, with 100,000 ranges, ns per lookup.

import { formatIpv6 } from '../src/http/ip-parse.js'
import { IpRanges } from '../src/http/ip-ranges.js'
import { type Contender, num, prng, progress, table, targetsTable, timeRounds } from './stats.js'
import type { BenchSection } from './types.js'

const RANGES = 100_000
const OPS = 200_000
const ROUNDS = Number(process.env.RK_BENCH_ROUNDS ?? 9)
const TARGET_NS = 1_000
/** Distinct addresses asked per row, in turn (more than any CPU cache line reuse would flatter). */
const ADDRESSES = 8_192

const random = prng(20_260_412)
const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1))

/** Groups of a random address whose first group is drawn from [lo, hi]. */
function groupsIn(count: number, lo: number, hi: number): number[] {
  const g = Array.from({ length: count }, () => int(0, 0xffff))
  g[0] = int(lo, hi)
  return g
}

/** `groups` with every bit after the first `bits` replaced by random ones (an address inside the range). */
function inside(groups: readonly number[], bits: number): number[] {
  return groups.map((g, i) => {
    const keep = Math.max(0, Math.min(16, bits - i * 16))
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff
    return (g & mask) | (int(0, 0xffff) & ~mask & 0xffff)
  })
}

const v4Text = (g: readonly number[]) => `${g[0] >> 8}.${g[0] & 255}.${g[1] >> 8}.${g[1] & 255}`

interface Range {
  readonly v6: boolean
  readonly groups: number[]
  readonly bits: number
}

/**
 * Half IPv4 (prefixes /8-/32, first octet 11-250), half IPv6 (prefixes /16-/128 inside 2000::/3):
 * misses are drawn from space no range covers (1.0.0.0-9.255.255.255, fc00::/7).
 */
function ranges(): Range[] {
  return Array.from({ length: RANGES }, (_, i) =>
    i % 2 === 0
      ? { v6: false, groups: groupsIn(2, 11 << 8, (250 << 8) | 255), bits: int(8, 32) }
      : { v6: true, groups: groupsIn(8, 0x2000, 0x3fff), bits: int(16, 128) },
  )
}

function lookups(ipRanges: IpRanges, name: string, addresses: readonly string[], want: boolean): Contender {
  for (const a of addresses) if (ipRanges.has(a) !== want) throw new Error(`${name}: ${a} should ${want ? '' : 'not '}match`)
  let i = 0
  let sink = 0
  return {
    name,
    batch(n) {
      for (let k = 0; k < n; k++) {
        if (ipRanges.has(addresses[i])) sink++
        i = (i + 1) & (ADDRESSES - 1)
      }
      if (sink < 0) throw new Error('unreachable')
    },
  }
}

export async function run(): Promise<BenchSection> {
  const list = ranges()
  const entries = list.map((r) => `${r.v6 ? formatIpv6(r.groups) : v4Text(r.groups)}/${r.bits}`)
  progress(`building ${num(RANGES)} ranges`)
  const heapBefore = process.memoryUsage()
  const started = process.hrtime.bigint()
  const ipRanges = new IpRanges(entries, 'bench')
  const buildMs = Number(process.hrtime.bigint() - started) / 1e6
  const heapAfter = process.memoryUsage()
  const memoryMb = (heapAfter.heapUsed + heapAfter.arrayBuffers - heapBefore.heapUsed - heapBefore.arrayBuffers) / 2 ** 20

  const v4s = list.filter((r) => !r.v6)
  const v6s = list.filter((r) => r.v6)
  const pick = (rs: readonly Range[]) => rs[int(0, rs.length - 1)]
  const addresses = (make: () => string) => Array.from({ length: ADDRESSES }, make)
  const rows: Contender[] = [
    lookups(
      ipRanges,
      'IPv4, hit',
      addresses(() => {
        const r = pick(v4s)
        return v4Text(inside(r.groups, r.bits))
      }),
      true,
    ),
    lookups(
      ipRanges,
      'IPv4, miss',
      addresses(() => v4Text(groupsIn(2, 1 << 8, (9 << 8) | 255))),
      false,
    ),
    lookups(
      ipRanges,
      'IPv4-mapped IPv6, hit',
      addresses(() => {
        const r = pick(v4s)
        return `::ffff:${v4Text(inside(r.groups, r.bits))}`
      }),
      true,
    ),
    lookups(
      ipRanges,
      'IPv6, hit',
      addresses(() => {
        const r = pick(v6s)
        return formatIpv6(inside(r.groups, r.bits))
      }),
      true,
    ),
    lookups(
      ipRanges,
      'IPv6, miss',
      addresses(() => formatIpv6(groupsIn(8, 0xfc00, 0xfdff))),
      false,
    ),
  ]
  progress(`timing ${rows.length} kinds of lookup`)
  const ns = await timeRounds(rows, { ops: OPS, rounds: ROUNDS })
  const at = (name: string) => ns.get(name) ?? Number.NaN
  const worst = Math.max(...rows.map((r) => at(r.name)))

  const markdown = [
    '### Targets',
    '',
    targetsTable([[`ns per lookup, ${num(RANGES)} ranges (slowest kind)`, num(worst), `≤ ${num(TARGET_NS)}`, worst <= TARGET_NS]]),
    '',
    `### CPU nanoseconds per lookup (median of ${ROUNDS} interleaved rounds of ${num(OPS)})`,
    '',
    table(
      ['address', 'ns per lookup'],
      rows.map((r) => [r.name, num(at(r.name))]),
      ['l', 'r'],
    ),
    '',
    `Built in ${num(buildMs)} ms; ${num(memoryMb, 1)} MB of heap and typed arrays.`,
    '',
    'How this is measured (`bench/lists.ts`): `IpRanges.has(text)`, what an allow or deny list',
    'asks per request, parsing included, on addresses in their usual text form. The ranges are',
    `${num(RANGES)} seeded random ones, half IPv4 (/8-/32), half IPv6 (/16-/128 inside 2000::/3);`,
    `each row asks ${num(ADDRESSES)} distinct addresses in turn: hits drawn inside random ranges,`,
    'misses from space no range covers (1.0.0.0-9.255.255.255, fc00::/7). CPU time per batch.',
  ].join('\n')
  return { title: 'Allow and deny lists', markdown }
}
