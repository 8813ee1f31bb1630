import type { Decision } from '../limiter/decision.js'
import { RateKeeperError } from '../limiter/errors.js'
import type { Limiter } from '../limiter/types.js'
import { type Sleep, whenAborted } from './timing.js'

/** A queued call was not served before its deadline. */
export class DeadlineError extends Error {
  constructor(readonly waitedMs: number) {
    super('deadline passed while queued')
    this.name = 'DeadlineError'
  }
}

interface Waiter<T> {
  readonly deadline: number
  /** Units the waiter asks for (rate gate). */
  readonly cost: number
  readonly enqueuedAt: number
  readonly resolve: (value: T) => void
  readonly reject: (error: unknown) => void
  /** Stops watching the signal. */
  stopWatching: (() => void) | undefined
  settled: boolean
}

/** A FIFO of waiters that can leave (abort) or expire (deadline) while queued. */
class WaitList<T> {
  readonly items: Waiter<T>[] = []
  /** Called after an abort removed a waiter. */
  readonly #onLeave: () => void

  constructor(onLeave: () => void = () => {}) {
    this.#onLeave = onLeave
  }

  add(now: number, deadline: number, signal: AbortSignal | undefined, cost = 1): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { deadline, cost, enqueuedAt: now, resolve, reject, stopWatching: undefined, settled: false }
      if (signal !== undefined) {
        waiter.stopWatching = whenAborted(signal, () => {
          this.remove(waiter)
          this.settle(waiter, false, signal.reason)
          this.#onLeave()
        })
      }
      this.items.push(waiter)
    })
  }

  /** Takes `waiter` out of the line, if it is still in it. */
  remove(waiter: Waiter<T>): void {
    const i = this.items.indexOf(waiter)
    if (i >= 0) this.items.splice(i, 1)
  }

  /** Settles `waiter`; false when it had already left (aborted, expired). */
  settle(waiter: Waiter<T>, ok: boolean, value: unknown): boolean {
    if (waiter.settled) return false
    waiter.settled = true
    waiter.stopWatching?.()
    if (ok) waiter.resolve(value as T)
    else waiter.reject(value)
    return true
  }

  /** Rejects every waiter whose deadline is before `until` (or at it, with `inclusive`). */
  expire(now: number, until: number, inclusive: boolean): void {
    for (let i = 0; i < this.items.length; ) {
      const w = this.items[i]
      if (w.deadline < until || (inclusive && w.deadline === until)) {
        this.items.splice(i, 1)
        this.settle(w, false, new DeadlineError(now - w.enqueuedAt))
      } else i++
    }
  }
}

/** Runs `onTimeout` at the earliest deadline of a wait list, on the injected sleep; one timer per list. */
class DeadlineTimer {
  #controller: AbortController | undefined
  #at = Number.POSITIVE_INFINITY

  constructor(
    readonly sleep: Sleep,
    readonly now: () => number,
  ) {}

  /** Makes sure a timer fires by `at`; `onTimeout` is told the time it was set for. */
  arm(at: number, onTimeout: (at: number) => void): void {
    if (this.#controller !== undefined && this.#at <= at) return
    this.cancel()
    const controller = new AbortController()
    this.#controller = controller
    this.#at = at
    this.sleep(Math.max(0, at - this.now()), controller.signal).then(
      () => {
        if (this.#controller !== controller) return
        this.#controller = undefined
        this.#at = Number.POSITIVE_INFINITY
        onTimeout(at)
      },
      () => {},
    )
  }

  cancel(): void {
    this.#controller?.abort()
    this.#controller = undefined
    this.#at = Number.POSITIVE_INFINITY
  }
}

interface ConcurrencyEntry {
  active: number
  readonly waiting: WaitList<() => void>
  readonly timer: DeadlineTimer
}

/**
 * At most `limit` calls at once per key, first come first served. A slot is released by the
 * function `acquire` resolves with (idempotent). A queued call is rejected with a
 * {@link DeadlineError} at its deadline (one timer per key, for the earliest deadline).
 */
export class ConcurrencyGate {
  readonly #limit: number
  readonly #now: () => number
  readonly #sleep: Sleep
  readonly #keys = new Map<string, ConcurrencyEntry>()

  constructor(limit: number, now: () => number, sleep: Sleep) {
    this.#limit = limit
    this.#now = now
    this.#sleep = sleep
  }

  acquire(key: string, deadline: number, signal: AbortSignal | undefined): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    let entry = this.#keys.get(key)
    if (entry === undefined) {
      const timer = new DeadlineTimer(this.#sleep, this.#now)
      const created: ConcurrencyEntry = {
        active: 0,
        waiting: new WaitList(() => this.#tidy(key, created)),
        timer,
      }
      entry = created
      this.#keys.set(key, entry)
    }
    if (entry.active < this.#limit && entry.waiting.items.length === 0) {
      entry.active++
      return Promise.resolve(this.#releaser(key))
    }
    const now = this.#now()
    if (deadline <= now) return Promise.reject(new DeadlineError(0))
    const promise = entry.waiting.add(now, deadline, signal)
    this.#arm(key, entry)
    return promise
  }

  /** Calls in flight for `key`. */
  active(key: string): number {
    return this.#keys.get(key)?.active ?? 0
  }

  #arm(key: string, entry: ConcurrencyEntry): void {
    let earliest = Number.POSITIVE_INFINITY
    for (const w of entry.waiting.items) earliest = Math.min(earliest, w.deadline)
    if (earliest === Number.POSITIVE_INFINITY) return
    entry.timer.arm(earliest, (at) => {
      // It is at least the time the timer was set for, even if the clock says otherwise (a sleep
      // that ended early): else the timer would be set again and again for the same deadline.
      const now = Math.max(this.#now(), at)
      entry.waiting.expire(now, now, true)
      this.#tidy(key, entry)
    })
  }

  /** After waiters left: re-arms the deadline timer for the earliest one left, or stops it. */
  #tidy(key: string, entry: ConcurrencyEntry): void {
    if (entry.waiting.items.length === 0) {
      entry.timer.cancel()
      if (entry.active === 0 && this.#keys.get(key) === entry) this.#keys.delete(key)
    } else this.#arm(key, entry)
  }

  #releaser(key: string): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const entry = this.#keys.get(key)
      if (entry === undefined) return
      const now = this.#now()
      entry.waiting.expire(now, now, false)
      const next = entry.waiting.items.shift()
      if (next !== undefined) {
        // The slot passes straight to the next caller.
        entry.waiting.settle(next, true, this.#releaser(key))
        this.#tidy(key, entry)
        return
      }
      entry.active--
      this.#tidy(key, entry)
    }
  }
}

interface RateEntry {
  readonly waiting: WaitList<Decision>
  pumping: boolean
  /** While the pump sleeps for the head's units: when it wakes (0 otherwise). */
  wakeAt: number
  /** When the pump last woke: the time is at least that, even if the clock says otherwise. */
  woke: number
  /** Stops that sleep when every waiter has left. */
  nap: AbortController | undefined
}

/**
 * Admits calls through a ratekeeper limiter in arrival order, one decision at a time per key, so
 * that a thousand queued calls cost one pending wait, not a thousand timers racing for each token.
 * With a limiter on a shared store (a `RedisStore`), every process draws on one budget.
 *
 * A call is refused (a {@link DeadlineError}) only for want of units: as soon as the head of the
 * queue is told to wait until a time beyond a call's deadline (the calls behind it cannot go
 * earlier), never because other calls' store round trips took time while units were free.
 */
export class RateGate {
  readonly #limiter: Limiter
  readonly #now: () => number
  readonly #sleep: Sleep
  readonly #keys = new Map<string, RateEntry>()

  constructor(limiter: Limiter, now: () => number, sleep: Sleep) {
    this.#limiter = limiter
    this.#now = now
    this.#sleep = sleep
  }

  admit(key: string, cost: number, deadline: number, signal: AbortSignal | undefined): Promise<Decision> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    let entry = this.#keys.get(key)
    if (entry === undefined) {
      const created: RateEntry = {
        waiting: new WaitList<Decision>(() => {
          if (created.waiting.items.length === 0) created.nap?.abort()
        }),
        pumping: false,
        wakeAt: 0,
        woke: 0,
        nap: undefined,
      }
      entry = created
      this.#keys.set(key, entry)
    }
    const now = this.#now()
    // The queue is asleep until a time past this call's deadline: it cannot be served in time.
    if (entry.wakeAt > deadline) return Promise.reject(new DeadlineError(0))
    const promise = entry.waiting.add(now, deadline, signal, cost)
    void this.#pump(key, entry)
    return promise
  }

  async #pump(key: string, entry: RateEntry): Promise<void> {
    if (entry.pumping) return
    entry.pumping = true
    const list = entry.waiting
    try {
      for (;;) {
        const head = list.items[0]
        if (head === undefined) break
        let decision: Decision
        try {
          decision = await this.#limiter.consume(key, { cost: head.cost })
        } catch (error) {
          this.#done(list, head, false, error)
          continue
        }
        if (decision.allowed || decision.reason === 'store-error') {
          // A call that left (aborted) while the store decided is not sent: what it was granted goes back.
          if (!this.#done(list, head, true, decision)) {
            this.release(decision)
            this.giveBack(key, decision)
          }
          continue
        }
        if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
          const error = new RateKeeperError('ERR_RK_WAIT', `cost ${decision.cost} can never be admitted by ${decision.violated.join(', ')}`)
          this.#done(list, head, false, error)
          continue
        }
        // A sleep that ended early (an injected one that does not wait) still moves time on, so
        // that queued calls reach their deadlines instead of the pump asking again for ever.
        const now = Math.max(this.#now(), entry.woke)
        const ms = Math.max(1, decision.retryAfterMs)
        const wakeAt = now + ms
        list.expire(now, wakeAt, false)
        if (list.items.length === 0) break
        entry.wakeAt = wakeAt
        entry.nap = new AbortController()
        try {
          await this.#sleep(ms, entry.nap.signal)
          entry.woke = wakeAt
        } catch {
          // Every waiter left: nothing to wake for.
        } finally {
          entry.wakeAt = 0
          entry.nap = undefined
        }
      }
    } finally {
      entry.pumping = false
      if (list.items.length === 0 && this.#keys.get(key) === entry) this.#keys.delete(key)
    }
  }

  /**
   * Gives back the leases an admission took (the limiter's concurrency policies), once its request
   * is answered or not sent after all. Idempotent; a store failure is the limiter's to report.
   */
  release(decision: Decision): void {
    this.#limiter.release(decision).catch(() => {})
  }

  /**
   * Gives back the units of an admission whose call was not sent after all (best effort): the
   * decision itself, so the limiter credits the store that charged it (its fallback, when the main
   * store had failed), and only what it charged, once.
   */
  giveBack(key: string, decision: Decision): void {
    if (decision.cost === 0 || decision.reason === 'store-error') return
    this.#limiter.refund(key, { decision }).catch(() => {})
  }

  /** Settles the head; false when it had already left. */
  #done(list: WaitList<Decision>, head: Waiter<Decision>, ok: boolean, value: unknown): boolean {
    list.remove(head)
    return list.settle(head, ok, value)
  }
}
