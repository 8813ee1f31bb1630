// What happens when a response ends: leases released (concurrency policies), the estimate settled
// at the actual cost (reserve-then-settle), and count modes' refunds — composed into the one
// `finish` the adapters call, exactly once. Built only for the decisions that need it.
import type { Decision } from '../limiter/decision.js'
import { invalidAtRequest } from '../limiter/errors.js'
import { hasConcurrency } from '../limiter/policy.js'
import { isThenable, RESOLVED } from '../limiter/thenable.js'
import type { Limiter } from '../limiter/types.js'
import { type ActualCostSource, costFromHeader, isCost, settlingLimiterCreated } from './actual-cost.js'
import { type CountedRequest, countingFinish, type HttpFinish, responseCounts } from './count-mode.js'
import type { HeaderReader, HttpRequestInfo } from './request.js'

/** Code of the warning given when `actualCost` yields something that is not a cost. */
export const ACTUAL_COST_INVALID = 'RK_ACTUAL_COST_INVALID'
/** Code of the warning given when the limiter's `release`, `refund` or `settle` threw, or answered no promise, at a response's end. */
export const LIMITER_THREW = 'RK_LIMITER_THREW'

/**
 * Whether an admitted decision took a lease. `always`: every decision is on a list with a
 * concurrency policy (no plan), so its per-policy results need not be built to tell.
 */
function holdsLease(decision: Decision, always: boolean): boolean {
  // Whatever its cost: a consume of cost 0 takes a slot too (a request in flight is not a cost).
  return decision.allowed && decision.reason === 'ok' && (always || hasConcurrency(decision.policies))
}

const NO_HEADERS: HeaderReader = { get: () => undefined }

/**
 * The estimate a request reserves when its cost is settled afterwards (`actualCost`): at least
 * one unit. A consume of cost 0 only looks and is admitted even for a limited client, yet this
 * request is then settled as real work: a client driving its estimate to 0 (`max_tokens: 0`)
 * would be served without end, its debt growing. One unit keeps a limited client out, and a
 * settle at an actual cost of 0 gives it back. Other values go on to be validated as costs.
 */
export function reservedEstimate(cost: number | undefined): number | undefined {
  return cost === 0 ? 1 : cost
}

/**
 * The adapter's `cost` function with its answer checked: a whole number from 0 to 1000000000, or
 * a promise of one. Anything else fails the request naming the adapter and its `cost` option
 * (only the answer's type is said: it may come from the request).
 */
export function checkedCost<Raw, Info>(
  where: string,
  cost: (raw: Raw, info: Info) => number | Promise<number>,
): (raw: Raw, info: Info) => number | Promise<number> {
  const check = (n: unknown): number =>
    isCost(n) ? n : invalidAtRequest(where, 'cost', 'must return a whole number from 0 to 1000000000', n)
  return function costChecked(raw: Raw, info: Info): number | Promise<number> {
    const c = cost(raw, info)
    return isThenable(c) ? c.then(check) : check(c)
  }
}

/** Builds, per decision, the `finish` of an outcome (or `undefined` when nothing is due at the end). */
export type RequestEnd<Info> = (
  decision: Decision,
  info: Info,
  counted: CountedRequest | undefined,
) => ((r: HttpFinish) => void) | undefined

/**
 * Compiles what the end of a request does for one HTTP limiter. `leases` says which decisions
 * can hold a lease: `'never'` (no concurrency policy in the known list, no plan: then, without
 * `actualCost`, nothing changes from count modes alone and no listener is installed for a rate
 * policy), `'always'` (the known list has one) or `'per-decision'` (a plan picks the policies).
 * `warn` reports an `actualCost` that yields no cost, once.
 */
export function requestEnd<Info extends HttpRequestInfo>(
  limiter: Limiter,
  source: ActualCostSource<Info> | undefined,
  leases: 'never' | 'always' | 'per-decision',
  warn: (code: string, message: string) => void,
): RequestEnd<Info> {
  const header = typeof source === 'string' ? source.toLowerCase() : undefined
  const hook = typeof source === 'function' ? source : undefined
  const settling = source !== undefined
  if (settling) settlingLimiterCreated()

  const invalidCost = (what: string, value: unknown): undefined => {
    warn(
      ACTUAL_COST_INVALID,
      `ratekeeper: actualCost: ${what} is not a whole number from 0 to 1000000000 (${typeof value}); the request is settled at its estimate.`,
    )
    return undefined
  }

  /**
   * Calls one of the limiter's methods at a response's end. It runs in a response listener, where
   * an exception is uncaught and stops the process: a limiter passed in is known by its shape, so a
   * wrapper's bug can throw there. A throw, or an answer that is no promise, is reported (once per
   * code, as the adapter's warnings are) and the request is left as it is; a rejection is the
   * limiter's own `store-error` event, so it is only caught.
   */
  const quietly = (method: 'release' | 'refund' | 'settle', call: () => unknown): void => {
    let answer: unknown
    try {
      answer = call()
    } catch (error) {
      warn(
        LIMITER_THREW,
        `ratekeeper: limiter.${method}() threw at the end of a request: ${String(error)}; that request's ${method} was not done.`,
      )
      return
    }
    // A release done synchronously answers with the shared resolved promise: nothing to catch (no promise, no microtask).
    if (answer === RESOLVED) return
    if (isThenable(answer)) answer.then(undefined, ignore)
    else
      warn(
        LIMITER_THREW,
        `ratekeeper: limiter.${method}() answered no promise at the end of a request (${typeof answer}); it is not a limiter made by createLimiter().`,
      )
  }

  /** The actual cost of a finished response: the handler's report, else the option's; `undefined`: settled at the estimate. */
  const actualOf = (r: HttpFinish, info: Info): number | undefined => {
    if (r.reportedCost !== undefined) return r.reportedCost
    if (header !== undefined) {
      const text = r.headers?.get(header)
      if (text === undefined) return undefined
      return costFromHeader(text) ?? invalidCost(`the ${header} header`, text)
    }
    if (hook === undefined) return undefined
    let value: unknown
    try {
      value = hook({ status: r.status, headers: r.headers ?? NO_HEADERS }, info)
    } catch (error) {
      warn('RK_HOOK_THREW', `ratekeeper: the actualCost hook threw: ${String(error)}; the request is settled at its estimate.`)
      return undefined
    }
    if (value === undefined) return undefined
    return isCost(value) ? value : invalidCost('the hook returned a value that', value)
  }

  return (decision, info, counted) => {
    const leased = leases !== 'never' && holdsLease(decision, leases === 'always')
    const settles = settling && decision.allowed && decision.reason === 'ok'
    if (!leased && !settles) {
      const counting = counted === undefined ? undefined : countingFinish(limiter, decision, counted)
      return counting === undefined ? undefined : (r: HttpFinish) => quietly('refund', () => counting(r))
    }
    const mode = counted?.countMode ?? 'all'
    let done = false
    return function finishRequest(r: HttpFinish): void {
      if (done) return
      done = true
      // Each step resolves or is caught: a failing store is the limiter's `store-error` event, never an unhandled rejection.
      if (leased) quietly('release', () => limiter.release(decision))
      if (counted !== undefined && mode !== 'all' && !responseCounts(mode, r)) {
        // Not counted: the whole estimate goes back, whatever it really cost.
        quietly('refund', () =>
          limiter.refund(counted.key, { decision, policies: counted.policies, layers: counted.layers, tag: counted.tag }),
        )
        return
      }
      // A hung-up request's hook is not asked: it would judge a response that was never finished.
      if (!settles || (r.aborted && hook !== undefined && r.reportedCost === undefined)) return
      const actual = actualOf(r, info)
      if (actual === undefined || actual === decision.cost) return
      // A client that hung up keeps its estimate — hanging up never lowers the charge — but pays an
      // actual cost already known above it (reported, or sent as the header, before the body ended).
      if (r.aborted && actual < decision.cost) return
      quietly('settle', () => limiter.settle(decision, actual))
    }
  }
}

function ignore(): void {}
