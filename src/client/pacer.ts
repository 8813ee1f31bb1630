import type { RateLimitInfo } from './rate-limit-info.js'

/**
 * How far a reported reset may lie beyond `Retry-After` and still be read as the same moment, ms.
 * Servers that round `Retry-After` down to whole seconds (koa-ratelimit) and send the reset as
 * whole epoch seconds are off by less than two seconds together.
 */
export const ROUNDING_SLACK_MS = 2000

/**
 * How long a limited response asks to wait, ms: `Retry-After`, or, when nothing remains, the time
 * to the reported reset. When both are known and the reset is at most {@link ROUNDING_SLACK_MS}
 * later, the later of the two (a truncated `Retry-After` would spend the retry early). A reset
 * further away than that is a different moment: a token bucket's "full again", while
 * `Retry-After` names the next unit, so the server's explicit `Retry-After` wins.
 */
export function serverWaitMs(info: RateLimitInfo): number | undefined {
  const toReset = info.remaining === 0 && info.resetAt !== undefined ? Math.max(0, info.resetAt - info.at) : undefined
  if (info.retryAfterMs === undefined) return toReset
  if (toReset === undefined || toReset <= info.retryAfterMs) return info.retryAfterMs
  return toReset - info.retryAfterMs <= ROUNDING_SLACK_MS ? toReset : info.retryAfterMs
}

/** What the client currently knows about one budget (one origin, or one key of your own). */
export interface BudgetState {
  /** Quota per window, as last reported. */
  readonly limit: number | undefined
  /** Quota left: the last reported figure minus the requests sent since. */
  readonly remaining: number | undefined
  /** Epoch ms when more quota becomes available, as last reported. */
  readonly resetAt: number | undefined
  /** Epoch ms before which no request is sent: the end of the last `Retry-After`. */
  readonly blockedUntil: number
  /** The last response's parsed headers. */
  readonly lastInfo: RateLimitInfo | undefined
  /** Requests in flight. */
  readonly inFlight: number
}

/** What `state()` shows of a budget, kept up to date in place. */
type KnownState = { -readonly [K in keyof BudgetState]: BudgetState[K] }

interface Budget extends KnownState {
  /** Requests sent so far; a request's index is this count when it was sent. */
  sends: number
  /** Indexes of the requests in flight. */
  readonly flying: Set<number>
  /** The index of the request whose response set `remaining` last (-1: none). */
  applied: number
  /** Set while one request probes a budget whose reset time has passed; the others wait for its answer. */
  probe: Promise<void> | undefined
  /** Which request probes (see {@link Probe}): set with `probe`. */
  prober: Probe | undefined
  endProbe: (() => void) | undefined
  /** What the probe cleared (a spent budget whose reset has passed), put back if it ends without an answer. */
  beforeProbe: { readonly remaining: number; readonly resetAt: number } | undefined
  /** Aborted by `reset()`, to wake the calls waiting on this budget. */
  wake: AbortController | undefined
  /** The latest time this budget was looked at, epoch ms: a clock found behind it has gone back. */
  seenAt: number
  /** No answer has come back for this budget yet. */
  cold: boolean
}

/** What `sent` returns, and `received` / `abandon` take back: one request of one budget. */
export interface SendTicket {
  readonly budget: object
  readonly index: number
}

/**
 * The probe of one budget: the request that goes first once its reset has passed (the others wait
 * for its answer). A request holds it from `before` to `received` or `abandon`; after `reset()` it
 * probes nothing (the budget that follows has a probe of its own). A token, never a thenable (an
 * async function returning one would wait for it).
 */
export type Probe = { readonly probe: true }

/** What `before` tells the caller: go (as the probe of the budget, or not), sleep, or await the probe. */
export type PaceStep =
  | { readonly kind: 'go'; readonly probing: Probe | undefined }
  | { readonly kind: 'sleep'; readonly ms: number }
  | { readonly kind: 'await'; readonly promise: Promise<void> }

/**
 * How a limited response (429, 503, a rate-limit 403) bears on its budget: `'budget'` holds back
 * every request of the budget; `'call'` (an upstream provider's limit) only the call that got it.
 */
export type LimitScope = 'budget' | 'call'

const MAX_BUDGETS = 10_000
/** Room made at once when full, so that the scan it takes is paid once per this many new budgets. */
const PRUNE_BATCH = 1_000

/**
 * Learns every response's rate-limit headers per budget key and tells a caller whether to send now
 * or wait: until a `Retry-After` is over, or, when the remaining quota is at or below `threshold`,
 * until the reported reset. After a reset one request goes first and the others wait for what its
 * response says, so a token bucket refilling one unit at a time is not met by a stampede; with
 * `probeFirst`, so is a budget nothing is known of yet.
 *
 * A response's `remaining` was counted before the requests sent after it reached the server: the
 * remaining known is the reported figure minus those, and minus the earlier requests still in
 * flight (the server may not have counted them yet either). No server can hold a budget back for
 * longer than `maxBlockMs`: after that, one request probes.
 */
export class Pacer {
  readonly #threshold: number
  readonly #probeFirst: boolean
  readonly #maxBlockMs: number
  readonly #budgets = new Map<string, Budget>()
  #pruneSteps = 0

  constructor(threshold: number, maxBlockMs = 3_600_000, probeFirst = false) {
    this.#threshold = threshold
    this.#maxBlockMs = maxBlockMs
    this.#probeFirst = probeFirst
  }

  /** Budgets held. @internal */
  get size(): number {
    return this.#budgets.size
  }

  /** Budgets looked at to make room, since construction: the work pruning has cost. Tests hold it flat. @internal */
  get pruneSteps(): number {
    return this.#pruneSteps
  }

  state(key: string): BudgetState | undefined {
    const b = this.#budgets.get(key)
    if (b === undefined) return undefined
    return Object.freeze({
      limit: b.limit,
      remaining: b.remaining,
      resetAt: b.resetAt,
      blockedUntil: b.blockedUntil,
      lastInfo: b.lastInfo,
      inFlight: b.inFlight,
    })
  }

  /**
   * Decides whether a request for `key` may go at `now`. Call again after sleeping or awaiting.
   * `own` is the probe the request already holds, if any: the probe of this budget goes without
   * waiting for itself; one of a budget that `reset()` dropped probes nothing any more.
   */
  before(key: string, now: number, own?: Probe): PaceStep {
    if (!this.#probeFirst && !this.#budgets.has(key)) return { kind: 'go', probing: undefined }
    const b = this.#budget(key, now)
    if (b.blockedUntil > now) return { kind: 'sleep', ms: b.blockedUntil - now }
    if (b.probe !== undefined)
      return own !== undefined && b.prober === own ? { kind: 'go', probing: own } : { kind: 'await', promise: b.probe }
    // Nothing known of this budget yet (`pace.probeFirst`): the first request goes alone.
    if (b.cold && this.#probeFirst) return this.#startProbe(b)
    if (b.remaining !== undefined && b.remaining <= this.#threshold) {
      if (b.resetAt !== undefined && b.resetAt > now) return { kind: 'sleep', ms: b.resetAt - now }
      if (b.resetAt !== undefined) {
        // The reported reset has passed: what is left now is unknown until a response says.
        b.beforeProbe = { remaining: b.remaining, resetAt: b.resetAt }
        b.remaining = undefined
        b.resetAt = undefined
        return this.#startProbe(b)
      }
    }
    return { kind: 'go', probing: undefined }
  }

  #startProbe(b: Budget): PaceStep {
    b.probe = new Promise<void>((resolve) => (b.endProbe = resolve))
    b.prober = { probe: true }
    return { kind: 'go', probing: b.prober }
  }

  /** A signal aborted when `reset()` clears the budget: pass it to a wait on this budget. */
  wakeSignal(key: string): AbortSignal | undefined {
    const b = this.#budgets.get(key)
    if (b === undefined) return undefined
    b.wake ??= new AbortController()
    return b.wake.signal
  }

  /** A request for `key` is being sent. */
  sent(key: string, now: number): SendTicket {
    const b = this.#budget(key, now)
    const index = b.sends++
    b.flying.add(index)
    b.inFlight++
    if (b.remaining !== undefined) b.remaining = Math.max(0, b.remaining - 1)
    return { budget: b, index }
  }

  /**
   * A response came back for a request sent with `sent`. `limited` is true for a 429/503 (or a
   * rate-limit 403): with `scope` `'budget'`, its wait (`Retry-After`, or the reset when nothing
   * remains, whichever is later) then holds back every request of the budget.
   */
  received(
    key: string,
    now: number,
    info: RateLimitInfo,
    limited: boolean,
    probing: Probe | undefined,
    ticket: SendTicket,
    scope: LimitScope = 'budget',
  ): void {
    const b = this.#budget(key, now)
    const same = ticket.budget === b
    this.#land(b, ticket)
    b.lastInfo = info
    b.cold = false
    const cap = now + this.#maxBlockMs
    if (info.remaining !== undefined) {
      // Requests the server may not have counted when it produced this figure.
      let uncounted = b.inFlight
      if (same) {
        uncounted = b.sends - ticket.index - 1
        for (const i of b.flying) if (i < ticket.index) uncounted++
      }
      const known = Math.max(0, info.remaining - uncounted)
      const resetAt = info.resetAt === undefined ? undefined : Math.min(info.resetAt, cap)
      if (!same || ticket.index > b.applied) {
        b.remaining = known
        b.resetAt = resetAt
        b.limit = info.limit
        if (same) b.applied = ticket.index
      } else if (b.remaining === undefined || known < b.remaining) {
        // An older answer overtaken by a newer one: it may only lower the figure.
        b.remaining = known
      }
    } else if (limited && info.resetAt !== undefined) {
      b.resetAt = Math.min(info.resetAt, cap)
    }
    if (limited && scope === 'budget') {
      const wait = serverWaitMs(info)
      if (wait !== undefined) {
        const until = now + Math.min(Math.max(0, wait), this.#maxBlockMs)
        b.blockedUntil = Math.max(Math.min(b.blockedUntil, cap), until)
        b.remaining = 0
        b.resetAt = b.blockedUntil
      }
    }
    // Only the budget's own probe ends it: one from before a reset() answers for a budget that is gone.
    if (probing !== undefined && b.prober === probing) this.#endProbe(b)
  }

  /** A request ended without an answer: aborted before it was sent (no ticket), or the network failed. */
  abandon(key: string, probing: Probe | undefined, ticket: SendTicket | undefined): void {
    const b = this.#budgets.get(key)
    if (b === undefined) return
    if (ticket !== undefined) this.#land(b, ticket)
    if (probing !== undefined && b.prober === probing) {
      // No answer: the budget is as the probe found it, so the next call probes in its turn
      // (rather than every waiting call going at once).
      if (b.remaining === undefined && b.beforeProbe !== undefined) {
        b.remaining = b.beforeProbe.remaining
        b.resetAt = b.beforeProbe.resetAt
      }
      this.#endProbe(b)
    }
  }

  /** Forgets what is known of one budget (or of all), and wakes the calls waiting on it. */
  reset(key?: string): void {
    const keys = key === undefined ? [...this.#budgets.keys()] : [key]
    for (const k of keys) {
      const b = this.#budgets.get(k)
      if (b === undefined) continue
      this.#budgets.delete(k)
      this.#endProbe(b)
      b.wake?.abort(new Error('budget reset'))
    }
  }

  #land(b: Budget, ticket: SendTicket): void {
    if (ticket.budget === b && b.flying.delete(ticket.index)) b.inFlight = Math.max(0, b.inFlight - 1)
  }

  #endProbe(b: Budget): void {
    const end = b.endProbe
    b.probe = undefined
    b.prober = undefined
    b.endProbe = undefined
    b.beforeProbe = undefined
    end?.()
  }

  /**
   * The client's clock went back (an NTP step, a resumed VM): the budget's times move back with it,
   * so a wait the server asked for lasts what it asked from when it was asked, not the jump more.
   */
  #rebase(b: Budget, now: number): void {
    if (now >= b.seenAt) {
      b.seenAt = now
      return
    }
    const shift = now - b.seenAt
    b.seenAt = now
    if (b.blockedUntil > 0) b.blockedUntil += shift
    if (b.resetAt !== undefined) b.resetAt += shift
    if (b.beforeProbe !== undefined) b.beforeProbe = { remaining: b.beforeProbe.remaining, resetAt: b.beforeProbe.resetAt + shift }
  }

  #budget(key: string, now: number): Budget {
    let b = this.#budgets.get(key)
    if (b !== undefined) this.#rebase(b, now)
    if (b === undefined) {
      if (this.#budgets.size >= MAX_BUDGETS) this.#prune(now)
      b = {
        limit: undefined,
        remaining: undefined,
        resetAt: undefined,
        blockedUntil: 0,
        lastInfo: undefined,
        inFlight: 0,
        sends: 0,
        flying: new Set(),
        applied: -1,
        probe: undefined,
        prober: undefined,
        endProbe: undefined,
        beforeProbe: undefined,
        wake: undefined,
        seenAt: now,
        cold: true,
      }
      this.#budgets.set(key, b)
    }
    return b
  }

  /**
   * Bounds memory for clients that call very many origins: drops idle budgets, then the oldest with
   * nothing in flight until {@link PRUNE_BATCH} places are free.
   */
  #prune(now: number): void {
    for (const [key, b] of this.#budgets) {
      this.#pruneSteps++
      if (b.inFlight === 0 && b.probe === undefined && b.blockedUntil <= now && (b.resetAt === undefined || b.resetAt <= now)) {
        this.#budgets.delete(key)
      }
    }
    // Still (nearly) full: drop the oldest entries with nothing in flight (Map order is insertion order).
    for (const [key, b] of this.#budgets) {
      if (this.#budgets.size <= MAX_BUDGETS - PRUNE_BATCH) break
      this.#pruneSteps++
      if (b.inFlight === 0 && b.probe === undefined) this.#budgets.delete(key)
    }
  }
}
