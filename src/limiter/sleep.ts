/** Sleeps `ms`; rejects with `signal.reason` when the signal aborts (clearing the timer). */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>

/** The longest delay one timer keeps: setTimeout fires at once (after 1 ms) for 2^31 ms or more. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * A timer-based {@link Sleep} that leaves no timer behind when aborted. A delay beyond 24.8 days
 * (a monthly quota's wait) is slept on a chain of timers, not one that would fire at once.
 */
export const timerSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    let left = ms
    let timer: ReturnType<typeof setTimeout> | undefined
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const arm = (): void => {
      const step = Math.min(left, MAX_TIMER_MS)
      left -= step
      timer = setTimeout(() => {
        if (left > 0) {
          arm()
          return
        }
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }, step)
    }
    arm()
    signal?.addEventListener('abort', onAbort, { once: true })
  })
