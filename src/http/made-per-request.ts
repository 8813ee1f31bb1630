/**
 * Middleware made inside a request handler (`app.use((req, res, next) => rateLimit(…)(req, res, next))`)
 * is a new limiter on every request: on the default memory store it starts empty every time and
 * limits nothing, and nothing else says so. It is told by its stack and its use: limiters made
 * from one place while Node's HTTP server dispatches requests, none used for a second request.
 * A limiter made lazily by the first request and kept, or limiters made on demand and kept (one
 * per tenant), soon handle a second request, and their place is not reported. Once per adapter.
 */

/** The warning's code. */
export const MADE_PER_REQUEST = 'RK_LIMITER_PER_REQUEST'

/** A frame of Node's HTTP/1 or HTTP/2 server handing a request to the application. */
const DISPATCH_FRAME = /\(node:(?:_http_server|internal\/http2\/compat):/
/** Frames read: enough to reach the server's frames under a deep middleware chain. */
const FRAMES = 200
/** Limiters made from one place during requests, none used twice, before it is reported (as Node's MaxListenersExceededWarning, a threshold). */
export const MADE_PER_REQUEST_AFTER = 10
/** Where limiters are made during requests: one record per stack (bounded). */
const sites = new Map<string, Site>()
const SITES_KEPT = 64
/** Adapters (their `where`) whose limiters were reported made per request. */
const reported = new Set<string>()

/** A place that made limiters during requests. */
interface Site {
  made: number
  /** One of its limiters handled a second request: they are kept, not made per request. */
  kept: boolean
}

/** A limiter made while a request was handled: its place, and how many requests it has handled. */
export interface Made {
  readonly site: Site
  requests: number
}

/**
 * The limiter `where` is making now, if it is made while Node's HTTP server dispatches a request
 * (`undefined` otherwise, the usual case). Calls `report` when the place making it has made
 * MADE_PER_REQUEST_AFTER limiters during requests and none of them has handled a second request
 * (limiters made on demand and kept, one per tenant, soon do): once per `where` in a process.
 */
export function madeDuringRequest(where: string, report: () => void): Made | undefined {
  if (reported.has(where)) return undefined
  const stack = stackNow()
  if (stack === undefined || !DISPATCH_FRAME.test(stack)) return undefined
  let site = sites.get(stack)
  if (site === undefined) {
    if (sites.size >= SITES_KEPT) sites.clear()
    site = { made: 0, kept: false }
    sites.set(stack, site)
  }
  if (++site.made === MADE_PER_REQUEST_AFTER && !site.kept) {
    reported.add(where)
    report()
  }
  return { site, requests: 0 }
}

/** The stack here, `FRAMES` deep; `undefined` where the stack can't be read or its depth set (a locked-down realm). */
function stackNow(): string | undefined {
  const limit = Error.stackTraceLimit
  try {
    Error.stackTraceLimit = FRAMES
    return new Error().stack
  } catch {
    return undefined
  } finally {
    try {
      Error.stackTraceLimit = limit
    } catch {
      // Not writable: it was never changed either.
    }
  }
}

/** `handle`, counting the requests it handles into `made` when there is one. */
export function countedInto<A extends unknown[], R>(made: Made | undefined, handle: (...args: A) => R): (...args: A) => R {
  if (made === undefined) return handle
  return (...args: A): R => {
    if (++made.requests === 2) made.site.kept = true
    return handle(...args)
  }
}

/** The warning's text. */
export function madePerRequestMessage(where: string): string {
  return (
    `possible limiter made per request: ${where} made ${MADE_PER_REQUEST_AFTER} limiters from one place while requests were ` +
    'being handled, and none of them was used for a second request. A limiter made per request starts empty every time (on ' +
    'the default memory store it limits nothing): make the middleware once, at start-up, and mount it (app.use(limit), or ' +
    'router.get(path, limit, handler)).'
  )
}
