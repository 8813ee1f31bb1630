import { legacyNumber } from '../limiter/reset-time.js'
import type { Lookup } from './headers-like.js'
import type { Figures } from './rate-limit-info.js'

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
  // A field sent twice reads its strictest member: the smallest limit, the fewest remaining, the
  // latest reset (the reset by upstreamRateLimit()'s rule too).
  const limit = legacyNumber(field(names.limit), Math.min)
  const remaining = legacyNumber(field(names.remaining), Math.min)
  const reset = legacyNumber(field(names.reset), Math.max)
  if (limit === undefined && remaining === undefined && reset === undefined) return undefined
  return { limit, remaining, reset }
}
