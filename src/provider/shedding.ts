import { renameError } from '../http/http-options.js'
import { type LoadShedding, type LoadSheddingOptions, loadShedding } from '../http/shedding.js'
import { checkKnownOptions, invalid } from '../limiter/errors.js'
import type { Layer } from '../limiter/types.js'
import type { RequestClass } from './classes.js'
import { isRecord } from './guards.js'

/**
 * The `shedding` option of `providerPlan()`: a fleet-wide budget shared by every request of the
 * plan, with a priority per request class. Lower priorities are shed first as the budget fills.
 */
export interface PlanSheddingOptions extends LoadSheddingOptions {
  /**
   * Request class → its priority (a name of `priorities`). Every class the classifier can give
   * must have one: `{ auth: 'critical', write: 'critical', read: 'normal', export: 'background' }`.
   */
  classes: Readonly<Partial<Record<RequestClass, string>>>
}

/** The shedding layer of each request class, built once. */
export interface CompiledShedding {
  readonly byClass: ReadonlyMap<RequestClass, Layer>
  /** The budget's subject: the placement tag of every request of the plan. */
  readonly key: string
  readonly shedding: LoadShedding
}

const KNOWN: { readonly [K in keyof Required<PlanSheddingOptions>]: true } = { budget: true, key: true, priorities: true, classes: true }

/** Checks the `shedding` option of `providerPlan()` against its classes and builds each class's layer. */
export function compileShedding(where: string, value: unknown, classes: readonly RequestClass[]): CompiledShedding | undefined {
  if (value === undefined) return undefined
  if (!isRecord(value)) invalid(where, 'shedding', 'must be { budget, priorities?, key?, classes }', value)
  const { classes: byClassOption, ...rest } = value as unknown as PlanSheddingOptions
  let shedding: LoadShedding
  try {
    checkKnownOptions(where, value, KNOWN)
    shedding = loadShedding(rest)
  } catch (error) {
    throw renameError(error, where, 'shedding.')
  }
  if (!isRecord(byClassOption)) invalid(where, 'shedding.classes', 'must be an object of request class → priority', byClassOption)
  const byClass = new Map<RequestClass, Layer>()
  for (const [cls, priority] of Object.entries(byClassOption)) {
    if (!classes.includes(cls)) invalid(where, `shedding.classes.${cls}`, `must name a request class (${classes.join(', ')})`, cls)
    if (typeof priority !== 'string' || !shedding.priorities.includes(priority))
      invalid(where, `shedding.classes.${cls}`, `must name a priority (${shedding.priorities.join(', ')})`, priority)
    byClass.set(cls, shedding.layer(priority))
  }
  const missing = classes.filter((c) => !byClass.has(c))
  if (missing.length > 0) {
    invalid(
      where,
      'shedding.classes',
      `must give every request class a priority (missing: ${missing.join(', ')})`,
      Object.keys(byClassOption),
    )
  }
  return { byClass, key: shedding.key, shedding }
}
