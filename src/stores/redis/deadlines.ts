import { afterPendingIo } from '../../limiter/deadline.js'

/** A call waiting for Redis, settled by its reply or, at `expires`, by the deadline. */
export interface Deadlined {
  /** `performance.now()` after which the call fails. */
  readonly expires: number
  /** Set once the call has settled either way. */
  done: boolean
}

/**
 * The pending calls of one store, oldest first. Every call has the same timeout, so deadlines
 * come in the order calls were made and one timer, armed for the oldest, serves them all
 * (no timer per call on the hot path).
 */
export class DeadlineQueue<T extends Deadlined> {
  #items: T[] = []
  #head = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  /** When the armed timer is due (`performance.now()` ms): one that fires later came through a stall. */
  #due = 0
  /** Fails a call whose deadline passed (called with `done` already set). */
  readonly #expire: (item: T) => void

  constructor(expire: (item: T) => void) {
    this.#expire = expire
  }

  /** Calls not yet settled or dropped (for tests). */
  get size(): number {
    return this.#items.length - this.#head
  }

  /** Visits the calls not settled yet, oldest first (`visit` must not settle them). */
  forEachPending(visit: (item: T) => void): void {
    const items = this.#items
    for (let i = this.#head; i < items.length; i++) if (!items[i].done) visit(items[i])
  }

  add(item: T): void {
    this.#items.push(item)
    if (this.#timer === undefined) this.#arm(item.expires)
  }

  /** Marks a call settled and drops settled calls from the front. */
  settle(item: T): void {
    item.done = true
    const items = this.#items
    let head = this.#head
    while (head < items.length && items[head].done) head++
    if (head === items.length) {
      items.length = 0
      head = 0
    } else if (head > 1024 && head * 2 > items.length) {
      items.splice(0, head)
      head = 0
    }
    this.#head = head
  }

  #arm(expires: number): void {
    const now = performance.now()
    const delay = Math.max(0, Math.ceil(expires - now))
    this.#due = now + delay
    this.#timer = setTimeout(this.#fire, delay)
    // A pending Redis call keeps the process alive through its socket, not through this timer.
    this.#timer.unref()
  }

  #fire = (): void => {
    // Past the poll phase when late, so that replies that came in during a stall settle their calls
    // first (see afterPendingIo); the timer stays marked armed meanwhile, so that add() arms no other.
    afterPendingIo(this.#due, this.#expireDue)
  }

  #expireDue = (): void => {
    this.#timer = undefined
    const items = this.#items
    // Timers may fire a fraction of a millisecond before performance.now() reaches the deadline.
    const now = performance.now() + 1
    let head = this.#head
    while (head < items.length) {
      const item = items[head]
      if (!item.done) {
        if (item.expires > now) break
        item.done = true
        this.#expire(item)
      }
      head++
    }
    if (head === items.length) {
      items.length = 0
      head = 0
    }
    this.#head = head
    if (head < items.length) this.#arm(items[head].expires)
  }
}
