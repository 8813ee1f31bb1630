import type { Call } from './batcher.js'

/** Client states in which the first connection is still being made: calls wait for it. */
const CONNECTING = new Set(['wait', 'connecting', 'connect'])

/** Waiting calls are swept of expired ones once this many wait, so a client that never connects can't grow the list. */
const SWEEP_AT = 1024

/**
 * Calls made while the client makes its first connection: they wait for it (within their
 * deadline) and go when it is ready, rather than bypass Redis or fail at once. Once a connection
 * attempt has failed, calls fail fast again until the client is ready.
 */
export class ConnectionWait {
  /** A connection attempt failed since the client was last ready: calls fail fast, they don't wait. */
  #failed = false
  #calls: Call[] = []

  /** A call made with the client in `status` (not `'ready'`) waits for the connection. */
  waits(status: string): boolean {
    return !this.#failed && CONNECTING.has(status)
  }

  add(call: Call): void {
    if (this.#calls.length >= SWEEP_AT) this.#calls = this.#calls.filter((c) => !c.done)
    this.#calls.push(call)
  }

  /** A connection attempt failed: the calls that waited for it (some may have settled meanwhile). */
  failed(): Call[] {
    this.#failed = true
    return this.#take()
  }

  /** The client is ready: the calls that waited for it (some may have settled meanwhile). */
  ready(): Call[] {
    this.#failed = false
    return this.#take()
  }

  #take(): Call[] {
    const calls = this.#calls
    this.#calls = []
    return calls
  }
}
