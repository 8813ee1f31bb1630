import type { Store, StoreResult } from 'ratekeeper'

/** A store that fails every call with `error` (synchronously thrown, as a broken in-process store would). */
export function failingStore(error: Error = new Error('down')): Store {
  const fail = (): StoreResult => {
    throw error
  }
  return { consume: fail, peek: fail, refund: fail, reset: () => undefined, close: () => undefined }
}

/** A store whose calls never answer (the limiter's deadline fails them). */
export function silentStore(): Store {
  const never = () => new Promise<StoreResult>(() => undefined)
  return { consume: never, peek: never, refund: never, reset: () => undefined, close: () => undefined }
}
