import { invalid, withoutPasswords } from '../limiter/errors.js'
import type { RateLimitInfo } from './rate-limit-info.js'

/** Payload of the `response` event: every response, with what its headers said. */
export interface ClientResponseEvent {
  readonly method: string
  readonly url: string
  readonly key: string
  /** 1 for the first request of a call, 2 for its first retry… */
  readonly attempt: number
  readonly status: number
  readonly rateLimit: RateLimitInfo
}

/** Payload of the `retry` event, emitted before the client sleeps and retries. */
export interface ClientRetryEvent {
  readonly method: string
  readonly url: string
  readonly key: string
  /** The retry about to happen: 1 for the first. */
  readonly retry: number
  readonly status: number
  /** How long the client will wait, ms: the larger of the server's wait and the jittered backoff. */
  readonly delayMs: number
  /** The server's wait: `Retry-After`, or the time to the reset when nothing remains, the later of the two when within rounding (see serverWaitMs). */
  readonly serverWaitMs: number | undefined
}

/** Payload of the `wait` event, emitted before the client holds a request back for pacing. */
export interface ClientWaitEvent {
  readonly method: string
  readonly url: string
  readonly key: string
  readonly delayMs: number
  /** `'retry-after'`: a 429 told the budget to wait; `'exhausted'`: the remaining quota reached the threshold. */
  readonly cause: 'retry-after' | 'exhausted'
}

/** Events of a client, and their payloads. */
export interface ClientEvents {
  response: ClientResponseEvent
  retry: ClientRetryEvent
  wait: ClientWaitEvent
}

/** The name of an event of the client (`client.on(name, listener)`): 'response', 'retry' or 'wait'. */
export type ClientEventName = keyof ClientEvents

/** Every event name; the compiler keeps it complete. */
const EVENTS: { readonly [E in ClientEventName]: true } = { response: true, retry: true, wait: true }

/**
 * The listeners of one client. A listener that throws (or an async one that rejects) is reported
 * with `process.emitWarning`, once per event, never thrown into the call.
 */
export class ClientEmitter {
  readonly #listeners = new Map<ClientEventName, Array<(payload: never) => void>>()
  /** Events whose listeners' throws were reported: once each, not a line per call. */
  readonly #threw = new Set<ClientEventName>()

  emit<E extends ClientEventName>(event: E, payload: ClientEvents[E]): void {
    const list = this.#listeners.get(event)
    if (list === undefined) return
    for (const listener of list.slice()) {
      try {
        const result: unknown = (listener as (p: ClientEvents[E]) => unknown)(payload)
        // An async listener's rejection is its throw: left alone, it would be an unhandled rejection.
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function')
          (result as PromiseLike<unknown>).then(undefined, (error: unknown) => this.#listenerThrew(event, error))
      } catch (error) {
        this.#listenerThrew(event, error)
      }
    }
  }

  #listenerThrew(event: ClientEventName, error: unknown): void {
    if (this.#threw.has(event)) return
    this.#threw.add(event)
    process.emitWarning(`ratekeeper: a client '${event}' listener threw: ${withoutPasswords(String(error))} (said once)`, {
      code: 'RK_LISTENER_THREW',
    })
  }

  on<E extends ClientEventName>(event: E, listener: (payload: ClientEvents[E]) => void): () => void {
    if (typeof event !== 'string' || !Object.hasOwn(EVENTS, event))
      invalid('client.on()', 'event', "must be 'response', 'retry' or 'wait'", event)
    if (typeof listener !== 'function') invalid('client.on()', 'listener', 'must be a function', listener)
    let list = this.#listeners.get(event)
    if (list === undefined) {
      list = []
      this.#listeners.set(event, list)
    }
    const fn = listener as (payload: never) => void
    list.push(fn)
    return () => {
      const current = this.#listeners.get(event)
      if (current === undefined) return
      const i = current.indexOf(fn)
      if (i >= 0) current.splice(i, 1)
      if (current.length === 0) this.#listeners.delete(event)
    }
  }
}
