import type { CountMode } from '../http/count-mode.js'
import { ConfigurationError, checkKnownOptions, invalid } from '../limiter/errors.js'
import type { Policy } from '../limiter/policy.js'
import { checkPolicies } from '../limiter/policy-list.js'
import type { RequestClass } from './classes.js'
import { isRecord } from './guards.js'

/**
 * The limits of one tier (or of everyone, when there are no tiers): the key's policies per
 * request class, and the team ceiling.
 */
export interface TierLimits {
  /** The key's policies for every request class that has no entry in `classes`. */
  policies?: readonly Policy[]
  /**
   * The key's policies per request class, replacing `policies` for that class: a budget of its
   * own (tool calls against a monthly quota). To hold a class to `policies` and to stricter limits
   * of its own, use `also`.
   */
  classes?: Readonly<Record<string, readonly Policy[]>>
  /**
   * Per request class, policies added to the class's own list (its `classes` entry, else
   * `policies`) and decided all-or-nothing with it: a request of the class must satisfy both.
   * This is how a class gets limits stricter than the tier's without escaping the tier's: skakio's
   * auth endpoints (10 req/s, burst 20) on top of the key's per-minute and per-day budget.
   * @example { policies: [perMinute, perDay], also: { auth: [tokenBucket({ name: 'auth', limit: 10, window: '1s', burst: 20 })] } }
   */
  also?: Readonly<Record<string, readonly Policy[]>>
  /**
   * The team (or environment) ceiling: policies on the team's key, decided all-or-nothing with
   * the key's own. Needs the plan's `team` resolver; a key without a team has no ceiling.
   */
  ceiling?: readonly Policy[]
}

/** The policies and count mode of one request class in one tier. */
export interface ClassEntry {
  readonly policies: readonly Policy[]
  readonly countMode: CountMode | undefined
}

/** One tier's limits, checked and compiled: a request only picks a list from it. */
export interface CompiledTier {
  readonly name: string | undefined
  readonly byClass: ReadonlyMap<RequestClass, ClassEntry>
  /** Each request class and its policies, in classifier order (what introspection lists). */
  readonly buckets: readonly { readonly class: RequestClass; readonly policies: readonly Policy[] }[]
  readonly ceiling: readonly Policy[] | undefined
}

/** What compiling a tier needs to know about the rest of the plan. */
export interface TierContext {
  /** `providerPlan()`, for error messages. */
  readonly where: string
  /** Every class the classifier can give, in its order. */
  readonly classes: readonly RequestClass[]
  /** Count modes of the classes that have one. */
  readonly countModes: ReadonlyMap<RequestClass, CountMode>
}

type Lists = ReadonlyMap<RequestClass, readonly Policy[]>

/** The options of {@link TierLimits}, each with how it is checked (`option` is its path, e.g. `tiers.pro.also`). */
const TIER_LIMITS_OPTIONS = {
  policies: (ctx: TierContext, option: string, value: unknown) =>
    value === undefined ? undefined : checkPolicies(ctx.where, option, value),
  classes: (ctx: TierContext, option: string, value: unknown) => classLists(ctx, option, value, 'must be an object of class → policies'),
  also: (ctx: TierContext, option: string, value: unknown) =>
    classLists(ctx, option, value, 'must be an object of class → policies added to the class'),
  ceiling: (ctx: TierContext, option: string, value: unknown) =>
    value === undefined ? undefined : checkPolicies(ctx.where, option, value),
} satisfies { readonly [K in keyof Required<TierLimits>]: (ctx: TierContext, option: string, value: unknown) => unknown }

function duplicatePolicy(where: string, option: string, expected: string, name: string): never {
  throw new ConfigurationError('ERR_RK_DUPLICATE_POLICY', where, option, expected, name)
}

/** `classes` and `also`: an object of class → policy list, every class one the classifier gives. */
function classLists(ctx: TierContext, option: string, value: unknown, expected: string): Lists {
  const lists = new Map<RequestClass, readonly Policy[]>()
  if (value === undefined) return lists
  if (!isRecord(value)) invalid(ctx.where, option, expected, value)
  for (const [c, list] of Object.entries(value)) {
    if (!ctx.classes.includes(c)) {
      invalid(ctx.where, `${option}.${c}`, `names a class no request is given (the classifier gives: ${ctx.classes.join(', ')})`, c)
    }
    lists.set(c, checkPolicies(ctx.where, `${option}.${c}`, list))
  }
  return lists
}

/** A class's list: its own (or the tier's `policies`), plus its `also` policies, built once. */
function classPolicies(
  where: string,
  option: string,
  c: RequestClass,
  own: readonly Policy[] | undefined,
  added: readonly Policy[] | undefined,
) {
  if (added === undefined) return own
  for (const p of added) {
    if (own?.some((q) => q === p || q.name === p.name)) {
      duplicatePolicy(where, `${option}.also.${c}`, 'must not repeat a policy (or a policy name) the class already has', p.name)
    }
  }
  return Object.freeze([...(own ?? []), ...added])
}

/**
 * Checks one tier's limits (`option` is where they were given: `limits` or `tiers.<name>`) and
 * compiles them: every class the classifier gives gets its list, built here once.
 */
export function compileTier(ctx: TierContext, option: string, name: string | undefined, limits: unknown): CompiledTier {
  const { where } = ctx
  if (!isRecord(limits)) invalid(where, option, 'must be { policies?, classes?, also?, ceiling? }', limits)
  checkKnownOptions(where, limits, TIER_LIMITS_OPTIONS, { prefix: `${option}.` })
  const base = TIER_LIMITS_OPTIONS.policies(ctx, `${option}.policies`, limits.policies)
  const perClass = TIER_LIMITS_OPTIONS.classes(ctx, `${option}.classes`, limits.classes)
  const extra = TIER_LIMITS_OPTIONS.also(ctx, `${option}.also`, limits.also)
  const ceiling = TIER_LIMITS_OPTIONS.ceiling(ctx, `${option}.ceiling`, limits.ceiling)
  const byClass = new Map<RequestClass, ClassEntry>()
  const buckets: { class: RequestClass; policies: readonly Policy[] }[] = []
  for (const c of ctx.classes) {
    const policies = classPolicies(where, option, c, perClass.get(c) ?? base, extra.get(c))
    if (policies === undefined) {
      invalid(
        where,
        `${option}.classes.${c}`,
        `is missing: requests of class '${c}' would have no policies (add it, or a default \`policies\`)`,
        undefined,
      )
    }
    for (const p of ceiling ?? []) {
      if (policies.some((q) => q.name === p.name))
        duplicatePolicy(where, `${option}.ceiling`, `must not reuse a policy name of class '${c}'`, p.name)
    }
    byClass.set(c, { policies, countMode: ctx.countModes.get(c) })
    buckets.push(Object.freeze({ class: c, policies }))
  }
  return { name, byClass, buckets: Object.freeze(buckets), ceiling }
}
