// The options of loginGuard(), described once: their validation, defaults and types.
import { type Duration, parseDuration } from '../limiter/duration.js'
import { checkInteger, checkKnownOptions, checkOptionsObject, invalid } from '../limiter/errors.js'
import type { Store } from '../limiter/store.js'
import type { Limiter, StoreErrorMode } from '../limiter/types.js'

/** A count of failed attempts allowed within a window (a sliding window: never more in any span of `window`). */
export interface LoginLimit {
  /** Failed attempts (1-1,000,000). */
  limit: number
  /** The span they are counted in. */
  window: Duration
}

/** The penalty box of a client address that keeps trying while denied (see docs/penalty-box.md). */
export interface LoginPenalty {
  /** Denied attempts within `within` that box the address (1-1000). */
  after: number
  within: Duration
  /** Block lengths, first, second, …; the last one repeats. */
  blocks: readonly Duration[]
  /** The quiet period that forgets the address's record. */
  forgiveAfter: Duration
}

/** Options of `loginGuard`. */
export interface LoginGuardOptions {
  /** Failed attempts per username and client address. A success resets it. @default { limit: 5, window: '15m' } */
  perPair?: LoginLimit
  /** Failed attempts per client address, whatever the username (password spraying). @default { limit: 100, window: '1d' } */
  perIp?: LoginLimit
  /**
   * Failed attempts per username, whatever the address (credential stuffing from many addresses),
   * or `false` for none. Filling it locks the username for every untrusted device until the
   * window lets attempts through again: see docs/brute-force.md for the trade-off.
   * @default { limit: 50, window: '1d' }
   */
  perUsername?: LoginLimit | false
  /** The penalty box for addresses that keep trying while denied, or `false`. @default { after: 10, within: '15m', blocks: ['15m', '1h', '1d'], forgiveAfter: '1d' } */
  penalty?: LoginPenalty | false
  /** A limiter to count with (its store, `onStoreError`, events); the guard passes its own policies per call. @default a new limiter on `store` */
  limiter?: Limiter
  /** The store of the guard's own limiter (not with `limiter`). @default new MemoryStore() */
  store?: Store
  /** The clock of the guard's own limiter, epoch ms (not with `limiter`). @default Date.now */
  now?: () => number
  /** What the guard's own limiter does when the store fails (not with `limiter`). @default 'allow' */
  onStoreError?: StoreErrorMode
  /** The fallback store of `onStoreError: 'fallback'` (not with `limiter`). */
  fallback?: Store
  /**
   * The Redis Cluster hash tag of every login counter: the three counters of an attempt are
   * decided in one atomic call, so they share one slot. @default 'login'
   */
  tag?: string
  /** The IPv6 prefix length addresses are grouped by. @default 56 */
  ipv6Subnet?: number
}

/** The options with their defaults applied. @internal */
export interface ResolvedLoginGuardOptions {
  perPair: LoginLimit
  perIp: LoginLimit
  perUsername: LoginLimit | false
  penalty: LoginPenalty | false
  limiter: Limiter | undefined
  store: Store | undefined
  now: (() => number) | undefined
  onStoreError: StoreErrorMode | undefined
  fallback: Store | undefined
  tag: string
  ipv6Subnet: number | undefined
}

const KNOWN: { readonly [K in keyof Required<LoginGuardOptions>]: true } = {
  perPair: true,
  perIp: true,
  perUsername: true,
  penalty: true,
  limiter: true,
  store: true,
  now: true,
  onStoreError: true,
  fallback: true,
  tag: true,
  ipv6Subnet: true,
}

function limitOf(where: string, name: string, value: unknown, fallback: LoginLimit): LoginLimit {
  if (value === undefined) return fallback
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(where, name, 'must be { limit, window }', value)
  checkKnownOptions(where, value as LoginLimit, { limit: true, window: true }, { prefix: `${name}.` })
  const v = value as LoginLimit
  checkInteger(where, `${name}.limit`, v.limit, 1, 1_000_000)
  parseDuration(where, `${name}.window`, v.window)
  return { limit: v.limit, window: v.window }
}

/** Validates `options` (every bad value an error naming it) and applies the defaults. @internal */
export function resolveLoginGuardOptions(where: string, options: LoginGuardOptions): ResolvedLoginGuardOptions {
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, KNOWN)
  const o = options
  if (o.limiter !== undefined) {
    if (typeof o.limiter !== 'object' || o.limiter === null || typeof o.limiter.consume !== 'function')
      invalid(where, 'limiter', 'must be a limiter (createLimiter())', o.limiter)
    for (const name of ['store', 'now', 'onStoreError', 'fallback'] as const)
      if (o[name] !== undefined) invalid(where, name, 'must be omitted with "limiter" (it is the limiter\'s own option)', o[name])
  }
  if (o.perUsername !== undefined && o.perUsername !== false && (typeof o.perUsername !== 'object' || o.perUsername === null))
    invalid(where, 'perUsername', 'must be { limit, window } or false', o.perUsername)
  if (o.penalty !== undefined && o.penalty !== false && (typeof o.penalty !== 'object' || o.penalty === null))
    invalid(where, 'penalty', 'must be { after, within, blocks, forgiveAfter } or false', o.penalty)
  if (o.tag !== undefined && (typeof o.tag !== 'string' || o.tag.length === 0 || o.tag.length > 64))
    invalid(where, 'tag', 'must be a string of 1-64 characters', o.tag)
  if (o.ipv6Subnet !== undefined) checkInteger(where, 'ipv6Subnet', o.ipv6Subnet, 1, 128)
  if (o.penalty !== undefined && o.penalty !== false)
    checkKnownOptions(where, o.penalty, { after: true, within: true, blocks: true, forgiveAfter: true }, { prefix: 'penalty.' })
  return {
    perPair: limitOf(where, 'perPair', o.perPair, { limit: 5, window: '15m' }),
    perIp: limitOf(where, 'perIp', o.perIp, { limit: 100, window: '1d' }),
    perUsername: o.perUsername === false ? false : limitOf(where, 'perUsername', o.perUsername, { limit: 50, window: '1d' }),
    penalty: o.penalty === false ? false : (o.penalty ?? { after: 10, within: '15m', blocks: ['15m', '1h', '1d'], forgiveAfter: '1d' }),
    limiter: o.limiter,
    store: o.store,
    now: o.now,
    onStoreError: o.onStoreError,
    fallback: o.fallback,
    tag: o.tag ?? 'login',
    ipv6Subnet: o.ipv6Subnet,
  }
}
