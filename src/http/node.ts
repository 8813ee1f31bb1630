// Node helpers shared by the adapters of Node frameworks (Express, Koa, Fastify).
import { reportedActualCost } from './actual-cost.js'
import type { HttpFinish } from './count-mode.js'
import type { HeaderReader } from './request.js'

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

/**
 * Calls `finish` once, when a Node response has been sent (`aborted: false`) or its connection
 * closed before that (`aborted: true`), with its headers (read from `owner`: the response, or a
 * framework's reply keeping its own) and the cost its handler reported with `setActualCost`.
 *
 * A hang-up before the handler started its response is reported once the handler is done as
 * well: a concurrency slot bounds the work a client has running, and hanging up does not stop a
 * handler. The adapter says when with `watch` (installed at the hang-up), or by calling the
 * function returned (Koa: its middleware chain settled). A handler that never ends holds the slot
 * until its lease expires (`leaseMs`).
 */
export function onFinished<Owner extends ResponseHeaderSource>(
  res: NodeResponseLike,
  finish: (result: HttpFinish) => void,
  owner: Owner,
  watch?: HandlerEndWatch<Owner>,
): () => void {
  let reported = false
  let handlerEnded = false
  let waiting = false
  const report = (aborted: boolean): void => {
    finish({ status: res.statusCode, aborted, headers: new ResponseHeaderReader(owner), reportedCost: reportedActualCost(res) })
  }
  const ended = (): void => {
    if (handlerEnded) return
    handlerEnded = true
    if (!waiting) return
    waiting = false
    report(true)
  }
  // Both: some responses (light-my-request's) never emit 'close'. `on`, not `once`: each listener
  // runs once anyway (`reported`), and `once` wraps every listener in a bound function per request.
  res.on('finish', () => {
    if (reported) return
    reported = true
    report(false)
  })
  res.on('close', () => {
    if (reported) return
    reported = true
    if (res.writableFinished) report(false)
    else if (handlerEnded || res.headersSent || res.writableEnded) report(true)
    else {
      waiting = true
      watch?.(owner, res, ended)
    }
  })
  return ended
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
