import type { Decision } from '../core/decision.js'
import type { Limiter } from '../core/limiter.js'

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
  readonly signal: AbortSignal | undefined
  readonly enqueuedAt: number
  readonly resolve: (value: T) => void
  readonly reject: (error: unknown) => void
  onAbort: (() => void) | undefined
  settled: boolean
}

/** A FIFO of waiters that can leave (abort) or expire (deadline) while queued. */
class WaitList<T> {
  readonly items: Waiter<T>[] = []

  add(now: number, deadline: number, signal: AbortSignal | undefined, cost = 1): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { deadline, cost, signal, enqueuedAt: now, resolve, reject, onAbort: undefined, settled: false }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const i = this.items.indexOf(waiter)
          if (i >= 0) this.items.splice(i, 1)
          this.settle(waiter, false, signal.reason)
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.items.push(waiter)
    })
  }

  settle(waiter: Waiter<T>, ok: boolean, value: unknown): void {
    if (waiter.settled) return
    waiter.settled = true
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort)
    if (ok) waiter.resolve(value as T)
    else waiter.reject(value)
  }

  /** Rejects every waiter whose deadline has passed. */
  expire(now: number): void {
    for (let i = 0; i < this.items.length; ) {
      const w = this.items[i]
      if (now > w.deadline) {
        this.items.splice(i, 1)
        this.settle(w, false, new DeadlineError(now - w.enqueuedAt))
      } else i++
    }
  }
}

/**
 * At most `limit` calls at once per key, first come first served. A slot is released by the
 * function `acquire` resolves with (idempotent).
 */
export class ConcurrencyGate {
  readonly #limit: number
  readonly #now: () => number
  readonly #keys = new Map<string, { active: number; waiting: WaitList<() => void> }>()

  constructor(limit: number, now: () => number) {
    this.#limit = limit
    this.#now = now
  }

  acquire(key: string, deadline: number, signal: AbortSignal | undefined): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    let entry = this.#keys.get(key)
    if (entry === undefined) {
      entry = { active: 0, waiting: new WaitList() }
      this.#keys.set(key, entry)
    }
    if (entry.active < this.#limit && entry.waiting.items.length === 0) {
      entry.active++
      return Promise.resolve(this.#releaser(key))
    }
    return entry.waiting.add(this.#now(), deadline, signal)
  }

  /** Calls in flight for `key`. */
  active(key: string): number {
    return this.#keys.get(key)?.active ?? 0
  }

  #releaser(key: string): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const entry = this.#keys.get(key)
      if (entry === undefined) return
      entry.waiting.expire(this.#now())
      const next = entry.waiting.items.shift()
      if (next !== undefined) {
        // The slot passes straight to the next caller.
        entry.waiting.settle(next, true, this.#releaser(key))
        return
      }
      entry.active--
      if (entry.active === 0) this.#keys.delete(key)
    }
  }
}

/**
 * Admits calls through a ratekeeper limiter in arrival order: one `limiter.wait()` at a time per
 * key, so that a thousand queued calls cost one pending wait, not a thousand timers racing for
 * each token. With a limiter on a shared store (a `RedisStore`), every process draws on one budget.
 */
export class RateGate {
  readonly #limiter: Limiter
  readonly #now: () => number
  readonly #keys = new Map<string, { waiting: WaitList<Decision>; pumping: boolean }>()

  constructor(limiter: Limiter, now: () => number) {
    this.#limiter = limiter
    this.#now = now
  }

  admit(key: string, cost: number, deadline: number, signal: AbortSignal | undefined): Promise<Decision> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    let entry = this.#keys.get(key)
    if (entry === undefined) {
      entry = { waiting: new WaitList<Decision>(), pumping: false }
      this.#keys.set(key, entry)
    }
    const promise = entry.waiting.add(this.#now(), deadline, signal, cost)
    void this.#pump(key, entry)
    return promise
  }

  async #pump(key: string, entry: { waiting: WaitList<Decision>; pumping: boolean }): Promise<void> {
    if (entry.pumping) return
    entry.pumping = true
    const list = entry.waiting
    try {
      for (;;) {
        list.expire(this.#now())
        const head = list.items[0]
        if (head === undefined) break
        const budget = head.deadline - this.#now()
        try {
          const decision = await this.#limiter.wait(key, { cost: head.cost, signal: head.signal, maxWaitMs: Math.max(0, budget) })
          list.settle(head, true, decision)
        } catch (error) {
          list.settle(head, false, error)
        }
        const i = list.items.indexOf(head)
        if (i >= 0) list.items.splice(i, 1)
      }
    } finally {
      entry.pumping = false
      if (list.items.length === 0) this.#keys.delete(key)
    }
  }
}
