import { invalid } from './errors.js'

/** A duration unit accepted in strings: milliseconds, seconds, minutes, hours, days. @inline */
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd'

/**
 * A duration: a whole number of milliseconds, or a string such as `'500ms'`, `'10s'`, `'1m'`,
 * `'1h'`, `'1d'` (an optional space before the unit is allowed: `'10 s'`).
 */
export type Duration = number | `${number}${DurationUnit}` | `${number} ${DurationUnit}`

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PATTERN = /^(\d+(?:\.\d+)?) ?(ms|s|m|h|d)$/

/** The longest duration accepted anywhere: 10 years, far below the integer precision limits. */
export const MAX_DURATION_MS = 10 * 366 * 86_400_000

/**
 * Parses a {@link Duration} into whole milliseconds; throws `ERR_RK_INVALID_OPTION` naming
 * `option` for anything else (negative, fractional milliseconds, NaN, unknown unit, zero).
 */
export function parseDuration(where: string, option: string, value: unknown): number {
  let ms: number
  if (typeof value === 'number') {
    ms = value
  } else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim())
    if (!match) invalid(where, option, "must be milliseconds or a string like '500ms', '10s', '1m', '1h', '1d'", value)
    ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit]
  } else {
    invalid(where, option, "must be milliseconds or a string like '500ms', '10s', '1m', '1h', '1d'", value)
  }
  if (!Number.isInteger(ms) || ms < 1) invalid(where, option, 'must be a whole number of milliseconds >= 1', value)
  if (ms > MAX_DURATION_MS) invalid(where, option, `must be at most ${MAX_DURATION_MS} ms (10 years)`, value)
  return ms
}
