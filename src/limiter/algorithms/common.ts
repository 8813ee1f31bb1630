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

/** A short label for a window, used in default names: `'1m'` stays `1m`, 60000 becomes `60000ms`. */
export function windowLabel(window: unknown, windowMs: number): string {
  if (typeof window === 'string') return window.replace(/\s+/g, '')
  return `${windowMs}ms`
}

export function parseWindow(where: string, window: unknown): number {
  return parseDuration(where, 'window', window as Duration)
}
