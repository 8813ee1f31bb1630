/**
 * Whether a value that may be a promise is one (anything with a `then` method): how the limiter
 * and its callers tell a store's or a hook's asynchronous answer from a synchronous one, so a
 * synchronous answer costs no microtask.
 */
export function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function'
}

/**
 * The one resolved promise a call answers with when it has nothing to wait for (a release done
 * synchronously). It never rejects, so a caller that would only catch its rejection can skip that.
 */
export const RESOLVED: Promise<void> = Promise.resolve()

/**
 * `call()` as a promise: its value, or its throw as a rejection (a limiter method never throws
 * synchronously). No async function, so a synchronous answer costs one resolved promise.
 */
export function promised<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(call())
  } catch (error) {
    return Promise.reject(error)
  }
}
