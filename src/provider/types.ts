import type { RequestPlan } from '../http/request.js'

/**
 * What to decide for one request: the adapters' `RequestPlan` (`src/http/request.ts`). A plan is
 * built per request from objects made once (policy lists are never rebuilt per request).
 */
export interface ProviderRequestPlan extends RequestPlan {
  /** The request class (`read`, `write`, …), for logs and introspection. */
  readonly class?: string
}
