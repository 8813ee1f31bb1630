// Fetch API helpers shared by the adapters of Fetch runtimes: the counterpart of node.ts.
import { reportedActualCost } from './actual-cost.js'
import type { HttpFinish } from './count-mode.js'
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

/**
 * Returns `response` with `headers` added: set in place, or on a copy when its headers are
 * immutable or it has no body (but for a WebSocket upgrade). A response without a body can be sent any number of times, so a
 * handler may keep one and answer every request with it: set in place, each client would get the
 * figures of whichever request wrote last. One with a body can be sent once: it is its request's.
 */
export function withHeaders(response: Response, headers: Readonly<Record<string, string>>): Response {
  let names = false
  for (const _ in headers) {
    names = true
    break
  }
  if (!names) return response
  // A network error (`Response.error()`, status 0) carries no headers, and no copy of it can be made.
  if (response.type === 'error') return response
  // Not a 101 (a WebSocket upgrade, tied to the runtime's socket): a copy would lose it, and a
  // Response can't be made with that status.
  if (response.body === null && response.status >= 200) {
    const copy = new Response(null, response)
    for (const name in headers) copy.headers.set(name, headers[name])
    return copy
  }
  try {
    for (const name in headers) response.headers.set(name, headers[name])
    return response
  } catch {
    // Immutable headers (a `fetch()` passthrough, `Response.redirect()`): a copy, unless its status can't be made (a 1xx).
    if (response.status < 200) return response
    const copy = new Response(response.body, response)
    for (const name in headers) copy.headers.set(name, headers[name])
    return copy
  }
}

/**
 * Calls `end` once, when the body of `response` has been read to its end (`aborted: false`), or
 * failed or was cancelled — the client hung up — (`aborted: true`); at once for a response
 * without a body, or one that has no body to send (`HEAD`). Returns the response to send: a copy
 * whose body is watched (the original body can be read only once). Nothing is awaited for the
 * watching: chunks pass through as they come.
 */
export function onBodyEnd(response: Response, head: boolean, end: (aborted: boolean) => void): Response {
  const body = response.body
  if (body === null || head || body.locked) {
    end(false)
    return response
  }
  const reader = body.getReader()
  let done = false
  const once = (aborted: boolean): void => {
    if (done) return
    done = true
    end(aborted)
  }
  const watched = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>
        try {
          chunk = await reader.read()
        } catch (error) {
          once(true)
          controller.error(error)
          return
        }
        if (chunk.done) {
          controller.close()
          once(false)
          return
        }
        controller.enqueue(chunk.value)
      },
      cancel(reason) {
        once(true)
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
  return new Response(watched, { status: response.status, statusText: response.statusText, headers: response.headers })
}

type Dict = Record<string, unknown>
const isObject = (v: unknown): v is Dict => typeof v === 'object' && v !== null

/** The client address from a runtime's connection info, never from headers. */
export function connectionAddress(env: unknown, request: Request): string | undefined {
  if (!isObject(env)) return undefined
  // @hono/node-server: env.incoming is Node's IncomingMessage.
  const incoming = env.incoming
  if (isObject(incoming) && isObject(incoming.socket) && typeof incoming.socket.remoteAddress === 'string')
    return incoming.socket.remoteAddress
  // Bun: the server passed as the second fetch argument.
  if (typeof env.requestIP === 'function') {
    const addr: unknown = (env.requestIP as (r: Request) => unknown)(request)
    if (isObject(addr) && typeof addr.address === 'string') return addr.address
  }
  // Deno.serve: the handler info.
  const remote = env.remoteAddr
  if (isObject(remote) && typeof remote.hostname === 'string') return remote.hostname
  return undefined
}

/** The answer when a key, cost, skip or plan function fails (plain mode, withRateLimit). */
export function defaultOnError(error: unknown): Response {
  console.error('ratekeeper: a key, cost, skip or plan function failed', error)
  return new Response(JSON.stringify({ type: 'about:blank', title: 'Internal Server Error', status: 500 }), {
    status: 500,
    headers: { 'Content-Type': 'application/problem+json' },
  })
}

/** The response of a handler that threw, as the end of its request reports it. */
export const FAILED = (): Response => new Response(null, { status: 500 })
/** Code of the warning that plain mode cannot hold a lease or settle a cost (it never sees the response). */
export const PLAIN_MODE_END = 'RK_FETCH_PLAIN_MODE_END'
export const PLAIN_MODE_MESSAGE =
  'rateLimit() (ratekeeper/fetch): plain mode (limit(request)) never sees the response, so concurrency leases are released and actualCost is not settled at once: use limit.check() and complete(), withRateLimit(), or Hono mode.'

/**
 * Reports the end of `request` to `finish` (count modes, leases, settling): now when `aborted`
 * or `response` is a network error, else when the body of `response` has been sent or cancelled (see {@link onBodyEnd}). Returns
 * the response to send.
 */
export function watchEnd(response: Response, request: Request, aborted: boolean, finish: (result: HttpFinish) => void): Response {
  const end = (hungUp: boolean): void => {
    finish({
      status: response.status,
      aborted: hungUp,
      headers: new FetchHeaderReader(response.headers),
      reportedCost: reportedActualCost(request),
    })
  }
  // A network error (`Response.error()`) sends nothing: the connection is dropped, as in a hang-up.
  if (aborted || response.type === 'error') {
    end(true)
    return response
  }
  return onBodyEnd(response, request.method === 'HEAD', end)
}

/** Hono routes of middleware registered with `app.use()` end in `*`: those are not one route. */
export function honoRoute(c: { readonly req: { readonly routePath?: string } }): string | undefined {
  try {
    const path = c.req.routePath
    return typeof path === 'string' && !path.endsWith('*') ? path : undefined
  } catch {
    return undefined
  }
}
