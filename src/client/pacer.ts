import type { RateLimitInfo } from './parse-headers.js'

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

interface Budget {
  limit: number | undefined
  remaining: number | undefined
  resetAt: number | undefined
  blockedUntil: number
  lastInfo: RateLimitInfo | undefined
  inFlight: number
  /** Set while one request probes a budget whose reset time has passed; the others wait for its answer. */
  probe: Promise<void> | undefined
  endProbe: (() => void) | undefined
}

/** What `before` tells the caller. */
export type PaceStep =
  | { readonly kind: 'go'; readonly probing: boolean }
  | { readonly kind: 'sleep'; readonly ms: number }
  | { readonly kind: 'await'; readonly promise: Promise<void> }

const MAX_BUDGETS = 10_000

/**
 * Learns every response's rate-limit headers per budget key and tells a caller whether to send now
 * or wait: until a `Retry-After` is over, or, when the remaining quota is at or below `threshold`,
 * until the reported reset. After a reset one request goes first and the others wait for what its
 * response says, so a token bucket refilling one unit at a time is not met by a stampede.
 */
export class Pacer {
  readonly #threshold: number
  readonly #budgets = new Map<string, Budget>()

  constructor(threshold: number) {
    this.#threshold = threshold
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

  /** Decides whether a request for `key` may go at `now`. Call again after sleeping or awaiting. */
  before(key: string, now: number): PaceStep {
    const b = this.#budgets.get(key)
    if (b === undefined) return { kind: 'go', probing: false }
    if (b.blockedUntil > now) return { kind: 'sleep', ms: b.blockedUntil - now }
    if (b.probe !== undefined) return { kind: 'await', promise: b.probe }
    if (b.remaining !== undefined && b.remaining <= this.#threshold) {
      if (b.resetAt !== undefined && b.resetAt > now) return { kind: 'sleep', ms: b.resetAt - now }
      if (b.resetAt !== undefined) {
        // The reported reset has passed: what is left now is unknown until a response says.
        b.remaining = undefined
        b.resetAt = undefined
        b.probe = new Promise<void>((resolve) => {
          b.endProbe = resolve
        })
        return { kind: 'go', probing: true }
      }
    }
    return { kind: 'go', probing: false }
  }

  /** A request for `key` is being sent. */
  sent(key: string, now: number): void {
    const b = this.#budget(key, now)
    b.inFlight++
    if (b.remaining !== undefined) b.remaining--
  }

  /**
   * A response (or a failure: `info` undefined) came back for a request sent with `sent`.
   * `limited` is true for a 429/503: its `Retry-After` then holds back every request of the budget.
   */
  received(key: string, now: number, info: RateLimitInfo | undefined, limited: boolean, probing: boolean): void {
    const b = this.#budget(key, now)
    b.inFlight = Math.max(0, b.inFlight - 1)
    if (info !== undefined) {
      b.lastInfo = info
      if (info.remaining !== undefined) {
        b.remaining = info.remaining
        b.resetAt = info.resetAt
        b.limit = info.limit
      } else if (limited && info.resetAt !== undefined) {
        b.resetAt = info.resetAt
      }
      if (limited) {
        // Retry-After takes precedence over the reset figures (draft-ietf-httpapi-ratelimit-headers):
        // the budget is empty until then, and then one request probes before the others follow.
        let wait = info.retryAfterMs
        if (wait === undefined && info.remaining === 0 && info.resetAt !== undefined) wait = info.resetAt - now
        if (wait !== undefined) {
          wait = Math.max(0, wait)
          b.blockedUntil = Math.max(b.blockedUntil, now + wait)
          b.remaining = 0
          b.resetAt = now + wait
        }
      }
    }
    if (probing) this.#endProbe(b)
  }

  /** A probing request ended without an answer (aborted before it was sent, or the network failed). */
  abandon(key: string, probing: boolean, wasSent: boolean): void {
    const b = this.#budgets.get(key)
    if (b === undefined) return
    if (wasSent) b.inFlight = Math.max(0, b.inFlight - 1)
    if (probing) this.#endProbe(b)
  }

  #endProbe(b: Budget): void {
    const end = b.endProbe
    b.probe = undefined
    b.endProbe = undefined
    end?.()
  }

  #budget(key: string, now: number): Budget {
    let b = this.#budgets.get(key)
    if (b === undefined) {
      if (this.#budgets.size >= MAX_BUDGETS) this.#prune(now)
      b = {
        limit: undefined,
        remaining: undefined,
        resetAt: undefined,
        blockedUntil: 0,
        lastInfo: undefined,
        inFlight: 0,
        probe: undefined,
        endProbe: undefined,
      }
      this.#budgets.set(key, b)
    }
    return b
  }

  /** Bounds memory for clients that call very many origins: drops idle budgets, oldest first. */
  #prune(now: number): void {
    for (const [key, b] of this.#budgets) {
      if (b.inFlight === 0 && b.probe === undefined && b.blockedUntil <= now && (b.resetAt === undefined || b.resetAt <= now)) {
        this.#budgets.delete(key)
      }
    }
    // Still full: drop the oldest idle entries (Map order is insertion order).
    for (const [key, b] of this.#budgets) {
      if (this.#budgets.size < MAX_BUDGETS) break
      if (b.inFlight === 0 && b.probe === undefined) this.#budgets.delete(key)
    }
  }
}
