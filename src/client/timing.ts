export { type Sleep, timerSleep } from '../limiter/sleep.js'

interface Watchers {
  readonly callbacks: Set<() => void>
  readonly onAbort: () => void
}

const watched = new WeakMap<AbortSignal, Watchers>()

/**
 * Calls `callback` when `signal` (not yet aborted) aborts; returns the function that stops watching.
 * However many waits watch one signal (an app passes its shutdown signal to every call), the signal
 * carries one listener of the client's, removed when the last of them stops: Node warns of a memory
 * leak past ten listeners, and fetch itself, given one signal by many calls, does not make it warn.
 */
export function whenAborted(signal: AbortSignal, callback: () => void): () => void {
  let w = watched.get(signal)
  if (w === undefined) {
    const callbacks = new Set<() => void>()
    w = {
      callbacks,
      onAbort: () => {
        watched.delete(signal)
        for (const c of callbacks) c()
      },
    }
    watched.set(signal, w)
    signal.addEventListener('abort', w.onAbort, { once: true })
  }
  const entry = w
  // A function of its own, so that one callback watching twice is two watches.
  const watch = (): void => callback()
  entry.callbacks.add(watch)
  return () => {
    if (!entry.callbacks.delete(watch) || entry.callbacks.size > 0 || watched.get(signal) !== entry) return
    watched.delete(signal)
    signal.removeEventListener('abort', entry.onAbort)
  }
}

/**
 * Settles like `promise`, or rejects with `signal.reason` as soon as the signal aborts, whichever
 * comes first, so that an injected sleep or a store that ignores the signal cannot hold a
 * cancelled call. It stops watching the signal either way.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) {
    promise.catch(() => {})
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const stop = whenAborted(signal, () => {
      promise.catch(() => {})
      reject(signal.reason)
    })
    promise.then(
      (value) => {
        stop()
        resolve(value)
      },
      (error: unknown) => {
        stop()
        reject(error)
      },
    )
  })
}

/**
 * An AbortController that also aborts when any of `signals` does; `done()` detaches it (always call
 * it, so that a long-lived signal does not collect watchers).
 */
export function linkedController(...signals: (AbortSignal | undefined)[]): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController()
  const stops: Array<() => void> = []
  for (const s of signals) {
    if (s === undefined) continue
    if (s.aborted) {
      controller.abort(s.reason)
      break
    }
    stops.push(whenAborted(s, () => controller.abort(s.reason)))
  }
  return {
    signal: controller.signal,
    done: () => {
      for (const stop of stops) stop()
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

/**
 * A clock that never goes back: when `now` does (an NTP step, a resumed VM), it carries on from
 * where it was, moving as `now` moves. The in-process queue's token bucket runs on it: on the
 * client's own clock, a bucket filled before a step back of an hour would refuse every call for
 * that hour (its state never runs backwards).
 */
export function steadyClock(now: () => number): () => number {
  let offset = 0
  let last = Number.NEGATIVE_INFINITY
  return () => {
    let t = now() + offset
    if (t < last) {
      offset += last - t
      t = last
    }
    last = t
    return t
  }
}
