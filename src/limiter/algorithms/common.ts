import { type Duration, parseDuration } from '../duration.js'
import { checkInteger, checkKnownOptions, checkOptionsObject, invalid } from '../errors.js'
import { NAME_PATTERN } from '../policy.js'

/** Validates the options every policy shares and returns the parsed window and name parts. */
export function baseOptions(
  where: string,
  options: unknown,
  known: Record<string, true>,
): { limit: number; name: string | undefined; shadow: boolean; raw: Record<string, unknown> } {
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, known as never)
  const raw = options as Record<string, unknown>
  const limit = checkInteger(where, 'limit', raw.limit, 0, 1_000_000_000)
  let name: string | undefined
  if (raw.name !== undefined) {
    if (typeof raw.name !== 'string' || !NAME_PATTERN.test(raw.name)) {
      invalid(where, 'name', 'must be 1-64 characters: letters, digits and _ . : / - (starting with a letter or digit)', raw.name)
    }
    name = raw.name
  }
  if (raw.shadow !== undefined && typeof raw.shadow !== 'boolean') invalid(where, 'shadow', 'must be a boolean', raw.shadow)
  return { limit, name, shadow: raw.shadow === true, raw }
}

/** Units of window labels, largest first. */
const LABEL_UNITS: readonly (readonly [string, number])[] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
]

/**
 * A short label for a window, used in default names: its length in the largest unit that divides
 * it (60000, `'60s'` and `'1m'` are all `1m`; `'1.5m'` is `90s`). A default name is part of the
 * stored key, so it must not depend on how the window was spelled: servers that spell one limit
 * differently would count in separate buckets.
 */
export function windowLabel(windowMs: number): string {
  for (const [unit, ms] of LABEL_UNITS) if (windowMs % ms === 0) return `${windowMs / ms}${unit}`
  return `${windowMs}ms`
}

/** A window given as a number below this many ms is reported: seconds were probably meant. */
const SHORT_NUMERIC_WINDOW_MS = 1_000
/** Code of that report, made once per process. */
export const WINDOW_IN_MS = 'RK_WINDOW_IN_MS'
let shortWindowReported = false

/**
 * A policy's window in ms. A number is milliseconds: `window: 60` written by someone who meant
 * seconds (rate-limiter-flexible's `duration`) limits per 60 ms, a thousand times more than meant.
 * A numeric window under a second is therefore reported once per process; the string form says
 * what is meant (`'60ms'`, `'60s'`) and is never reported.
 */
export function parseWindow(where: string, window: unknown): number {
  const ms = parseDuration(where, 'window', window as Duration)
  if (typeof window === 'number' && ms < SHORT_NUMERIC_WINDOW_MS && !shortWindowReported) {
    shortWindowReported = true
    process.emitWarning(
      `ratekeeper: ${where}: window: ${ms} is ${ms} milliseconds (a number is read as ms). For seconds write '${ms}s'; ` +
        `write '${ms}ms' to say milliseconds (reported once).`,
      { code: WINDOW_IN_MS },
    )
  }
  return ms
}
