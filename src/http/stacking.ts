// Several mounts on one request: requests already decided by the same limits pass a second mount
// uncounted, and a response describes only the limiter that decided it.
import type { Limiter } from '../limiter/types.js'
import type { HeaderOptions } from './headers.js'

/**
 * How an adapter's requests are marked as decided, so that a second mount of the same limits
 * passes them through (each is the cheapest safe choice for its framework):
 * - `'weakset'`: a WeakSet of request objects (Express, whose re-parented request objects make
 *   adding a property cost microseconds; Fetch `Request`s);
 * - `'property'`: a symbol property on the request (Koa's `ctx`: one shape for every request);
 * - `'registrations'`: the framework runs one hook per registration, so requests are marked (by
 *   property) only when the same limits are registered more than once (Fastify).
 */
export type DecidedMark = 'weakset' | 'property' | 'registrations'

/** What the http limiters deciding the same limits (a limiter and a policy list or plan) share. */
interface SameLimits {
  /** How many http limiters decide these limits. */
  instances: number
  readonly seen: WeakSet<object>
  /** The symbol marking requests decided by these limits (`'property'` marks). */
  readonly mark: symbol
}

const sameLimits = new WeakMap<Limiter, WeakMap<object, SameLimits>>()
function sameLimitsOf(limiter: Limiter, limits: object): SameLimits {
  let byLimits = sameLimits.get(limiter)
  if (byLimits === undefined) {
    byLimits = new WeakMap()
    sameLimits.set(limiter, byLimits)
  }
  let state = byLimits.get(limits)
  if (state === undefined) {
    state = { instances: 0, seen: new WeakSet(), mark: Symbol('ratekeeper.decided') }
    byLimits.set(limits, state)
  }
  return state
}

/**
 * Registers one more http limiter deciding `limits` (a plan, a policy list) on `limiter`, and
 * returns its test of a request: false when `raw` was already decided by these limits (another
 * mount); else marks it and returns true.
 */
export function firstTimeTest(limiter: Limiter, limits: object, mark: DecidedMark): (raw: object) => boolean {
  const same = sameLimitsOf(limiter, limits)
  same.instances++
  const seen = same.seen
  const symbol = same.mark
  if (mark === 'weakset') {
    return (raw: object): boolean => {
      if (seen.has(raw)) return false
      seen.add(raw)
      return true
    }
  }
  return (raw: object): boolean => {
    if (mark === 'registrations' && same.instances === 1) return true
    const r = raw as Record<symbol, true | undefined>
    if (r[symbol] === true) return false
    r[symbol] = true
    return true
  }
}

/** Every rate-limit header name (lower case) an HTTP limiter of this process may send; `emittedVersion` counts additions. */
const emitted = new Set<string>()
let emittedVersion = 0
const NO_NAMES: readonly string[] = Object.freeze([])

/** The header names (lower case) a limiter made with these header options may send. */
function headerNamesOf(options: HeaderOptions | undefined): Set<string> {
  const names = new Set(['retry-after'])
  if (options?.legacy !== false) {
    for (const n of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) names.add(n)
    if (options?.tier !== false) names.add('x-ratelimit-tier')
  }
  const standard = options?.standard ?? 'draft-10'
  if (standard === 'draft-10' || standard === 'draft-7') for (const n of ['ratelimit', 'ratelimit-policy']) names.add(n)
  if (standard === 'draft-6')
    for (const n of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy']) names.add(n)
  const reason = options?.reason
  if (reason === true) names.add('ratelimit-reason')
  else if (typeof reason === 'string') names.add(reason.toLowerCase())
  return names
}

/**
 * Registers the header names a limiter with these header options sends, and returns the function
 * that lists the names the process's other limiters may send and this one doesn't (stacked
 * limiters: the adapter removes them). The list is recomputed only when a limiter with new names
 * appears (never, when every limiter has the same header options).
 */
export function foreignHeaderNames(options: HeaderOptions | undefined): () => readonly string[] {
  const ownNames = headerNamesOf(options)
  for (const name of ownNames) {
    if (!emitted.has(name)) {
      emitted.add(name)
      emittedVersion++
    }
  }
  let foreign = NO_NAMES
  let foreignVersion = -1
  return (): readonly string[] => {
    if (foreignVersion !== emittedVersion) {
      const names = [...emitted].filter((name) => !ownNames.has(name))
      foreign = names.length === 0 ? NO_NAMES : names
      foreignVersion = emittedVersion
    }
    return foreign
  }
}

/**
 * Stacked limiters where the response travels outwards through them (Fetch middleware, wrapped
 * handlers): the innermost decides last and puts its headers on first; the outer ones then leave
 * them, as on the Node frameworks, where the route's middleware overwrites the app-wide one's.
 * While only one limiter of the kind exists nothing can be stacked, and nothing is marked.
 */
export class OutwardStacking {
  /** Requests whose response already carries the headers of the limiter that decided them. */
  readonly #described = new WeakSet<object>()
  #limiters = 0

  /** Counts one more limiter of the kind. */
  add(): void {
    this.#limiters++
  }

  /** Whether limiters can be stacked (more than one exists): only then are requests marked. */
  get stacked(): boolean {
    return this.#limiters > 1
  }

  /** Marks `request` as described: its response carries a limiter's headers (a denial it answered). */
  describe(request: object): void {
    this.#described.add(request)
  }

  /** Whether the caller is the first to describe `request`'s response (a limiter closer to the handler was not); marks it. */
  claim(request: object): boolean {
    if (this.#described.has(request)) return false
    this.#described.add(request)
    return true
  }
}
