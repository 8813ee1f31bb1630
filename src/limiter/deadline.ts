import { isBlockReason } from './block.js'
import { StoreError } from './errors.js'
import type { Policy } from './policy.js'
import type { Store, StoreResult } from './store.js'

/**
 * Whether a store's answer is a well-formed result for the checks of `policies`: a boolean
 * `allowed`, a finite `now`, and per check a finite `remaining` >= 0, a finite `resetAt` >= 0 and
 * a finite `retryAfterMs` that is 0, positive, or -1 (never); `allowed` exactly when the retry of
 * every enforcing (not shadow) check is 0. Anything else would become a 500, a `NaN` header or an
 * admission.
 */
export function wellFormed(answer: unknown, policies: readonly Policy[]): answer is StoreResult {
  const n = policies.length
  if (typeof answer !== 'object' || answer === null) return false
  const { allowed, now, results } = answer as StoreResult
  if (typeof allowed !== 'boolean' || typeof now !== 'number' || !Number.isFinite(now)) return false
  if (!Array.isArray(results) || results.length !== 3 * n) return false
  const reason = (answer as StoreResult).reason
  if (reason !== undefined && !isBlockReason(reason)) return false
  let denied = false
  for (let i = 0; i < 3 * n; i += 3) {
    const remaining = results[i]
    const resetAt = results[i + 1]
    const retry = results[i + 2]
    if (typeof remaining !== 'number' || !(remaining >= 0) || remaining === Number.POSITIVE_INFINITY) return false
    if (typeof resetAt !== 'number' || !(resetAt >= 0) || resetAt === Number.POSITIVE_INFINITY) return false
    if (typeof retry !== 'number' || !(retry >= -1) || retry === Number.POSITIVE_INFINITY || (retry < 0 && retry !== -1)) return false
    if (retry !== 0 && !policies[i / 3].shadow) denied = true
  }
  return allowed !== denied
}

export function malformedAnswer(): StoreError {
  return new StoreError('ERR_RK_STORE_MALFORMED', 'the store answered something that is not a StoreResult')
}

/** A store that enforces a deadline of its own says so with a positive `timeoutMs`. */
export function hasOwnDeadline(store: Store): boolean {
  const ms = store.timeoutMs
  return typeof ms === 'number' && ms > 0 && ms !== Number.POSITIVE_INFINITY
}

/**
 * Runs `expire`, for a deadline timer that was due at `due` (`performance.now()` ms): at once
 * when the timer fired on time, else once this turn of the event loop has read its sockets. Node
 * runs due timers before it polls for I/O, so after a stall (a long synchronous task, a GC pause,
 * a loaded machine) a deadline's timer fires late while an answer that came back in time is still
 * unread, and the call would fail although the store decided (and charged) it. Deferred past the
 * poll phase (`setImmediate`), that answer settles the call first, and the deadline finds it
 * settled. A timer exactly on time (a fake clock's: vitest's and Jest's fake `setImmediate` and
 * `performance` too, and run an immediate a timer schedules only at the clock's next advance) had
 * no stall to wait out: deferred, advancing the clock by the timeout would not reach the deadline.
 */
export function afterPendingIo(due: number, expire: () => void): void {
  if (performance.now() > due) setImmediate(expire)
  else expire()
}

/** `promise`, or a rejection with `ERR_RK_STORE_TIMEOUT` when it has not settled within `ms` (see {@link afterPendingIo}). */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const expire = () => reject(new StoreError('ERR_RK_STORE_TIMEOUT', `the store did not answer within ${ms} ms`))
    const due = performance.now() + ms
    const timer = setTimeout(() => afterPendingIo(due, expire), ms)
    // A pending store call must not keep the process alive by its timer alone.
    timer.unref?.()
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}
