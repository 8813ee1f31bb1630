// Reserve-then-settle: where a request's actual cost comes from when its response ends (the
// handler's report, a response header, or a hook), read by the HTTP layer's finish (request-end.ts).
import { invalid, invalidAtRequest } from '../limiter/errors.js'
import type { HeaderReader } from './request.js'

/** The most a cost may be (the limiter's own bound). */
const MAX_COST = 1_000_000_000

/** A finished response as an `actualCost` function sees it: its status and its headers (read case-insensitively). */
export interface FinishedResponse {
  /** The status sent. */
  readonly status: number
  /** The response's headers, as sent. */
  readonly headers: HeaderReader
}

/**
 * Where the actual cost of a request comes from when its response ends (the request was charged
 * its estimate, `cost`, when it arrived; the difference is then refunded or charged). What the
 * handler reported with the adapter's `setActualCost` helper always comes first; without a report:
 * - `true`: nothing else (the estimate stands);
 * - a response header name (`'x-usage-tokens'`): its value, a whole number;
 * - a function of the finished response and the request, returning the cost or `undefined`
 *   (the estimate stands).
 */
export type ActualCostSource<Info> = true | string | ((response: FinishedResponse, request: Info) => number | undefined)

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Validates the `actualCost` option. */
export function checkActualCost(where: string, name: string, value: unknown): void {
  if (typeof value === 'function' || value === true) return
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) {
    invalid(where, name, 'must be true, a response header name or a function (response, request) => number | undefined', value)
  }
}

/** Costs reported by handlers, by the object the adapter keys them on (the Node response, the Fetch request). */
const reported = new WeakMap<object, number>()
/** Requests whose end has read the reported cost: a report after that is too late. */
const ended = new WeakSet<object>()
/** HTTP limiters with an `actualCost` option created in this process. */
let settlingLimiters = 0
/** Warnings given already (once per process each). */
const warned = new Set<string>()

/** Code of the warning given when a handler's report of the actual cost cannot be used. */
export const ACTUAL_COST_IGNORED = 'RK_ACTUAL_COST_IGNORED'

/** An HTTP limiter with an `actualCost` option was made: handlers' reports are read from now on. */
export function settlingLimiterCreated(): void {
  settlingLimiters++
}

function ignored(where: string, why: string): void {
  if (warned.has(why)) return
  warned.add(why)
  process.emitWarning(`ratekeeper: ${where}: the cost reported is ignored: ${why}`, { code: ACTUAL_COST_IGNORED })
}

/** Whether `value` is a cost a request may settle at: a whole number from 0 to 1000000000. */
export function isCost(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_COST
}

/**
 * Records the actual cost of the request whose response is `target` (as each adapter's
 * `setActualCost` helper maps its own objects to it). The last report before the response ends wins.
 * Throws on a cost that is not a whole number from 0 to 1000000000.
 */
export function reportActualCost(where: string, target: object, cost: number): void {
  if (!isCost(cost)) invalidAtRequest(where, 'cost', 'must be an integer from 0 to 1000000000', cost)
  if (settlingLimiters === 0) {
    ignored(where, 'no rate limiter settles costs (give one the actualCost option: true, a response header name or a function)')
  } else if (ended.has(target)) {
    ignored(
      where,
      "the response had ended (report the cost before the response's end: before res.end(), or before the last chunk of a stream)",
    )
  }
  reported.set(target, cost)
}

/** The cost reported for `target`, if any, read when its response ends: a later report is too late (and warned of). */
export function reportedActualCost(target: object): number | undefined {
  // No limiter settles: a report was warned of and is of no use; a weak set with an entry per
  // response is a cost (ephemeron tables slow every GC) that only settling can justify.
  if (settlingLimiters === 0) return undefined
  ended.add(target)
  return reported.get(target)
}

/** A header's value as a cost, or `undefined` when absent or not a whole number in range. */
export function costFromHeader(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d{1,10}\s*$/.test(value)) return undefined
  const n = Number(value)
  return n <= MAX_COST ? n : undefined
}
