import type { HttpRequestInfo, RequestPlan } from '../http/request.js'

/**
 * What to decide for one request: the adapters' `RequestPlan` (`src/http/request.ts`). A plan is
 * built per request from objects made once (policy lists are never rebuilt per request).
 */
export interface ProviderRequestPlan extends RequestPlan {
  /** The request class (`read`, `write`, …), for logs and introspection. */
  readonly class?: string
}

/**
 * A request as the provider features read it: the adapters' `HttpRequestInfo` with the
 * framework's request object (`raw`) optional, so that a plan, a lookup or the introspection
 * handler can be called directly (tests, a server of your own) without one. Every adapter's
 * `HttpRequestInfo` is one.
 */
export type ProviderRequestInfo = Omit<HttpRequestInfo, 'raw'> & Partial<Pick<HttpRequestInfo, 'raw'>>
