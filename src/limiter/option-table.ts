import { checkKnownOptions, checkOptionsObject } from './errors.js'

/**
 * An options table that resolves: every option of `T`, with the function that turns the value
 * given (`undefined`: not passed) into the value used, default included, or throws a
 * `ConfigurationError` naming the option. The unknown-option check lists the table's names, and
 * the compiler keeps the table complete.
 */
export type ResolvingTable<T> = { readonly [K in keyof Required<T>]: (value: unknown) => unknown }

type Resolvers = { readonly [name: string]: (value: unknown) => unknown }

/** What a {@link ResolvingTable} resolves to: every option validated, defaults filled in. */
export type ResolvedOptions<R extends Resolvers> = {
  readonly [K in keyof R]: ReturnType<R[K]>
}

/**
 * Validates `options` against `table` (throws a `ConfigurationError`): an object, known names
 * only, then each option resolved in the table's order.
 */
export function resolveOptionTable<T extends object, R extends ResolvingTable<T>>(where: string, options: T, table: R): ResolvedOptions<R> {
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, table)
  const given = options as Record<string, unknown>
  const settings: Record<string, unknown> = {}
  for (const [name, resolve] of Object.entries(table as Resolvers)) settings[name] = resolve(given[name])
  return settings as ResolvedOptions<R>
}
