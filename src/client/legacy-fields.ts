import { MAX_MEMBERS } from './field-list.js'
import type { Lookup } from './headers-like.js'
import { FIGURE_PATTERN, type Figures, MAX_FIGURE, strictest } from './rate-limit-info.js'

/**
 * How to read `X-RateLimit-Reset`, which has no specification: most APIs (GitHub, every seed) send
 * Unix epoch seconds, some (Fastify) send seconds from now, a few epoch milliseconds.
 * - `'auto'` (the default): a value of at least 1e11 is epoch ms, at least 1e9 epoch seconds
 *   (1e9 s is the year 2001, and no window lasts 31 years), anything smaller seconds from now;
 * - the other values force one reading.
 */
export type ResetFormat = 'auto' | 'epoch-seconds' | 'epoch-ms' | 'delta-seconds'

/** Every {@link ResetFormat}, to check an option against. */
export const RESET_FORMATS: readonly unknown[] = ['auto', 'epoch-seconds', 'epoch-ms', 'delta-seconds'] satisfies ResetFormat[]

/** Converts a reset value to epoch ms according to `format`. */
export function resetToEpochMs(value: number, now: number, format: ResetFormat = 'auto'): number {
  switch (format) {
    case 'epoch-seconds':
      return Math.round(value * 1000)
    case 'epoch-ms':
      return Math.round(value)
    case 'delta-seconds':
      return now + Math.round(value * 1000)
    default:
      if (value >= 1e11) return Math.round(value)
      if (value >= 1e9) return Math.round(value * 1000)
      return now + Math.round(value * 1000)
  }
}

/** One member of a comma-joined numeric field: a number, optionally followed by parameters (`100;w=60`). */
const MEMBER_NUMBER = new RegExp(String.raw`^[ \t]*(${FIGURE_PATTERN})[ \t]*(?:;|$)`)

/**
 * A non-negative number of a legacy field (`"100"`, `"100, 100;w=60"`, `"1707480060.5"`); negatives
 * read as 0. A field sent twice arrives comma-joined (a gateway and the app each send one, `"5, 0"`):
 * the {@link strictest} member counts (the fewest remaining, the latest reset, the smallest limit).
 * Malformed members are skipped; at most {@link MAX_MEMBERS} are looked at, in one pass, no exceptions.
 */
function legacyNumber(figure: keyof Figures, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  let out: number | undefined
  for (const part of value.split(',', MAX_MEMBERS)) {
    const m = MEMBER_NUMBER.exec(part)
    if (m === null) continue
    const n = Number(m[1])
    if (!Number.isFinite(n) || n > MAX_FIGURE) continue
    const v = Math.max(n, 0)
    out = out === undefined ? v : strictest(figure, out, v)
  }
  return out
}

/** The dialects that send one figure per field. */
export type OneFieldPerFigureDialect = 'draft-6' | 'x-ratelimit'

/** Each figure's field names, lowercase, tried in order: the first one present is read. */
const FIELD_NAMES: {
  readonly [D in OneFieldPerFigureDialect]: { readonly [F in keyof Figures]-?: readonly string[] }
} = {
  // IETF draft 6.
  'draft-6': { limit: ['ratelimit-limit'], remaining: ['ratelimit-remaining'], reset: ['ratelimit-reset'] },
  // The conventional headers, and the `X-Rate-Limit-*` spelling some APIs use.
  'x-ratelimit': {
    limit: ['x-ratelimit-limit', 'x-rate-limit-limit'],
    remaining: ['x-ratelimit-remaining', 'x-rate-limit-remaining'],
    reset: ['x-ratelimit-reset', 'x-rate-limit-reset'],
  },
}

/**
 * Reads the figures of a dialect that sends one figure per field (draft 6, `X-RateLimit-*`), each
 * field the strictest of its members; `undefined` when none of them reads.
 */
export function readOneFieldPerFigure(dialect: OneFieldPerFigureDialect, read: Lookup): Figures | undefined {
  const names = FIELD_NAMES[dialect]
  const field = (spellings: readonly string[]): string | undefined => {
    for (const name of spellings) {
      const value = read(name)
      if (value !== undefined) return value
    }
    return undefined
  }
  const limit = legacyNumber('limit', field(names.limit))
  const remaining = legacyNumber('remaining', field(names.remaining))
  const reset = legacyNumber('reset', field(names.reset))
  if (limit === undefined && remaining === undefined && reset === undefined) return undefined
  return { limit, remaining, reset }
}
