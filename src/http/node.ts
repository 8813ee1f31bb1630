// Node helpers shared by the adapters of Node frameworks (Express, Koa, Fastify).
import { reportedActualCost } from './actual-cost.js'
import type { HttpFinish } from './count-mode.js'
import type { HeaderReader, HttpOutcome } from './request.js'

/** Reads Node's `IncomingHttpHeaders` (lower-case names; arrays joined). */
export class NodeHeaderReader implements HeaderReader {
  readonly #headers: Record<string, string | string[] | undefined>
  constructor(headers: Record<string, string | string[] | undefined>) {
    this.#headers = headers
  }
  get(name: string): string | undefined {
    const value = this.#headers[name.toLowerCase()]
    return Array.isArray(value) ? value.join(', ') : value
  }
}

/** The part of Node's `ServerResponse` {@link onFinished} uses. */
export interface NodeResponseLike {
  readonly statusCode: number
  readonly writableFinished: boolean
  readonly writableEnded: boolean
  readonly headersSent: boolean
  /** True once the connection closed (Node sets it before emitting 'close'). */
  readonly destroyed: boolean
  on(event: 'finish' | 'close', listener: () => void): unknown
  getHeader(name: string): unknown
}

/** What response headers are read from: Node's response, or a framework's reply keeping its own (Fastify). */
export interface ResponseHeaderSource {
  getHeader(name: string): unknown
}

/** Reads the headers of a response as sent. */
class ResponseHeaderReader {
  readonly #source: ResponseHeaderSource
  constructor(source: ResponseHeaderSource) {
    this.#source = source
  }
  get(name: string): string | undefined {
    const value = this.#source.getHeader(name)
    if (value === undefined || value === null) return undefined
    return Array.isArray(value) ? value.join(', ') : String(value)
  }
}

/**
 * How an adapter learns that the handler of a hung-up request is done. Installed at the hang-up,
 * only when the handler had not started its response (a response under way is the handler's
 * answer: a hang-up ends it); `done` is to be called when the handler ends.
 */
export type HandlerEndWatch<Owner> = (owner: Owner, res: NodeResponseLike, done: () => void) => void

/** What {@link onFinished} returns: `ended()`, for an adapter that says itself when the handler is done (Koa). */
export interface FinishWatch {
  /** The handler is done: a hang-up waiting for it is reported now. */
  ended(): void
}

/**
 * One limiter's watch on one response, and the {@link HttpFinish} it reports: one object per
 * request, which its two listeners call, instead of a closure per step and a result per report.
 */
class ResponseWatch implements HttpFinish, FinishWatch {
  status = 0
  aborted = false
  reportedCost: number | undefined = undefined
  #reported = false
  #handlerEnded = false
  #waiting = false
  readonly #res: NodeResponseLike
  readonly #finish: (result: HttpFinish) => void
  readonly #owner: ResponseHeaderSource
  readonly #watch: HandlerEndWatch<ResponseHeaderSource> | undefined

  constructor(
    res: NodeResponseLike,
    finish: (result: HttpFinish) => void,
    owner: ResponseHeaderSource,
    watch: HandlerEndWatch<ResponseHeaderSource> | undefined,
  ) {
    this.#res = res
    this.#finish = finish
    this.#owner = owner
    this.#watch = watch
  }

  /** The response's headers as sent (read when asked: most finishes never do). */
  get headers(): ResponseHeaderReader {
    return new ResponseHeaderReader(this.#owner)
  }

  ended(): void {
    if (this.#handlerEnded) return
    this.#handlerEnded = true
    if (!this.#waiting) return
    this.#waiting = false
    this.#report(true)
  }

  /** The response's `finish`. */
  finished(): void {
    if (this.#reported) return
    this.#reported = true
    this.#report(false)
  }

  /** The response's `close`. */
  closed(): void {
    if (this.#reported) return
    this.#reported = true
    const res = this.#res
    if (res.writableFinished) this.#report(false)
    else if (this.#handlerEnded || res.headersSent || res.writableEnded) this.#report(true)
    else {
      this.#waiting = true
      this.#watch?.(this.#owner, res, () => this.ended())
    }
  }

  #report(aborted: boolean): void {
    this.status = this.#res.statusCode
    this.aborted = aborted
    this.reportedCost = reportedActualCost(this.#res)
    this.#finish(this)
  }
}

/**
 * Calls `finish` once, when a Node response has been sent (`aborted: false`) or its connection
 * closed before that (`aborted: true`), with its headers (read from `owner`: the response, or a
 * framework's reply keeping its own) and the cost its handler reported with `setActualCost`.
 *
 * A hang-up before the handler started its response is reported once the handler is done as
 * well: a concurrency slot bounds the work a client has running, and hanging up does not stop a
 * handler. The adapter says when with `watch` (installed at the hang-up), or by calling `ended()`
 * on what is returned (Koa: its middleware chain settled). A handler that never ends holds the slot
 * until its lease expires (`leaseMs`).
 */
export function onFinished<Owner extends ResponseHeaderSource>(
  res: NodeResponseLike,
  finish: (result: HttpFinish) => void,
  owner: Owner,
  watch?: HandlerEndWatch<Owner>,
): FinishWatch {
  // The watch is only ever called with this owner.
  const w = new ResponseWatch(res, finish, owner, watch as HandlerEndWatch<ResponseHeaderSource> | undefined)
  // Both: some responses (light-my-request's) never emit 'close'. `on`, not `once`: each event is
  // reported once anyway, and `once` wraps every listener in a bound function per request. Not a
  // listener shared by every response finding its watch on it: a property added to a response
  // (Express's, with its prototype swapped) turned it into a slow dictionary-mode object.
  res.on('finish', () => w.finished())
  res.on('close', () => w.closed())
  // Closed while the limiter was deciding (an async key function or store): its 'close' was emitted
  // before this listener, and will not be again. Reported as that 'close' would have been: a
  // hang-up, or a response another middleware finished meanwhile (a request timeout).
  if (res.destroyed) w.closed()
  return w
}

/**
 * Calls `done` at the next call of `target[method]` (then the method is as it was): how a
 * {@link HandlerEndWatch} sees a handler answer on a closed response.
 */
export function onNextCall(target: object, method: string, done: () => void): void {
  const holder = target as Record<string, unknown>
  const own = Object.hasOwn(holder, method)
  const original = holder[method] as (...args: unknown[]) => unknown
  holder[method] = function calledAfterHangUp(this: unknown, ...args: unknown[]): unknown {
    if (own) holder[method] = original
    else delete holder[method]
    done()
    return original.apply(this, args)
  }
}

/**
 * A {@link HandlerEndWatch} for handlers that end their response with `res.end` (Express: `send`,
 * `json`, the error handler all do; Fastify too when it writes a handler's answer): the end is
 * called on the closed response, and that call is the sign.
 */
export function whenResponseEnds(_owner: unknown, res: NodeResponseLike, done: () => void): void {
  onNextCall(res, 'end', done)
}

/**
 * A {@link HandlerEndWatch} for a framework's reply with a `send` (Fastify): the handler is done
 * when it (or the framework, with what an async handler returned or threw) sends the reply, or
 * when the framework writes an answer sent just before the hang-up (`res.end`).
 */
export function whenSentOrEnded(owner: object, res: NodeResponseLike, done: () => void): void {
  onNextCall(owner, 'send', done)
  onNextCall(res, 'end', done)
}

/** Code of the warning given when a response's headers were sent before the limiter ran. */
export const HEADERS_ALREADY_SENT = 'RK_HEADERS_ALREADY_SENT'

/** The part of Node's `ServerResponse` {@link setOutcomeHeaders} uses. */
export interface NodeHeaderTarget {
  readonly headersSent: boolean
  readonly writableEnded: boolean
  setHeader(name: string, value: string): unknown
  removeHeader(name: string): void
  destroy(): unknown
}

/**
 * Puts an outcome's headers on a Node response; returns whether the adapter goes on with the
 * outcome. A response whose headers were sent before the limiter ran (a middleware mounted
 * earlier called `res.flushHeaders()` or `res.write`) can take none, nor a status: its headers
 * are left out and `warn` reports it (not for a response already ended, answered by a request
 * timeout while the limiter decided), never an error thrown into the app. Admitted, the request
 * goes on (true); refused, its connection is closed (false): an ended response would pass for the
 * success its headers announced. Call it after the response is watched (see {@link onFinished}).
 */
export function setOutcomeHeaders(outcome: HttpOutcome, res: NodeHeaderTarget, warn: (code: string, message: string) => void): boolean {
  if (res.headersSent) {
    // Answered already (a request timeout mounted before the limiter): nothing is missing from it.
    const answered = res.writableEnded
    if (!answered) {
      warn(
        HEADERS_ALREADY_SENT,
        "ratekeeper: a response's headers were sent before the rate limiter ran, so its rate-limit headers (and the status of a refusal, whose connection is closed instead) are left out: mount the limiter before any middleware that writes to the response.",
      )
    }
    if (outcome.action === 'next') return true
    if (!answered) res.destroy()
    return false
  }
  const remove = outcome.remove
  if (remove !== undefined) for (let i = 0; i < remove.length; i++) res.removeHeader(remove[i])
  const headers = outcome.headers
  for (const name in headers) res.setHeader(name, headers[name])
  return true
}
