import type { Decision } from '../limiter/decision.js'
import type { Policy } from '../limiter/policy.js'
import type { Layer, Limiter } from '../limiter/types.js'

/**
 * Which requests a key's charge sticks for, decided when the response finishes:
 * - `'all'`: every admitted request counts;
 * - `'success'`: only responses with status < 400 count (the others are refunded);
 * - `'failure'`: only responses with status >= 400 count (e.g. failed logins).
 *
 * Requests are charged when they arrive, so parallel requests can't overrun the limit; a request
 * whose client hung up before the response finished always counts.
 */
export type CountMode = 'all' | 'success' | 'failure'

/** Every {@link CountMode}, for validating a plan's `countMode`. */
export const COUNT_MODES: readonly CountMode[] = ['all', 'success', 'failure']

/** How a response finished, as the adapters report it (to `HttpOutcome.finish`). */
export interface HttpFinish {
  /** The status sent, or about to be sent (0 when nothing was sent). */
  readonly status: number
  /** The client hung up before the response finished (or the response body failed or was cancelled). */
  readonly aborted: boolean
  /** The response's headers, as sent (reserve-then-settle reads the actual cost there). @default none */
  readonly headers?: { get(name: string): string | undefined }
  /** The actual cost the handler reported with the adapter's `setActualCost`. @default none */
  readonly reportedCost?: number | undefined
}

/** What was decided for the request: the plan's subject, policies and layers. */
export interface CountedRequest {
  readonly key: string
  readonly policies?: readonly Policy[] | undefined
  readonly layers?: readonly Layer[] | undefined
  readonly tag?: string | undefined
  readonly countMode?: CountMode | undefined
}

/**
 * Whether a finished response counts under `mode`: `'success'` counts status < 400, `'failure'`
 * counts status >= 400, `'all'` counts everything. A response the client aborted always counts,
 * so hanging up mid-request can't be used to get the charge back.
 */
export function responseCounts(mode: CountMode, response: HttpFinish): boolean {
  if (mode === 'all' || response.aborted) return true
  return mode === 'success' ? response.status < 400 : response.status >= 400
}

/**
 * Count modes without races: the request's cost is reserved when it arrives (the decision
 * charged it), and given back when its response finishes and does not count — with
 * `limiter.refund(key, { decision })`, so only the window that was charged gets it back, no
 * bucket goes past its capacity or below zero, and the refund goes to the store that charged
 * (the fallback store for a request decided there during an outage, never the main store).
 * Concurrent requests see the reservation, so a burst can't slip through while responses are in
 * flight.
 *
 * Returns the function to call once when the response finishes (later calls do nothing; it
 * resolves when the refund, if any, is done and never rejects: a failing store is reported by
 * the limiter's `store-error` event), or `undefined` when nothing can need a refund: mode
 * `'all'`, a denied request (nothing was charged; dry-run denials included), a store-error
 * decision, or cost 0.
 *
 * @example
 * const decision = await limiter.consume(plan.key, plan)
 * const finish = countingFinish(limiter, decision, { ...plan, countMode: 'failure' })
 * res.on('close', () => finish?.({ status: res.statusCode, aborted: !res.writableFinished }))
 */
export function countingFinish(
  limiter: Limiter,
  decision: Decision,
  request: CountedRequest,
): ((response: HttpFinish) => Promise<void>) | undefined {
  const mode = request.countMode ?? 'all'
  if (mode === 'all' || !decision.allowed || decision.reason !== 'ok' || decision.cost === 0) return undefined
  let done = false
  return function finishCountedRequest(response: HttpFinish): Promise<void> {
    if (done) return Promise.resolve()
    done = true
    if (responseCounts(mode, response)) return Promise.resolve()
    return limiter
      .refund(request.key, {
        decision,
        policies: request.policies,
        layers: request.layers,
        tag: request.tag,
      })
      .then(
        () => undefined,
        () => undefined,
      )
  }
}
