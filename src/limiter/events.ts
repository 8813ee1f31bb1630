import type { Decision } from './decision.js'
import { invalid, RateKeeperError, withoutPasswords } from './errors.js'
import type { StoreEventHub, WarnInfo } from './store-events.js'
import type { LimiterEventName, LimiterEvents, Logger, StoreErrorMode } from './types.js'

/** How long a store must go without failing before an outage is declared over, ms. */
const RECOVERY_QUIET_MS = 1000

/** Every event a limiter emits; the compiler keeps it complete. */
const EVENTS: { readonly [E in LimiterEventName]: true } = {
  decision: true,
  limited: true,
  'shadow-limited': true,
  'near-limit': true,
  'store-error': true,
  evicted: true,
  warn: true,
  'store-call': true,
  'store-measure': true,
  released: true,
  listed: true,
}

/** A limiter's event listeners. `any` keeps the hot path free of lookups when nobody listens. */
export class LimiterEmitter {
  readonly #listeners = new Map<LimiterEventName, Array<(payload: never) => void>>()
  /** Someone listens for some event. */
  any = false
  /** Where a listener's throw is reported (the limiter's `warn`, set by its StoreHealth); a process warning without it. */
  report: ((info: WarnInfo) => void) | undefined
  /** Events whose listeners' throws were reported: once each, not a line per request. */
  readonly #threw = new Set<LimiterEventName>()

  on<E extends LimiterEventName>(event: E, listener: (payload: LimiterEvents[E]) => void): () => void {
    // A misspelled event would be listened to in silence, and never heard.
    if (typeof event !== 'string' || !Object.hasOwn(EVENTS, event))
      invalid('limiter.on()', 'event', `must be one of ${Object.keys(EVENTS).join(', ')}`, event)
    let list = this.#listeners.get(event)
    if (list === undefined) {
      list = []
      this.#listeners.set(event, list)
    }
    list.push(listener as (payload: never) => void)
    this.any = true
    return () => {
      const current = this.#listeners.get(event)
      if (current === undefined) return
      const i = current.indexOf(listener as (payload: never) => void)
      if (i >= 0) current.splice(i, 1)
      if (current.length === 0) this.#listeners.delete(event)
      this.any = this.#listeners.size > 0
    }
  }

  has(event: LimiterEventName): boolean {
    return this.#listeners.has(event)
  }

  emit<E extends LimiterEventName>(event: E, payload: LimiterEvents[E]): void {
    const list = this.#listeners.get(event)
    if (list === undefined) return
    for (const listener of list.slice()) {
      try {
        const result: unknown = (listener as (p: LimiterEvents[E]) => unknown)(payload)
        // An async listener's rejection is its throw: left alone, it would be an unhandled rejection.
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function')
          (result as PromiseLike<unknown>).then(undefined, (error: unknown) => this.#listenerThrew(event, error))
      } catch (error) {
        // A listener's bug must not fail the request it observes.
        this.#listenerThrew(event, error)
      }
    }
  }

  #listenerThrew(event: LimiterEventName, error: unknown): void {
    if (this.#threw.has(event)) return
    this.#threw.add(event)
    const info = {
      code: 'RK_LISTENER_THREW',
      message: `ratekeeper: a '${event}' listener threw: ${withoutPasswords(String(error))} (said once)`,
    }
    // A 'warn' listener's throw is not reported through 'warn' again.
    if (event === 'warn' || this.report === undefined) process.emitWarning(info.message, { code: info.code })
    else this.report(info)
  }

  /** The events of a `consume` decision (`nearLimit`: the limiter's option). */
  announce(decision: Decision, nearLimit: number | undefined): void {
    this.emit('decision', decision)
    if (!decision.allowed) this.emit('limited', decision)
    else if (nearLimit !== undefined && decision.remaining <= nearLimit && decision.limit > 0) this.emit('near-limit', decision)
    // Read only when listened to: a decision works its shadow verdicts out when asked.
    if (this.#listeners.has('shadow-limited') && (decision.shadowViolated?.length ?? 0) > 0) this.emit('shadow-limited', decision)
  }
}

/** What {@link StoreHealth} reports through. */
export interface StoreHealthOptions {
  readonly emitter: LimiterEmitter
  readonly logger: Logger | undefined
  /** The hub of the limiter's store: prints what neither a listener nor the logger took. */
  readonly hub: StoreEventHub
  readonly now: () => number
  readonly onStoreError: StoreErrorMode
}

/**
 * A limiter's log lines about its store (see docs/architecture.md): the first failure of an
 * outage, its end after a quiet spell, and store warnings once per code and outage. Each is a
 * `warn` event, goes to the `logger` when given, and otherwise, when nobody listens for `warn`,
 * to `process.emitWarning` (once per store, however many limiters share it).
 */
export class StoreHealth {
  /** The store is failing: said once, at the first failure of an outage. The fast path reads only this. */
  failing = false
  /** When the store last failed (the limiter's clock): an outage ends only after a quiet spell. */
  #lastFailureAt = Number.NEGATIVE_INFINITY
  /** Codes already sent to the logger in this outage. */
  readonly #logged = new Set<string>()
  readonly #o: StoreHealthOptions

  constructor(options: StoreHealthOptions) {
    this.#o = options
    options.emitter.report = (info) => this.warn(info)
  }

  /** Hands a store warning to the `warn` listeners and the logger (once per code and outage); true when either took it. */
  hear(warning: WarnInfo): boolean {
    const info = masked(warning)
    const { emitter, logger } = this.#o
    const listened = emitter.has('warn')
    emitter.emit('warn', info)
    if (logger === undefined) return listened
    if (!this.#logged.has(info.code)) {
      this.#logged.add(info.code)
      this.#log('warn', info.message)
    }
    return true
  }

  /** A warning for the limiter's listeners and logger, printed when neither takes it. */
  warn(info: WarnInfo): void {
    if (!this.hear(info)) this.#o.hub.print(masked(info))
  }

  /** A store call failed: the first failure of an outage says so, naming what `onStoreError` now does. */
  outage(error: unknown): void {
    this.#lastFailureAt = this.#o.now()
    if (this.failing) return
    this.failing = true
    const mode = this.#o.onStoreError
    const consequence =
      mode === 'allow'
        ? "onStoreError 'allow': requests are admitted without limits"
        : mode === 'deny'
          ? "onStoreError 'deny': requests are denied"
          : "onStoreError 'fallback': requests are decided by the local fallback store"
    this.#say(true, 'RK_STORE_OUTAGE', `the store failed (${failureText(error)}); until it answers again, ${consequence}`)
  }

  /**
   * A success during an outage ends it only when the store has not failed for
   * RECOVERY_QUIET_MS: a store that fails some calls and answers others (a Redis Cluster with one
   * master down, a flapping link) is one outage, not a line per request.
   */
  calm(): void {
    if (this.#o.now() - this.#lastFailureAt < RECOVERY_QUIET_MS) return
    this.failing = false
    this.#logged.clear()
    this.#o.hub.recovered()
    this.#say(false, 'RK_STORE_RECOVERED', 'the store answers again; requests are limited by it again')
  }

  /**
   * An outage line (`down`) or its end: the `warn` event, and the logger or, with neither, the
   * process (once per outage for the store, however many limiters share it).
   */
  #say(down: boolean, code: string, message: string): void {
    const { emitter, logger, hub } = this.#o
    const listened = emitter.has('warn')
    emitter.emit('warn', { code, message })
    if (logger !== undefined) this.#log(down ? 'warn' : 'info', message)
    else if (!listened) hub.printOutage({ code, message: `ratekeeper: ${message}` }, down)
  }

  #log(level: 'warn' | 'info', message: string): void {
    const logger = this.#o.logger
    if (logger === undefined) return
    try {
      if (level === 'info' && logger.info !== undefined) logger.info(`ratekeeper: ${message}`)
      else logger.warn(`ratekeeper: ${message}`)
    } catch {
      // A logger's bug must not fail the request it reports on.
    }
  }
}

/**
 * `info` with the password of any URL or connection string in its message masked: a warning may
 * quote the error of a store, a hook or a listener, and goes to logs.
 */
function masked(info: WarnInfo): WarnInfo {
  const message = withoutPasswords(info.message)
  return message === info.message ? info : { code: info.code, message }
}

/**
 * A short, single-line account of a failure for a log line, without the password of any
 * connection string or URL it quotes (a driver's or fetch's message may name one).
 */
function failureText(error: unknown): string {
  const code = error instanceof RateKeeperError ? error.code : undefined
  const message = withoutPasswords(error instanceof Error ? error.message : String(error))
  const text = message.length > 200 ? `${message.slice(0, 197)}...` : message
  return (code === undefined ? text : `${code}: ${text}`).replace(/\s+/g, ' ')
}
