// Fetch API helpers shared by the adapters of Fetch runtimes: the counterpart of node.ts.
import type { HeaderReader, HttpOutcome } from './request.js'

/** Reads a Fetch `Headers` (case-insensitive; several values joined with `, `). */
export class FetchHeaderReader implements HeaderReader {
  readonly #headers: Headers
  constructor(headers: Headers) {
    this.#headers = headers
  }
  get(name: string): string | undefined {
    return this.#headers.get(name) ?? undefined
  }
}

/** The response of an outcome that answers the request itself (a 429, or a 503 on a store failure). */
export function outcomeResponse(outcome: HttpOutcome): Response {
  const headers = new Headers(outcome.headers)
  if (outcome.contentType !== undefined) headers.set('Content-Type', outcome.contentType)
  return new Response(outcome.body ?? '', { status: outcome.status, headers })
}

/** Returns `response` with `headers` added (copying it first when its headers are immutable). */
export function withHeaders(response: Response, headers: Readonly<Record<string, string>>): Response {
  let names = false
  for (const _ in headers) {
    names = true
    break
  }
  if (!names) return response
  try {
    for (const name in headers) response.headers.set(name, headers[name])
    return response
  } catch {
    const copy = new Response(response.body, response)
    for (const name in headers) copy.headers.set(name, headers[name])
    return copy
  }
}
