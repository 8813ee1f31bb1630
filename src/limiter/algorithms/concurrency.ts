import { type Duration, parseDuration } from '../duration.js'
import { ConfigurationError } from '../errors.js'
import type { Policy, PolicyOptionsBase, PolicyState, StepOutcome } from '../policy.js'
import { baseOptions } from './common.js'

/** Options of {@link concurrency}. */
export interface ConcurrencyOptions extends PolicyOptionsBase {
  /** Requests in flight at once (1-100000); `0` denies everything. */
  limit: number
  /**
   * How long a lease lives if it is never released: the bound on a slot leaked by a process that
   * died mid-request. Set it above your server's longest request (its request timeout); a request
   * still running when its lease expires no longer counts, so more than `limit` may then run.
   * @default '1m'
   */
  leaseMs?: Duration
  /**
   * The longest wait a denial suggests (`retryAfterMs`, and so `Retry-After`): when a slot frees
   * up is unknown, so the hint is short, or the time until the oldest lease expires if sooner.
   * HTTP adapters add jitter on top, so that denied clients don't come back together.
   * @default '1s'
   */
  retryAfter?: Duration
}

const KNOWN = { name: true, shadow: true, limit: true, leaseMs: true, retryAfter: true } as const

/**
 * The lease a store passes to a concurrency policy's `step` to ask without taking a slot (a peek,
 * or a store's own probe): leases the limiter draws are never negative.
 */
export const LOOK = -1

/** A subject without leases. */
const NONE: readonly number[] = Object.freeze([])

/** The most leases one subject may hold: a lease is two numbers of state, copied on each step. */
export const MAX_CONCURRENCY = 100_000

/**
 * A concurrency limit: at most `limit` requests of a subject in flight at once. A request takes a
 * lease when it is admitted and gives it back when its response ends (`limiter.release(decision)`;
 * the HTTP adapters do it on finish, on a client hang-up, and when the handler throws). A lease
 * nobody gives back — its process died — expires after `leaseMs`, so a slot is never lost for
 * longer. Releasing twice, after expiry, or a lease the store never saw does nothing: the count
 * never goes below zero.
 *
 * A request (`consume`) takes one slot whatever its `cost`, 0 included: a reservation of 0 settled
 * later is still a request in flight; a `peek` takes none. Combine it with rate
 * policies in one list: all-or-nothing, a request denied by a rate takes no slot, and one denied
 * for concurrency is charged nothing.
 *
 * Pros: bounds the work a client can have running (slow queries, long streams), which no rate
 * can. Cons: needs the end of every request (the adapters see it; direct callers must release).
 *
 * @example
 * concurrency({ name: 'in-flight', limit: 100, leaseMs: '1m' })
 */
export function concurrency(options: ConcurrencyOptions): Policy {
  const where = 'concurrency()'
  const { limit, name, shadow, raw } = baseOptions(where, options, KNOWN)
  if (limit > MAX_CONCURRENCY) {
    throw new ConfigurationError('ERR_RK_INVALID_OPTION', where, 'limit', `must be at most ${MAX_CONCURRENCY} requests in flight`, limit)
  }
  const leaseMs = raw.leaseMs === undefined ? 60_000 : parseDuration(where, 'leaseMs', raw.leaseMs)
  const retryMs = raw.retryAfter === undefined ? 1_000 : parseDuration(where, 'retryAfter', raw.retryAfter)
  const policyName = name ?? `${limit}-in-flight`
  const id = `${policyName}|cc:${limit}:${leaseMs}`

  // What `scan` found in a state (the policy runs synchronously: one set of numbers suffices).
  let liveCount = 0
  let latest = 0
  let earliest = 0
  let found = -1

  /** One pass over `state`'s leases at `now`: how many live, the latest and earliest deadlines, and where `lease` is. */
  const scan = (s: readonly number[], now: number, lease: number | undefined): void => {
    liveCount = 0
    latest = now
    earliest = Number.POSITIVE_INFINITY
    found = -1
    for (let i = 0; i + 1 < s.length; i += 2) {
      const deadline = s[i + 1]
      if (deadline <= now) continue
      liveCount++
      if (deadline > latest) latest = deadline
      if (deadline < earliest) earliest = deadline
      if (s[i] === lease) found = i
    }
  }

  /**
   * The live leases of `s` (scanned at `now`) as a new array, without the one at `skip` (-1: none):
   * a plain copy when nothing expired, the common case.
   */
  const kept = (s: readonly number[], now: number, skip: number): number[] => {
    // None kept: a new empty array (a copy of the frozen empty state would take the engine's slow path).
    if (liveCount === 0 || (skip >= 0 && liveCount === 1)) return []
    if (liveCount * 2 === s.length) {
      const copy = s.slice()
      if (skip < 0) return copy
      // Nothing expired (a release, commonly): the copy without the skipped pair, shifted down in
      // place, instead of pushing every pair into an empty array (which grows it, maybe twice).
      for (let i = skip; i + 2 < copy.length; i++) copy[i] = copy[i + 2]
      copy.pop()
      copy.pop()
      return copy
    }
    const out: number[] = []
    for (let i = 0; i + 1 < s.length; i += 2) if (s[i + 1] > now && i !== skip) out.push(s[i], s[i + 1])
    return out
  }

  /** Writes the outcome's numbers for `held` leases ending at the latest at `last` (not `allowed`, `never`, `retryAfterMs`). */
  const describe = (state: PolicyState | undefined, held: number, last: number, now: number, out: StepOutcome): void => {
    out.state = held === 0 ? undefined : state
    out.remaining = Math.max(0, limit - held)
    // Back to full allowance when every lease held has ended: at the latest, when the last expires.
    out.resetAt = last
    out.ttlMs = last - now
  }

  /** A denial's wait: the short hint, or until the earliest lease expires if sooner (at least 1 ms). */
  const retryHint = (now: number): number => Math.max(1, Math.min(retryMs, earliest - now))

  const step = (state: PolicyState | undefined, cost: number, now: number, out: StepOutcome, lease?: number): void => {
    const s = (state as readonly number[] | undefined) ?? NONE
    scan(s, now, lease)
    const held = liveCount
    describe(held === s.length / 2 ? state : kept(s, now, -1), held, latest, now, out)
    out.retryAfterMs = 0
    out.never = false
    // With a lease, a consume: it takes a slot whatever its cost (a request in flight is not a cost).
    // With LOOK (a peek) or none at cost 0 (a probe), a look: cost 0 reports, a cost asks whether a
    // new request would fit. None at a cost: a store that passes no leases, told so below.
    const looks = lease === LOOK || (lease === undefined && cost === 0)
    if (looks && cost === 0) {
      out.allowed = true
      return
    }
    if (limit === 0) {
      out.allowed = false
      out.never = true
      out.retryAfterMs = -1
      out.state = state
      return
    }
    if (looks) {
      out.allowed = held < limit
      if (out.allowed) out.remaining = limit - held - 1
      else out.retryAfterMs = retryHint(now)
      out.state = state
      return
    }
    if (typeof lease !== 'number' || !Number.isFinite(lease) || lease < 0) {
      throw new ConfigurationError(
        'ERR_RK_INVALID_ARGUMENT',
        `concurrency "${policyName}"`,
        'lease',
        'must be the request lease the store passes to step (StoreRequest.lease; LOOK for a peek): this store does not support concurrency policies',
        lease,
      )
    }
    const deadline = now + leaseMs
    if (found >= 0) {
      // The same lease again (a retried call): admitted once, its deadline renewed.
      const next = kept(s, now, -1)
      // Its old deadline may have been the latest (and later than the new one, on a clock that went back).
      let last = now
      for (let i = 0; i < next.length; i += 2) {
        if (next[i] === lease) next[i + 1] = deadline
        if (next[i + 1] > last) last = next[i + 1]
      }
      out.allowed = true
      describe(next, held, last, now, out)
      return
    }
    if (held < limit) {
      // The first lease (the common case on a quiet key) as a literal, not an empty copy grown by a push.
      const next = held === 0 ? [lease, deadline] : kept(s, now, -1)
      if (held !== 0) next.push(lease, deadline)
      out.allowed = true
      describe(next, held + 1, Math.max(latest, deadline), now, out)
      return
    }
    out.allowed = false
    out.state = state
    out.retryAfterMs = retryHint(now)
  }

  const refund = (
    state: PolicyState | undefined,
    _cost: number,
    _chargedAt: number,
    now: number,
    out: StepOutcome,
    lease?: number,
  ): void => {
    const s = (state as readonly number[] | undefined) ?? NONE
    scan(s, now, lease)
    out.allowed = true
    out.never = false
    out.retryAfterMs = 0
    if (found < 0) {
      describe(liveCount === s.length / 2 ? state : kept(s, now, -1), liveCount, latest, now, out)
      return
    }
    const next = kept(s, now, found)
    // The latest deadline among those left (the one released may have been it).
    let last = now
    for (let i = 1; i < next.length; i += 2) if (next[i] > last) last = next[i]
    describe(next, liveCount - 1, last, now, out)
  }

  const charge = (state: PolicyState | undefined, _cost: number, now: number, out: StepOutcome): void => {
    const s = (state as readonly number[] | undefined) ?? NONE
    scan(s, now, undefined)
    out.allowed = true
    out.never = false
    out.retryAfterMs = 0
    describe(liveCount === s.length / 2 ? state : kept(s, now, -1), liveCount, latest, now, out)
  }

  return Object.freeze({
    kind: 'concurrency' as const,
    name: policyName,
    limit,
    windowMs: leaseMs,
    window: leaseMs as Duration,
    burst: limit,
    id,
    shadow,
    step,
    refund,
    charge,
    params: Object.freeze({ kind: 'concurrency' as const, limit, leaseMs, retryMs }),
  })
}
