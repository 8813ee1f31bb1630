/** Sleeps `ms`; rejects with `signal.reason` when the signal aborts (clearing the timer). */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>

/** A timer-based {@link Sleep} that leaves no timer behind when aborted. */
export const timerSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
