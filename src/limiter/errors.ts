/**
 * Every error ratekeeper throws carries a stable `code`. Match on the code, never on the message.
 *
 * @example
 * try { tokenBucket({ limit: -1, window: '1m' }) }
 * catch (err) { if (err instanceof RateKeeperError && err.code === 'ERR_RK_INVALID_OPTION') … }
 */
export type RateKeeperErrorCode =
  /** An option has a value of the wrong type or out of range. */
  | 'ERR_RK_INVALID_OPTION'
  /** An option name that the factory does not know (usually a typo). */
  | 'ERR_RK_UNKNOWN_OPTION'
  /** Two policies decided in one call share a name. */
  | 'ERR_RK_DUPLICATE_POLICY'
  /** A call argument (key, cost, …) is invalid. */
  | 'ERR_RK_INVALID_ARGUMENT'
  /** The store failed (connection, script, protocol). */
  | 'ERR_RK_STORE'
  /** The store did not answer before its deadline. */
  | 'ERR_RK_STORE_TIMEOUT'
  /** The store answered something that is not a well-formed `StoreResult` (a bug or a corrupted backend). */
  | 'ERR_RK_STORE_MALFORMED'
  /** The store or limiter was used after `close()`. */
  | 'ERR_RK_CLOSED'
  /** A wait for capacity was aborted or can never succeed. */
  | 'ERR_RK_WAIT'
  /** `ratekeeper/client` gave up on a rate-limited request (`RateLimitError`). */
  | 'ERR_RK_RATE_LIMITED'
  /** A tier or team lookup failed, timed out or answered something unusable. */
  | 'ERR_RK_LOOKUP'

/** The page that explains every error code, one section per code (package.json `homepage`'s repository). */
const ERRORS_PAGE = 'https://github.com/ratekeeper/ratekeeper/blob/main/docs/errors.md'

/** Where `code` is explained: its section of docs/errors.md. */
export function errorDocsUrl(code: RateKeeperErrorCode): string {
  return `${ERRORS_PAGE}#${code.toLowerCase()}`
}

/**
 * Base class of every error thrown by ratekeeper. Its message ends with a link to the section
 * of docs/errors.md that says what causes the error and how to fix it.
 */
export class RateKeeperError extends Error {
  readonly code: RateKeeperErrorCode
  constructor(code: RateKeeperErrorCode, message: string, options?: { cause?: unknown }) {
    // Built here, once, so that every error of every subclass links to its code's section.
    super(`${message}${/[.!?]$/.test(message) ? '' : '.'} See ${errorDocsUrl(code)}`, options)
    this.name = 'RateKeeperError'
    this.code = code
  }
}

/**
 * A bad option or argument, thrown synchronously by the factory or call that received it.
 *
 * Errors of start-up configuration quote the value received. Errors raised while serving a
 * request (a key, a call option, what a plan returned) say only its type, and keep no `received`:
 * those values come from requests (API keys, tenant ids), and error messages reach logs and, with
 * some frameworks' defaults, response bodies.
 */
export class ConfigurationError extends RateKeeperError {
  /** Dotted path of the offending option, e.g. `policies[1].burst`. */
  readonly option: string
  /** The value that was received; `undefined` for errors raised while serving a request. */
  readonly received: unknown
  constructor(
    code: 'ERR_RK_INVALID_OPTION' | 'ERR_RK_UNKNOWN_OPTION' | 'ERR_RK_DUPLICATE_POLICY' | 'ERR_RK_INVALID_ARGUMENT',
    where: string,
    option: string,
    expected: string,
    received: unknown,
    options?: { requestTime?: boolean },
  ) {
    const requestTime = options?.requestTime === true
    super(code, `${where}: "${option}" ${expected}, received ${requestTime ? kindOf(received) : describe(received)}`)
    this.name = 'ConfigurationError'
    this.option = option
    // A connection string given by mistake keeps its password out of logs here too.
    this.received = requestTime ? undefined : typeof received === 'string' ? withoutPasswords(received) : received
  }
}

/**
 * Throws `ERR_RK_INVALID_ARGUMENT` for a bad value met while serving a request: the message
 * names the option and the value's type, never the value (see {@link ConfigurationError}).
 */
export function invalidAtRequest(
  where: string,
  option: string,
  expected: string,
  received: unknown,
  code: 'ERR_RK_INVALID_ARGUMENT' | 'ERR_RK_INVALID_OPTION' = 'ERR_RK_INVALID_ARGUMENT',
): never {
  throw new ConfigurationError(code, where, option, expected, received, { requestTime: true })
}

/** The type of a value, for messages that must not show the value itself. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : Number.isFinite(value) ? 'a number' : String(value)
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string'
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'bigint') return 'a bigint'
  if (typeof value === 'symbol') return 'a symbol'
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  return 'an object'
}

/** A store failed or timed out. The original error, if any, is kept as `cause`; its text never reaches a response. */
export class StoreError extends RateKeeperError {
  constructor(
    code: 'ERR_RK_STORE' | 'ERR_RK_STORE_TIMEOUT' | 'ERR_RK_STORE_MALFORMED' | 'ERR_RK_CLOSED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options)
    this.name = 'StoreError'
  }
}

/**
 * `user:password@` in a URL (to the last `@` before a space: a password may hold `/ ? # @`
 * unencoded), and `password=…` or `password: …` (a URL parameter, a key=value connection string,
 * JSON, YAML), quoted or not.
 */
const PASSWORDS = /(\/\/[^/?#@:\s]*:)\S*@|(\bpassword["']?\s*[:=]\s*)("[^"]*"?|'[^']*'?|[^&\s,;}]*)/gi

/**
 * `text` with every password of a connection string in it replaced by `***`: a connection string
 * passed where an object or a name belongs is quoted in the error, its password not.
 */
export function withoutPasswords(text: string): string {
  return text.replace(PASSWORDS, (_match, userinfo: string | undefined, key: string | undefined) =>
    userinfo === undefined ? `${key}***` : `${userinfo}***@`,
  )
}

/** Renders a received value for an error message: short, unambiguous, never huge, no password. */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    const shown = withoutPasswords(value)
    const s = shown.length > 60 ? `${shown.slice(0, 57)}...` : shown
    return JSON.stringify(s)
  }
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN'
    if (Object.is(value, -0)) return '-0'
    return String(value)
  }
  if (typeof value === 'bigint') return `${value}n`
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return `an array of length ${value.length}`
  if (typeof value === 'object') return 'an object'
  return String(value)
}

/** Throws `ERR_RK_INVALID_OPTION`. */
export function invalid(where: string, option: string, expected: string, received: unknown): never {
  throw new ConfigurationError('ERR_RK_INVALID_OPTION', where, option, expected, received)
}

/** How {@link checkKnownOptions} reads and reports names. */
export interface KnownOptionsCheck {
  /** The options come with a request: the unknown name is not quoted. @default false */
  readonly requestTime?: boolean
  /** Where the options object sits under `where` (`'rateLimit.'`, `'tiers.pro.'`), prefixed to the name reported. @default '' */
  readonly prefix?: string
  /** More names that are known (an adapter's own options beside the HTTP ones). */
  readonly also?: object
  /** What to say about a name that is a usual mistake (another library's option), by name. */
  readonly hints?: Readonly<Record<string, string>>
}

/**
 * Throws `ERR_RK_UNKNOWN_OPTION` when `options` has an own key that `known` (or `check.also`)
 * lacks: the one unknown-option check, whatever the options object. `known` is typed as a record
 * over the options type (an option table) so the compiler keeps the list complete.
 */
export function checkKnownOptions<T extends object>(
  where: string,
  options: T,
  known: { readonly [K in keyof Required<T>]: unknown },
  check: KnownOptionsCheck = {},
): void {
  const also = check.also
  for (const name of Object.keys(options)) {
    if (Object.hasOwn(known, name) || (also !== undefined && Object.hasOwn(also, name))) continue
    const names = [...Object.keys(known), ...(also === undefined ? [] : Object.keys(also))].join(', ')
    const prefix = check.prefix ?? ''
    if (check.requestTime === true) {
      // An object built from request data may hold anything, its names included.
      throw new ConfigurationError(
        'ERR_RK_UNKNOWN_OPTION',
        where,
        prefix === '' ? 'options' : prefix.slice(0, -1),
        `must hold only known options (${names}); one is not`,
        undefined,
        { requestTime: true },
      )
    }
    throw new ConfigurationError(
      'ERR_RK_UNKNOWN_OPTION',
      where,
      `${prefix}${name}`,
      `is not an option${Object.hasOwn(check.hints ?? {}, name) ? `: ${check.hints?.[name]}` : ''} (known: ${names})`,
      (options as Record<string, unknown>)[name],
    )
  }
}

/** Throws unless `options` is a plain object (or undefined when `optional`). */
export function checkOptionsObject(where: string, options: unknown): asserts options is object {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigurationError('ERR_RK_INVALID_ARGUMENT', where, 'options', 'must be an object', options)
  }
}

/**
 * Throws `ERR_RK_INVALID_ARGUMENT` when the object given as a factory's options is the thing one
 * of its options names (`prometheusMetrics(limiter, register)`, `new RedisStore(redis)`): the
 * unknown-option check would name one of that thing's own fields. `isThing` tells it; `thing`
 * says what it is, `call` shows the call to write.
 */
export function checkNotGivenBare(
  where: string,
  options: unknown,
  isThing: (value: Record<string, unknown>) => boolean,
  call: string,
  thing = 'what it holds',
): void {
  if (typeof options === 'object' && options !== null && isThing(options as Record<string, unknown>)) {
    throw new ConfigurationError('ERR_RK_INVALID_ARGUMENT', where, 'options', `must be an options object, not ${thing}: ${call}`, options)
  }
}

/** Validates an integer option within bounds. */
export function checkInteger(where: string, option: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`
    invalid(where, option, `must be an integer ${range}`, value)
  }
  return value
}
