import { checkInteger, checkKnownOptions, checkOptionsObject, invalid } from './errors.js'
import { MAX_TIME_MS } from './math.js'
import { checkPolicies, invalidInCall } from './policy-list.js'
import type { Store } from './store.js'
import type { LimiterOptions, Logger, RefundOptions, StoreErrorMode, WaitOptions } from './types.js'

/** Checks one option's value (never `undefined`, which means "not passed"); throws `ConfigurationError`. */
type Check = (where: string, option: string, value: unknown) => void

/** An options table: every option of `T`, with its check (`null`: checked where it is used). */
type OptionTable<T> = { readonly [K in keyof Required<T>]: Check | null }

const STORE_ERROR_MODES: readonly unknown[] = ['allow', 'deny', 'fallback'] satisfies StoreErrorMode[]

function isStore(value: unknown): value is Store {
  if (typeof value !== 'object' || value === null) return false
  const s = value as Store
  return typeof s.consume === 'function' && typeof s.peek === 'function' && typeof s.refund === 'function' && typeof s.reset === 'function'
}

function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false
  const l = value as Logger
  return typeof l.warn === 'function' && (l.info === undefined || typeof l.info === 'function')
}

const aFunction =
  (expected: string): Check =>
  (where, option, value) => {
    if (typeof value !== 'function') invalid(where, option, expected, value)
  }

/**
 * What a store option was given instead of a store, said so the fix is plain: a Redis or pg
 * client (which goes inside its store), or a store class (which needs `new`). '' otherwise.
 */
function notAStore(value: unknown): string {
  if (typeof value === 'function') {
    const prototype = (value as { prototype?: { consume?: unknown } }).prototype
    if (typeof prototype?.consume === 'function') return `: pass an instance (new ${value.name}(…)), not the class`
    return ''
  }
  if (typeof value !== 'object' || value === null) return ''
  const v = value as { evalsha?: unknown; sendCommand?: unknown; query?: unknown }
  if (typeof v.evalsha === 'function' || typeof v.sendCommand === 'function') {
    return ": a Redis client goes inside a store, new RedisStore({ client }) from 'ratekeeper/redis'"
  }
  if (typeof v.query === 'function') return ": a pg pool goes inside a store, new PostgresStore({ pool }) from 'ratekeeper/postgres'"
  return ''
}

const A_LIMIT_IS_A_POLICY =
  "a limit is a policy: policies: [tokenBucket({ limit: 100, window: '1m' })] (docs/migrating.md maps other libraries' options)"

/** Names of a policy's options, and the peers' for them, given to a limiter or an adapter instead of a policy. */
export const LIMIT_OPTION_HINTS: Readonly<Record<string, string>> = Object.fromEntries(
  ['limit', 'window', 'burst', 'max', 'windowMs', 'timeWindow', 'points', 'duration'].map((name) => [name, A_LIMIT_IS_A_POLICY]),
)

/** The options of `createLimiter`, checked in this order. */
const LIMITER_OPTIONS: OptionTable<LimiterOptions> = {
  policies: (where, option, value) => checkPolicies(where, option, value),
  store: (where, option, value) => {
    if (!isStore(value)) invalid(where, option, `must be a store (consume, peek, refund, reset, close)${notAStore(value)}`, value)
  },
  now: aFunction('must be a function returning epoch ms'),
  onStoreError: (where, option, value) => {
    if (!STORE_ERROR_MODES.includes(value)) invalid(where, option, "must be 'allow', 'deny' or 'fallback'", value)
  },
  fallback: (where, option, value) => {
    if (!isStore(value)) invalid(where, option, `must be a store${notAStore(value)}`, value)
  },
  dryRun: (where, option, value) => {
    if (typeof value !== 'boolean') invalid(where, option, 'must be a boolean', value)
  },
  nearLimit: (where, option, value) => checkInteger(where, option, value, 0),
  sleep: aFunction('must be a function'),
  timeoutMs: (where, option, value) => checkInteger(where, option, value, 1, 60_000),
  logger: (where, option, value) => {
    if (!isLogger(value)) invalid(where, option, 'must be { warn(message), info?(message) } (console fits)', value)
  },
}

/** Checks `createLimiter` options: known names, each value, and how they combine. `policies` is required. */
export function checkLimiterOptions(where: string, options: LimiterOptions): void {
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, LIMITER_OPTIONS, { hints: LIMIT_OPTION_HINTS })
  for (const [name, check] of Object.entries(LIMITER_OPTIONS) as [keyof LimiterOptions, Check | null][]) {
    const value = options[name]
    if (check !== null && (value !== undefined || name === 'policies')) check(where, name, value)
    if (name === 'fallback' && value !== undefined && options.onStoreError !== 'fallback') {
      invalid(where, 'fallback', "is only used with onStoreError: 'fallback'", value)
    }
  }
}

/**
 * The `now` option, its every answer checked: epoch ms from 0 to {@link MAX_TIME_MS}, which the
 * policies' integer arithmetic is exact for. NaN, Infinity or a time in micro- or nanoseconds
 * would otherwise make windows and buckets admit everything, silently.
 */
export function checkedClock(clock: () => number): () => number {
  return function checkedNow(): number {
    const t = clock()
    if (typeof t !== 'number' || !(t >= 0 && t <= MAX_TIME_MS)) {
      invalid('createLimiter()', 'now', `must return epoch ms, a number from 0 to ${MAX_TIME_MS} (2200-01-01)`, t)
    }
    return t
  }
}

/** A per-call `cost`, checked as `consume` checks it. */
export function callCost(where: string, c: unknown): number {
  if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 1_000_000_000) {
    invalidInCall(where, 'cost', 'must be an integer from 0 to 1000000000', c)
  }
  return c
}

/**
 * The options of a call (`consume`, `decide`, `peek`, `refund`, `reset`, `wait`), checked in this
 * order. Calls are made while serving requests: errors name the option, never the value.
 */
const CALL_OPTIONS = {
  cost: (where, _option, value) => callCost(where, value),
  policies: (where, option, value) => checkPolicies(where, option, value, { requestTime: true }),
  tier: (where, option, value) => {
    if (typeof value !== 'string') invalidInCall(where, option, 'must be a string', value)
  },
  class: (where, option, value) => {
    if (typeof value !== 'string') invalidInCall(where, option, 'must be a string', value)
  },
  layers: (where, option, value) => {
    if (!Array.isArray(value)) invalidInCall(where, option, 'must be an array of { name, key, policies }', value)
  },
  // Checked as they are used: `tag` and each layer as encoded, `at` and `decision` by refund, `maxWaitMs` by wait.
  tag: null,
  at: null,
  decision: null,
  signal: null,
  maxWaitMs: null,
} as const satisfies OptionTable<WaitOptions & RefundOptions>

/**
 * Checks a call's options object: an object, known names only, and each value by the table's
 * check. Calls come with requests, so this is a hot path: names are walked without allocating
 * (the message is built only for an unknown one), and the checks are called by name, as
 * property reads, rather than looked up with each option's name.
 */
export function checkCallOptions(where: string, options: unknown): asserts options is WaitOptions & RefundOptions {
  if (typeof options !== 'object' || options === null) invalidInCall(where, 'options', 'must be an object', options)
  for (const name in options) if (!Object.hasOwn(CALL_OPTIONS, name)) checkKnownOptions(where, options, CALL_OPTIONS, { requestTime: true })
  const o = options as WaitOptions & RefundOptions
  const { cost, policies, tier, layers } = CALL_OPTIONS
  if (o.cost !== undefined) cost(where, 'cost', o.cost)
  if (o.policies !== undefined) policies(where, 'policies', o.policies)
  if (o.tier !== undefined) tier(where, 'tier', o.tier)
  if (o.class !== undefined) CALL_OPTIONS.class(where, 'class', o.class)
  if (o.layers !== undefined) layers(where, 'layers', o.layers)
}
