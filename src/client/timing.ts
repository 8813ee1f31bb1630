export { type Sleep, timerSleep } from '../limiter/sleep.js'

/**
 * Settles like `promise`, or rejects with `signal.reason` as soon as the signal aborts, whichever
 * comes first, so that an injected sleep or a store that ignores the signal cannot hold a
 * cancelled call. The listener is removed either way.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) {
    promise.catch(() => {})
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => {})
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

/**
 * An AbortController that also aborts when any of `signals` does; `done()` detaches it (always call
 * it, so that a long-lived signal does not collect listeners).
 */
export function linkedController(...signals: (AbortSignal | undefined)[]): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController()
  const onAbort = (event: Event): void => controller.abort((event.target as AbortSignal).reason)
  const attached: AbortSignal[] = []
  for (const s of signals) {
    if (s === undefined) continue
    if (s.aborted) {
      controller.abort(s.reason)
      break
    }
    s.addEventListener('abort', onAbort, { once: true })
    attached.push(s)
  }
  return {
    signal: controller.signal,
    done: () => {
      for (const s of attached) s.removeEventListener('abort', onAbort)
      controller.abort()
    },
  }
}

/**
 * The capped exponential backoff with full jitter: a uniformly random delay in
 * `[0, min(maxDelayMs, baseDelayMs * 2^attempt))`, attempt 0 being the first retry. Full jitter
 * spreads clients that were limited together, so they do not come back together.
 */
export function fullJitterDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt)
  let r = random()
  // A bad random source must not produce a negative or unbounded delay.
  if (!(r >= 0)) r = 0
  if (r >= 1) r = 1 - Number.EPSILON
  return Math.floor(r * ceiling)
}
