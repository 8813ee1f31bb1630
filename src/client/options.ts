import { createLimiter } from '../create-limiter.js'
import { tokenBucket } from '../limiter/algorithms/token-bucket.js'
import { type Duration, parseDuration } from '../limiter/duration.js'
import { checkInteger, checkKnownOptions, checkOptionsObject, invalid } from '../limiter/errors.js'
import type { ResetFormat } from '../limiter/reset-time.js'
import type { Limiter } from '../limiter/types.js'
import { parseRateLimitHeaders } from './parse-headers.js'
import { abortable, linkedController, type Sleep, steadyClock, timerSleep } from './timing.js'

/** A `fetch` implementation: the global one, undici's, or any function of the same shape. */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** Retries of rate-limited responses. */
export interface RetryOptions {
  /** Most retries after the first attempt. @default 3 */
  retries?: number
  /** The backoff's first ceiling, ms: retry n waits a random time below `min(maxDelayMs, baseDelayMs * 2^n)`. @default 1000 */
  baseDelayMs?: number
  /** The backoff's largest ceiling, ms. @default 30_000 */
  maxDelayMs?: number
  /** Response statuses that mean "limited, try later". @default [429, 503] */
  statuses?: readonly number[]
  /**
   * Methods retried without asking: the idempotent ones (RFC 9110 §9.2.2). Any other request is
   * retried only when it opts in (`rateLimit: { retry: true }`, or an `Idempotency-Key` header).
   * @default ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']
   */
  methods?: readonly string[]
}

/** Pacing: waiting for the reported reset instead of spending a request on a certain 429. */
export interface PaceOptions {
  /** Hold requests once the reported remaining quota is at or below this. @default 0 */
  threshold?: number
  /**
   * On a budget nothing is known of yet (its first call, or the first after `reset()`), send one
   * call first and hold the others until its answer tells the budget. @default false
   */
  probeFirst?: boolean
}

/** The outgoing queue: limits this client places on itself. */
export interface QueueOptions {
  /** Most requests in flight at once per budget key. @default unlimited */
  concurrency?: number
  /** Most requests per window per budget key, in this process (a token bucket: `burst` at once, then `limit` per `window`). */
  rate?: { limit: number; window: Duration; burst?: number }
}

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** The fetch to wrap. @default globalThis.fetch (looked up at each call) */
  fetch?: FetchFunction
  /** Resolves relative string URLs, as `new URL(input, baseUrl)` does. */
  baseUrl?: string | URL
  /** Retries of 429/503 responses, or `false` for none. @default {} (3 retries) */
  retry?: RetryOptions | false
  /** Pacing from the response headers, or `false` for none. @default {} (threshold 0) */
  pace?: PaceOptions | false
  /** Rate and concurrency limits on outgoing requests, in this process. @default none */
  queue?: QueueOptions
  /**
   * A ratekeeper limiter every request must pass (`limiter.consume(key, { cost })`, waiting in line
   * while it says to wait) before it is sent: on a shared store (`RedisStore`), all processes draw
   * on one outgoing budget.
   */
  limiter?: Limiter
  /**
   * The budget a request draws on: pacing state, queue limits and `limiter` keys are per this key.
   * @default (url) => url.origin
   */
  key?: (url: URL, method: string) => string
  /** Most time one call may spend waiting in total (pacing, queue, backoff), ms. @default 60_000 */
  maxWaitMs?: number
  /**
   * The longest one server answer can hold a budget (or a call's next retry) back, ms: a
   * `Retry-After`, or a reset when nothing remains, beyond it is cut to it, and then one request
   * probes. A server sending `Retry-After: 999999999`, or milliseconds where seconds are due, cannot
   * disable an origin for the life of the client. `client.reset(key)` clears a budget at once.
   * @default 3_600_000 (1 h)
   */
  maxBlockMs?: number
  /** On giving up: throw a `RateLimitError`, or return the last 429/503 response. @default 'throw' */
  onLimited?: 'throw' | 'return'
  /** Body error codes that mean an upstream provider's limit, not the API's own. @default ['TOOL_ERROR'] */
  upstreamCodes?: readonly string[]
  /** How `X-RateLimit-Reset` is read. @default 'auto' */
  xRateLimitReset?: ResetFormat
  /** The clock, epoch ms. @default Date.now */
  now?: () => number
  /** How the client waits; it must reject with `signal.reason` on abort. @default a timer */
  sleep?: Sleep
  /** Random numbers in [0, 1) for the jitter. @default Math.random */
  random?: () => number
}

/** The options of {@link createClient}, validated once, with every default applied. */
export interface CompiledOptions {
  readonly fetch: FetchFunction
  readonly baseUrl: URL | undefined
  /** 0 when retries are off. */
  readonly retries: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  readonly statuses: readonly number[]
  readonly methods: ReadonlySet<string>
  /** `undefined` when pacing is off. */
  readonly paceThreshold: number | undefined
  readonly paceProbeFirst: boolean
  readonly concurrency: number | undefined
  /** The in-process rate limiter of `queue.rate`, and its burst (the largest cost it can admit). */
  readonly localRate: { readonly limiter: Limiter; readonly burst: number } | undefined
  readonly limiter: Limiter | undefined
  readonly key: (url: URL, method: string) => string
  readonly maxWaitMs: number
  readonly maxBlockMs: number
  readonly onLimited: 'throw' | 'return'
  readonly upstreamCodes: ReadonlySet<string>
  readonly xRateLimitReset: ResetFormat | undefined
  readonly now: () => number
  /** The injected (or timer) sleep, cut short by the signal even if it ignores it. */
  readonly sleep: Sleep
  readonly random: () => number
}

const WHERE = 'createClient()'
const IDEMPOTENT = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'] as const
const KNOWN: { readonly [K in keyof Required<ClientOptions>]: true } = {
  fetch: true,
  baseUrl: true,
  retry: true,
  pace: true,
  queue: true,
  limiter: true,
  key: true,
  maxWaitMs: true,
  maxBlockMs: true,
  onLimited: true,
  upstreamCodes: true,
  xRateLimitReset: true,
  now: true,
  sleep: true,
  random: true,
}
const RETRY_KNOWN: { readonly [K in keyof Required<RetryOptions>]: true } = {
  retries: true,
  baseDelayMs: true,
  maxDelayMs: true,
  statuses: true,
  methods: true,
}
const PACE_KNOWN: { readonly [K in keyof Required<PaceOptions>]: true } = { threshold: true, probeFirst: true }
const QUEUE_KNOWN: { readonly [K in keyof Required<QueueOptions>]: true } = { concurrency: true, rate: true }
const RATE_KNOWN = { limit: true, window: true, burst: true } as const
/** The longest wait a timer can take, ms. */
const MAX_WAIT_CAP = 2 ** 31 - 1

/** What a number of ms from `min` (0 or 1) to {@link MAX_WAIT_CAP} must be, when `value` is not one; else `undefined`. */
export function msProblem(value: unknown, min: 0 | 1): string | undefined {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > MAX_WAIT_CAP) {
    return `must be a number of ms from ${min} to ${MAX_WAIT_CAP}`
  }
  return undefined
}

function checkMs(where: string, option: string, value: unknown, allowZero: boolean): number {
  const problem = msProblem(value, allowZero ? 0 : 1)
  if (problem !== undefined) invalid(where, option, problem, value)
  return value as number
}

function checkFunction(option: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') invalid(WHERE, option, 'must be a function', value)
}

/** `value` as an array of `T`; else throws that `option` must be `what`. */
function checkArray<T>(option: string, value: unknown, isItem: (item: unknown) => item is T, what: string): readonly T[] {
  if (!Array.isArray(value) || !value.every(isItem)) invalid(WHERE, option, `must be ${what}`, value)
  return value
}

function checkSubOptions(option: string, value: unknown, known: object): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalid(WHERE, option, `must be an object { ${Object.keys(known).join(', ')} }`, value)
  }
}

/** Validates the options of {@link createClient} and applies the defaults. Throws `ConfigurationError`. */
export function compileOptions(options: ClientOptions): CompiledOptions {
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  checkFunction('fetch', options.fetch)
  checkFunction('key', options.key)
  checkFunction('now', options.now)
  checkFunction('sleep', options.sleep)
  checkFunction('random', options.random)

  let baseUrl: URL | undefined
  if (options.baseUrl !== undefined) {
    if (typeof options.baseUrl !== 'string' && !(options.baseUrl instanceof URL)) {
      invalid(WHERE, 'baseUrl', 'must be an absolute URL (string or URL)', options.baseUrl)
    }
    if (!URL.canParse(String(options.baseUrl))) invalid(WHERE, 'baseUrl', 'must be an absolute URL', options.baseUrl)
    baseUrl = new URL(String(options.baseUrl))
  }

  // Retry.
  let retries = 3
  let baseDelayMs = 1000
  let maxDelayMs = 30_000
  let statuses: readonly number[] = [429, 503]
  let methods: ReadonlySet<string> = new Set(IDEMPOTENT)
  if (options.retry !== undefined && options.retry !== false) {
    const r = options.retry
    checkSubOptions('retry', r, RETRY_KNOWN)
    checkKnownOptions(WHERE, r, RETRY_KNOWN, { prefix: 'retry.' })
    if (r.retries !== undefined) retries = checkInteger(WHERE, 'retry.retries', r.retries, 0, 100)
    if (r.baseDelayMs !== undefined) baseDelayMs = checkMs(WHERE, 'retry.baseDelayMs', r.baseDelayMs, true)
    if (r.maxDelayMs !== undefined) maxDelayMs = checkMs(WHERE, 'retry.maxDelayMs', r.maxDelayMs, true)
    if (maxDelayMs < baseDelayMs) invalid(WHERE, 'retry.maxDelayMs', `must be at least retry.baseDelayMs (${baseDelayMs})`, maxDelayMs)
    if (r.statuses !== undefined) {
      const isStatus = (s: unknown): s is number => Number.isInteger(s) && (s as number) >= 400 && (s as number) <= 599
      statuses = [...checkArray('retry.statuses', r.statuses, isStatus, 'an array of HTTP error statuses (400-599)')]
    }
    if (r.methods !== undefined) {
      const isMethod = (m: unknown): m is string => typeof m === 'string' && /^[A-Za-z]+$/.test(m)
      methods = new Set(checkArray('retry.methods', r.methods, isMethod, 'an array of method names').map((m) => m.toUpperCase()))
    }
  }

  // Pacing.
  let paceThreshold: number | undefined
  let paceProbeFirst = false
  if (options.pace !== false) {
    paceThreshold = 0
    if (options.pace !== undefined) {
      checkSubOptions('pace', options.pace, PACE_KNOWN)
      checkKnownOptions(WHERE, options.pace, PACE_KNOWN, { prefix: 'pace.' })
      if (options.pace.threshold !== undefined) paceThreshold = checkInteger(WHERE, 'pace.threshold', options.pace.threshold, 0)
      const probeFirst: unknown = options.pace.probeFirst
      if (probeFirst !== undefined && typeof probeFirst !== 'boolean')
        invalid(WHERE, 'pace.probeFirst', 'must be true or false', probeFirst)
      paceProbeFirst = probeFirst === true
    }
  }

  const now = options.now ?? Date.now
  const rawSleep = options.sleep ?? timerSleep
  // The sleep watches a signal of the client's own, linked to the caller's: one listener on a
  // caller's signal however many calls share it (see whenAborted).
  const sleep: Sleep = (ms, signal) => {
    if (signal === undefined) return rawSleep(ms)
    const link = linkedController(signal)
    return abortable(rawSleep(ms, link.signal), signal).finally(link.done)
  }
  const random = options.random ?? Math.random

  // Queue.
  let concurrency: number | undefined
  let localRate: CompiledOptions['localRate']
  if (options.queue !== undefined) {
    const q = options.queue
    checkSubOptions('queue', q, QUEUE_KNOWN)
    checkKnownOptions(WHERE, q, QUEUE_KNOWN, { prefix: 'queue.' })
    if (q.concurrency !== undefined) concurrency = checkInteger(WHERE, 'queue.concurrency', q.concurrency, 1)
    if (q.rate !== undefined) {
      checkSubOptions('queue.rate', q.rate, RATE_KNOWN)
      checkKnownOptions(WHERE, q.rate, RATE_KNOWN, { prefix: 'queue.rate.' })
      const limit = checkInteger(WHERE, 'queue.rate.limit', q.rate.limit, 1, 1_000_000_000)
      const window = parseDuration(WHERE, 'queue.rate.window', q.rate.window)
      const burst = q.rate.burst === undefined ? limit : checkInteger(WHERE, 'queue.rate.burst', q.rate.burst, 1, 1_000_000_000)
      const limiter = createLimiter({ policies: [tokenBucket({ name: 'outgoing', limit, window, burst })], now: steadyClock(now), sleep })
      localRate = { limiter, burst }
    }
  }
  if (options.limiter !== undefined) {
    const l = options.limiter as Partial<Limiter> | null
    if (typeof l !== 'object' || l === null || typeof l.wait !== 'function' || typeof l.consume !== 'function') {
      invalid(WHERE, 'limiter', 'must be a limiter made by createLimiter()', options.limiter)
    }
  }

  const maxWaitMs = options.maxWaitMs === undefined ? 60_000 : checkMs(WHERE, 'maxWaitMs', options.maxWaitMs, true)
  const maxBlockMs = options.maxBlockMs === undefined ? 3_600_000 : checkMs(WHERE, 'maxBlockMs', options.maxBlockMs, false)
  const onLimited = options.onLimited ?? 'throw'
  if (onLimited !== 'throw' && onLimited !== 'return') invalid(WHERE, 'onLimited', "must be 'throw' or 'return'", options.onLimited)
  let upstreamCodes: ReadonlySet<string> = new Set(['TOOL_ERROR'])
  if (options.upstreamCodes !== undefined) {
    const isString = (c: unknown): c is string => typeof c === 'string'
    upstreamCodes = new Set(checkArray('upstreamCodes', options.upstreamCodes, isString, 'an array of strings'))
  }
  const xRateLimitReset = options.xRateLimitReset
  // Validates it once, now, rather than at the first response.
  if (xRateLimitReset !== undefined) parseRateLimitHeaders({}, { xRateLimitReset })
  const keyOf = options.key ?? ((url: URL) => url.origin)
  const fetchImpl: FetchFunction = options.fetch ?? ((input, init) => globalThis.fetch(input, init))

  return {
    fetch: fetchImpl,
    baseUrl,
    retries: options.retry === false ? 0 : retries,
    baseDelayMs,
    maxDelayMs,
    statuses,
    methods,
    paceThreshold,
    paceProbeFirst,
    concurrency,
    localRate,
    limiter: options.limiter,
    key: keyOf,
    maxWaitMs,
    maxBlockMs,
    onLimited,
    upstreamCodes,
    xRateLimitReset,
    now,
    sleep,
    random,
  }
}
