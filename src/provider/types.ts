import type { RequestPlan } from '../http/pipeline.js'

/**
 * The part of an HTTP request the provider features read. The adapters' `HttpRequestInfo`
 * (`src/http/pipeline.ts`) has all of it, so a plan made here plugs into every adapter's `plan` option.
 */
export interface PlanRequest {
  /** Request method, upper case (`GET`, `POST`, …). */
  readonly method: string
  /** The matched route template (`/users/:id`), when the framework knows it. */
  readonly route: string | undefined
  /** The request path, without the query string (a query string is ignored if present). */
  readonly path: string
  /** The client address as the framework resolved it under its own trust-proxy setting. */
  readonly ip: string | undefined
  /** Request headers, read case-insensitively. */
  readonly headers: { get(name: string): string | undefined }
  /** The request's id, when the app has one. */
  readonly requestId?: string | undefined
  /** The framework's own request object. */
  readonly raw?: unknown
}

/**
 * Which requests a key's charge sticks for, decided when the response finishes:
 * - `'all'`: every admitted request counts;
 * - `'success'`: only responses with status < 400 count (the others are refunded);
 * - `'failure'`: only responses with status >= 400 count (e.g. failed logins).
 *
 * A request whose client hung up before the response finished always counts.
 */
export type CountMode = 'all' | 'success' | 'failure'

/**
 * What to decide for one request: the adapters' `RequestPlan` (`src/http/pipeline.ts`). A plan is
 * built per request from objects made once (policy lists are never rebuilt per request).
 */
export interface ProviderRequestPlan extends RequestPlan {
  /** The request class (`read`, `write`, …), for logs and introspection. */
  readonly class?: string
}
