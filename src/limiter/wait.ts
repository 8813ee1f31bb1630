import type { Decision } from './decision.js'
import { RateKeeperError } from './errors.js'
import { invalidInCall } from './policy-list.js'
import type { ConsumeOptions, LimiterOptions, WaitOptions } from './types.js'

/** What `wait` needs of its limiter. */
export interface WaitContext {
  readonly consume: (key: string, options?: ConsumeOptions) => Promise<Decision>
  readonly now: () => number
  readonly sleep: NonNullable<LimiterOptions['sleep']>
}

/**
 * Consumes until the request is admitted, sleeping each denial's `retryAfterMs`. Rejects with
 * `ERR_RK_WAIT` when it can never be admitted or would wait beyond `maxWaitMs`, with the signal's
 * reason when aborted; a store-error decision, and a dry-run limiter's would-be denial, are
 * returned as they are.
 */
export async function waitFor(context: WaitContext, key: string, opts: WaitOptions | undefined): Promise<Decision> {
  const where = 'limiter.wait()'
  const { signal, maxWaitMs: maxWait, ...callOpts } = opts ?? {}
  // `undefined` alone means "not passed": null is no bound, and no signal.
  const maxWaitMs = maxWait === undefined ? Number.POSITIVE_INFINITY : maxWait
  if (typeof maxWaitMs !== 'number' || Number.isNaN(maxWaitMs) || maxWaitMs < 0) {
    invalidInCall(where, 'maxWaitMs', 'must be a number of ms >= 0', maxWait)
  }
  if (signal !== undefined && !isSignal(signal)) invalidInCall(where, 'signal', 'must be an AbortSignal', signal)
  const started = context.now()
  for (;;) {
    signal?.throwIfAborted()
    const decision = await context.consume(key, callOpts)
    // A dry run reports and never blocks: its would-be denial is the answer, as consume's.
    if (decision.allowed || decision.reason === 'store-error' || decision.dryRun === true) return decision
    if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
      throw new RateKeeperError('ERR_RK_WAIT', `${where}: cost ${decision.cost} can never be admitted by ${decision.violated.join(', ')}`)
    }
    const waited = context.now() - started
    if (waited + decision.retryAfterMs > maxWaitMs) {
      throw new RateKeeperError('ERR_RK_WAIT', `${where}: admission needs ${decision.retryAfterMs} ms more, beyond maxWaitMs ${maxWaitMs}`)
    }
    await context.sleep(decision.retryAfterMs, signal)
  }
}

/** An AbortSignal, or an object that works as one (a signal of another realm or a polyfill). */
function isSignal(value: unknown): value is AbortSignal {
  if (typeof value !== 'object' || value === null) return false
  const s = value as AbortSignal
  return typeof s.throwIfAborted === 'function' && typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function'
}
