import { Batch, type Member } from './batch.js'

/** Most calls one batch carries. */
const MAX_BATCH = 128
/**
 * Most distinct keys one database call carries (one advisory lock each): PostgreSQL's shared lock
 * table holds `max_locks_per_transaction` (64 by default) per connection, so calls within it can't
 * fill the table whatever the number of connections.
 */
const MAX_KEYS = 64

/** The shortest queue that is pruned (amortised: a pruned queue grows to twice its size first). */
const MIN_PRUNE = 1024

/**
 * The calls of one store waiting for the database, sent as batches: up to `maxCalls` database
 * calls at once (the pool's size), each carrying the calls that queued meanwhile (up to
 * `MAX_BATCH` calls and `MAX_KEYS` keys; a call with more keys goes alone). A call waits while an
 * earlier call on one of its keys is queued or in flight, so this process never races itself on a
 * key and the calls on a key are decided in the order they were made. Calls made in the same tick are queued together (the dispatch runs in a microtask).
 */
export class Dispatcher {
  #queue: Member[] = []
  /** Queue length at which the calls settled meanwhile (timed out) are dropped from it. */
  #pruneAt = MIN_PRUNE
  /** Keys of the batches in flight, and the batch that holds each. */
  readonly #busy = new Map<string, Batch>()
  #calls = 0
  #scheduled = false
  readonly #maxCalls: number
  /** With the caller's clock, one batch holds calls made at one time only. */
  readonly #sameNow: boolean
  /** Decides a batch; settles every member, never rejects. */
  readonly #send: (batch: Batch, now: number) => Promise<void>

  constructor(options: { maxCalls: number; sameNow: boolean; send: (batch: Batch, now: number) => Promise<void> }) {
    this.#maxCalls = options.maxCalls
    this.#sameNow = options.sameNow
    this.#send = options.send
  }

  enqueue(member: Member): void {
    this.#queue.push(member)
    // While every database call is taken (a database that doesn't answer), the queue is not
    // dispatched, and calls that time out in it would stay: dropped once it doubles.
    if (this.#queue.length >= this.#pruneAt) {
      this.#queue = this.#queue.filter((m) => !m.done)
      this.#pruneAt = Math.max(MIN_PRUNE, 2 * this.#queue.length)
    }
    this.#schedule()
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    queueMicrotask(this.#dispatch)
  }

  #dispatch = (): void => {
    this.#scheduled = false
    while (this.#calls < this.#maxCalls && this.#queue.length > 0) {
      const batch = new Batch()
      // Keys of calls left waiting: a later call on one of them waits too (order per key).
      const waiting = new Set<string>()
      const rest: Member[] = []
      let now: number | undefined
      for (const member of this.#queue) {
        if (member.done) continue
        const blocked = member.keys.some((key) => this.#busy.has(key) || waiting.has(key))
        const fits =
          (batch.members.length === 0 || (batch.members.length < MAX_BATCH && batch.keys.length + batch.newKeys(member) <= MAX_KEYS)) &&
          (!this.#sameNow || now === undefined || member.now === now)
        if (blocked || !fits) {
          rest.push(member)
          for (const key of member.keys) waiting.add(key)
          continue
        }
        batch.add(member)
        now ??= member.now
      }
      this.#queue = rest
      if (now === undefined) return
      for (const key of batch.keys) this.#busy.set(key, batch)
      for (const member of batch.members) member.batch = batch
      this.#calls++
      void this.#send(batch, now).finally(() => {
        this.#free(batch)
        this.#calls--
        if (this.#queue.length > 0) this.#schedule()
      })
    }
  }

  /**
   * A member was told it timed out. Once all of its batch's were, the batch's keys are free
   * although its call may still be unanswered (a reply lost on the way back waits for pg's
   * `query_timeout`): nobody waits for it, and the next call on those keys goes over another
   * connection. The database's compare-and-set still orders the two calls: the later one finds
   * the states the earlier wrote, if it wrote.
   */
  expired(member: Member): void {
    const batch = member.batch
    if (batch === undefined || !batch.members.every((m) => m.done)) return
    this.#free(batch)
    if (this.#queue.length > 0) this.#schedule()
  }

  #free(batch: Batch): void {
    for (const key of batch.keys) if (this.#busy.get(key) === batch) this.#busy.delete(key)
  }
}
