import { invalid } from '../limiter/errors.js'

/** True for an object used as a map of names (`{ read: [...] }`): not null, not an array. */
export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * The option names of an options table (name → validator) in the shape `checkKnownOptions` takes:
 * the table is the one list of names, and the compiler keeps it complete.
 */
export function namesOf<T extends object>(table: T): { readonly [K in keyof T]: true } {
  return Object.fromEntries(Object.keys(table).map((name) => [name, true])) as { readonly [K in keyof T]: true }
}

/** An optional function option: `undefined` (not passed) or a function; anything else is an error. */
export function checkOptionalFunction<F>(where: string, option: string, expected: string, value: F): F {
  if (value !== undefined && typeof value !== 'function') invalid(where, option, expected, value)
  return value
}

/** An optional name option (a tier, a fallback answer): `undefined` (not passed) or a non-empty string. */
export function checkOptionalName<S>(where: string, option: string, expected: string, value: S): S {
  if (value !== undefined && (typeof value !== 'string' || value.length === 0)) invalid(where, option, expected, value)
  return value
}
