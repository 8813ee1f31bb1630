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
  once(event: 'finish' | 'close', listener: () => void): unknown
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
 * Calls `finish` once, when a Node response has been sent (`aborted: false`) or its connection
 * closed before that (`aborted: true`), with its headers (read from `headers`, the response by
 * default) and the cost its handler reported with `setActualCost`.
 */
export function onFinished(res: NodeResponseLike, finish: (result: HttpFinish) => void, headers: ResponseHeaderSource = res): void {
  let done = false
  const report = (aborted: boolean) => {
    if (done) return
    done = true
    finish({ status: res.statusCode, aborted, headers: new ResponseHeaderReader(headers), reportedCost: reportedActualCost(res) })
  }
  // Both: some responses (light-my-request's) never emit 'close'.
  res.once('finish', () => report(false))
  res.once('close', () => report(!res.writableFinished))
}
