import type { Decision } from '../limiter/decision.js'
import type { Policy } from '../limiter/policy.js'
import type { Layer } from '../limiter/types.js'
import type { CountMode, HttpFinish } from './count-mode.js'

/** Reads a request header; `undefined` when absent. Several values are joined with `, `. */
export interface HeaderReader {
  get(name: string): string | undefined
}

/**
 * A request as every adapter describes it to the core: what key, cost, skip and plan functions
 * and the provider features see. Adapters fill it from the framework's request; nothing in it is
 * read from headers the framework did not vouch for.
 */
export interface HttpRequestInfo<Raw = unknown> {
  /** Upper-case method, e.g. `GET`. */
  readonly method: string
  /** The matched route template (`/users/:id`), or `undefined` when no route matched (yet). */
  readonly route: string | undefined
  /** The path as received, without the query string. Never use it to key limits: use `route`. */
  readonly path: string
  /** The client address as the framework resolved it under its own trust-proxy setting. */
  readonly ip: string | undefined
  /** Request headers, read case-insensitively. */
  readonly headers: HeaderReader
  /** The framework's own request id, when it has one (Fastify's `request.id`). */
  readonly requestId?: string | undefined
  /** The framework's request object (Express `req`, Koa `ctx`, Fastify `request`, a Fetch `Request`). */
  readonly raw: Raw
}

/** A function of the framework's request and its {@link HttpRequestInfo}. */
export type RequestFunction<Raw, Info, T> = (req: Raw, info: Info) => T

/**
 * What to charge for one request: the seam request classes, tiers and team layers plug into. A
 * plan is built per request from objects made once (policy lists are never rebuilt per request).
 */
export interface RequestPlan {
  /** The subject key (e.g. `key:sk_live_…`). Used as it is: no route scoping applies. */
  readonly key: string
  /** Cost units. @default 1 */
  readonly cost?: number
  /** Policies replacing the limiter's own for this request (a class or a plan). */
  readonly policies?: readonly Policy[]
  /** Other subjects decided with the key, all-or-nothing (a team ceiling). */
  readonly layers?: readonly Layer[]
  /** Placement tag (Redis Cluster hash tag). */
  readonly tag?: string
  /** A tier name to report (`X-RateLimit-Tier`, bodies that have a place for it). */
  readonly tier?: string
  /** A request class name to report (`decision.class`: metrics and logs). */
  readonly class?: string
  /** @default 'all' */
  readonly countMode?: CountMode
}

/** What an adapter must do with a request. */
export interface HttpOutcome {
  /** `'next'`: let the request through; `'respond'`: answer with `status`, `body` and stop. */
  readonly action: 'next' | 'respond'
  /** Status to answer with when `action` is `'respond'` (0 otherwise). */
  readonly status: number
  /** Headers to set on the response, whatever the action. */
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string
  readonly contentType?: string
  /** The decision behind the outcome; absent when the request was skipped. */
  readonly decision?: Decision
  /**
   * Rate-limit headers another limiter may have set earlier on this response (stacked limiters)
   * that this one does not send: remove them before setting `headers`, so that the response
   * describes only the limiter that decided it. Empty unless limiters with different header
   * options live in one process; absent when the request was not decided.
   */
  readonly remove?: readonly string[]
  /** Adapters call it once when the response finishes or the client hangs up (count modes). */
  readonly finish?: (result: HttpFinish) => void
}
