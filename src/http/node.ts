// Node helpers shared by the adapters of Node frameworks (Express, Koa, Fastify).
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
}

/**
 * Calls `finish` once, when a Node response has been sent (`aborted: false`) or its connection
 * closed before that (`aborted: true`).
 */
export function onFinished(res: NodeResponseLike, finish: (result: HttpFinish) => void): void {
  let done = false
  const report = (aborted: boolean) => {
    if (done) return
    done = true
    finish({ status: res.statusCode, aborted })
  }
  res.once('finish', () => report(false))
  res.once('close', () => report(!res.writableFinished))
}
