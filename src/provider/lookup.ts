import { LRUCache } from 'lru-cache'
import { type Duration, parseDuration } from '../limiter/duration.js'
import { checkInteger, checkKnownOptions, checkOptionsObject, invalid, RateKeeperError, withoutPasswords } from '../limiter/errors.js'
import { isThenable } from '../limiter/thenable.js'
import { checkOptionalFunction, checkOptionalName } from './guards.js'
import type { ProviderRequestInfo } from './types.js'

/**
 * Resolves something about a key (its tier, its team): synchronously, or with a promise.
 * `undefined` means "none" (no team); what else is accepted depends on where it is used.
 */
export type KeyResolver = (key: string, req: ProviderRequestInfo) => string | undefined | Promise<string | undefined>

/** Options of {@link cachedLookup}. */
export interface CachedLookupOptions {
  /**
   * Most keys remembered (an LRU: the least recently used are forgotten first).
   * @default 10_000
   */
  max?: number
  /**
   * How long an answer is reused before the lookup runs again for that key.
   * @default '1m'
   */
  ttl?: Duration
  /**
   * A lookup that has not settled by then fails (`ERR_RK_LOOKUP`), so a slow database can't hang
   * requests.
   * @default '1s'
   */
  timeout?: Duration
  /**
   * The answer used when the lookup fails or times out (not cached: the next request tries
   * again). Without it, the failure reaches the request (the framework's error handling: a 500).
   */
  fallback?: string
  /**
   * Called with every failure (also those `fallback` absorbed), for your logs. If it throws (or,
   * async, rejects), the request's fate does not change; that is a process warning
   * (`RK_HOOK_THREW`), once per lookup.
   */
  onError?: (error: unknown) => void
  /** The clock the TTL is measured on, ms. Inject one in tests. @default performance.now */
  now?: () => number
  /** How the timeout is scheduled; inject one in tests. Returns a function that cancels it. @default setTimeout (unref'd) */
  setTimer?: (fn: () => void, ms: number) => () => void
}

/** A {@link KeyResolver} with a bounded cache in front. Answers synchronously on a cache hit. */
export interface CachedLookup extends KeyResolver {
  /** Forgets one key (e.g. after its plan changed), or everything; an answer still being looked up then is not cached. */
  clear(key?: string): void
  /** Keys cached now. */
  readonly size: number
}

const WHERE = 'cachedLookup()'
const KNOWN: { readonly [K in keyof Required<CachedLookupOptions>]: true } = {
  max: true,
  ttl: true,
  timeout: true,
  fallback: true,
  onError: true,
  now: true,
  setTimer: true,
}
/** lru-cache needs a non-nullish value: "no answer" (e.g. no team) is cached as this. */
const NONE = Symbol('none')

/**
 * Internal (not exported from the package): how the plan refuses an answer of a cached lookup it
 * cannot use (a tier name it does not have). The answer is forgotten, unless a newer one replaced
 * it, and handled as a failed lookup: `onError` hears the error, and `fallback` is returned, or
 * the error thrown.
 */
export const REFUSE_ANSWER = Symbol('ratekeeper.cachedLookup.refuseAnswer')
/** A resolver that can refuse its answers ({@link REFUSE_ANSWER}): every cached lookup. */
export interface RefusableResolver {
  [REFUSE_ANSWER](key: string, answer: string | undefined, error: RateKeeperError): string
  /** The `fallback` answer, so that the plan can check at start-up that it names a tier. */
  readonly [LOOKUP_FALLBACK]: string | undefined
}
/** Internal: the key of a cached lookup's `fallback` (see {@link RefusableResolver}). */
export const LOOKUP_FALLBACK = Symbol('ratekeeper.cachedLookup.fallback')

function defaultTimer(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms)
  t.unref?.()
  return () => clearTimeout(t)
}

/**
 * Puts a bounded cache in front of a slow lookup (a plan in a database, a key's team): at most
 * `max` keys for `ttl` each, concurrent lookups of one key share one call, a call that does not
 * settle within `timeout` fails, and a failure is never cached. A failure reaches the request as
 * a `RateKeeperError` with code `ERR_RK_LOOKUP` (the cause attached) unless `fallback` names the
 * answer to use instead.
 *
 * The cache is lru-cache, a runtime dependency already (the memory store's): a bounded LRU with
 * per-entry TTLs and an injectable clock is exactly a memo of key lookups; the limiter's stores
 * hold counts, not answers, so none of them fits.
 *
 * @example
 * const tierOf = cachedLookup(async (key) => (await db.plans.forKey(key)) ?? 'free', {
 *   max: 50_000, ttl: '5m', fallback: 'free', onError: (err) => log.warn(err),
 * })
 */
export function cachedLookup(
  lookup: (key: string, req: ProviderRequestInfo) => string | undefined | Promise<string | undefined>,
  options: CachedLookupOptions = {},
): CachedLookup {
  if (typeof lookup !== 'function') invalid(WHERE, 'lookup', 'must be a function (key, request) => string | undefined | Promise', lookup)
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const max = options.max === undefined ? 10_000 : checkInteger(WHERE, 'max', options.max, 1, 10_000_000)
  const ttl = options.ttl === undefined ? 60_000 : parseDuration(WHERE, 'ttl', options.ttl)
  const timeout = options.timeout === undefined ? 1_000 : parseDuration(WHERE, 'timeout', options.timeout)
  const fallback = checkOptionalName(WHERE, 'fallback', 'must be a non-empty string', options.fallback)
  const onError = checkOptionalFunction(WHERE, 'onError', 'must be a function', options.onError)
  const now = checkOptionalFunction(WHERE, 'now', 'must be a function returning ms', options.now)
  const setTimer = checkOptionalFunction(WHERE, 'setTimer', 'must be a function', options.setTimer) ?? defaultTimer

  // An injected clock is read on every check (ttlResolution 0): tests move it without timers. It is
  // read 1 ms on, as lru-cache takes a start time of 0 for "none" (never stale); only differences count.
  const perf = now === undefined ? undefined : { now: () => now() + 1 }
  const cache = new LRUCache<string, string | typeof NONE>({ max, ttl, ...(perf === undefined ? {} : { perf, ttlResolution: 0 }) })
  const inFlight = new Map<string, Promise<string | undefined>>()
  /** A failure the fallback absorbed, with no onError to hear it, was printed: once per outage. */
  let outage = false
  /** onError threw or rejected, and that was printed: once per lookup. */
  let hookThrew = false
  // A logging hook's bug must not change the request's fate, nor (rejecting) end the process.
  const hookFailed = (error: unknown): void => {
    if (hookThrew) return
    hookThrew = true
    process.emitWarning(`ratekeeper: a cachedLookup/cachedList onError hook threw: ${withoutPasswords(String(error))} (said once)`, {
      code: 'RK_HOOK_THREW',
    })
  }

  /** An answer the plan refused, with no onError to hear it, was printed: once per lookup (an answer does not end it). */
  let refusedSaid = false

  const fail = (error: unknown, refused = false): string => {
    const wrapped =
      error instanceof RateKeeperError && error.code === 'ERR_RK_LOOKUP'
        ? error
        : new RateKeeperError('ERR_RK_LOOKUP', `${WHERE}: the lookup failed`, { cause: error })
    if (onError !== undefined) {
      try {
        const result: unknown = onError(wrapped)
        // An async hook's rejection is its throw: left alone, it would be an unhandled rejection.
        if (isThenable(result)) result.then(undefined, hookFailed)
      } catch (error) {
        hookFailed(error)
      }
    }
    if (fallback === undefined) throw wrapped
    if (onError === undefined && refused && !refusedSaid) {
      refusedSaid = true
      process.emitWarning(
        `ratekeeper: a cachedLookup answered what the plan cannot use (${error instanceof Error ? error.message : 'no tier'}); such requests get the fallback answer. Pass onError to see each one.`,
        { code: 'RK_LOOKUP_FAILED' },
      )
    } else if (onError === undefined && !refused && !outage) {
      outage = true
      // The cause's text is not shown: a driver's message may hold a connection string.
      process.emitWarning(
        `ratekeeper: a cachedLookup/cachedList lookup failed; until it answers again, requests get the fallback answer. Pass onError to see each failure.`,
        { code: 'RK_LOOKUP_FAILED' },
      )
    }
    return fallback
  }

  const check = (value: unknown): string | undefined => {
    if (value === undefined || (typeof value === 'string' && value.length > 0)) return value
    throw new RateKeeperError('ERR_RK_LOOKUP', `${WHERE}: the lookup must answer a non-empty string or undefined, received ${typeof value}`)
  }

  const resolver = (key: string, req: ProviderRequestInfo): string | undefined | Promise<string | undefined> => {
    const hit = cache.get(key)
    if (hit !== undefined) return hit === NONE ? undefined : hit
    const pending = inFlight.get(key)
    if (pending !== undefined) return pending
    let answer: string | undefined | Promise<string | undefined>
    try {
      answer = lookup(key, req)
    } catch (error) {
      return fail(error)
    }
    if (!isThenable(answer)) {
      let value: string | undefined
      try {
        value = check(answer)
      } catch (error) {
        return fail(error)
      }
      outage = false
      cache.set(key, value ?? NONE)
      return value
    }
    const settled = new Promise<string | undefined>((resolve, reject) => {
      const cancel = setTimer(
        () => reject(new RateKeeperError('ERR_RK_LOOKUP', `${WHERE}: the lookup did not answer within ${timeout} ms`)),
        timeout,
      )
      answer.then(
        (value) => {
          cancel()
          resolve(value)
        },
        (error: unknown) => {
          cancel()
          reject(error)
        },
      )
    })
    // Cached only while still the key's current call: a clear() since it started made its answer stale.
    const result: Promise<string | undefined> = settled.then(check).then(
      (value) => {
        outage = false
        if (inFlight.get(key) === result) {
          inFlight.delete(key)
          cache.set(key, value ?? NONE)
        }
        return value
      },
      (error: unknown) => {
        if (inFlight.get(key) === result) inFlight.delete(key)
        return fail(error)
      },
    )
    inFlight.set(key, result)
    return result
  }

  return Object.defineProperties(resolver, {
    clear: {
      value: (key?: string) => {
        if (key === undefined) {
          cache.clear()
          inFlight.clear()
        } else {
          cache.delete(key)
          inFlight.delete(key)
        }
      },
    },
    size: { get: () => cache.size },
    [REFUSE_ANSWER]: {
      value: (key: string, answer: string | undefined, error: RateKeeperError): string => {
        if (cache.peek(key) === (answer ?? NONE)) cache.delete(key)
        return fail(error, true)
      },
    },
    [LOOKUP_FALLBACK]: { value: fallback },
  }) as CachedLookup
}
