import { RateKeeperError } from './errors.js'
import type { LimiterEmitter } from './events.js'
import type { Mode } from './layers.js'

/**
 * Reports a store call that answered with a promise as a `store-call` event once it settles: how
 * long it took and whether it answered, failed or missed its deadline. Only called when someone
 * listens for `store-call`; the promise is returned as it is (this only watches it).
 */
export function timeStoreCall<T>(promise: Promise<T>, emitter: LimiterEmitter, main: boolean, mode: Mode): Promise<T> {
  const start = performance.now()
  const store = main ? 'main' : 'fallback'
  promise.then(
    () => emitter.emit('store-call', { store, mode, durationMs: performance.now() - start, result: 'ok' }),
    (error: unknown) => {
      const timeout = error instanceof RateKeeperError && error.code === 'ERR_RK_STORE_TIMEOUT'
      emitter.emit('store-call', { store, mode, durationMs: performance.now() - start, result: timeout ? 'timeout' : 'error' })
    },
  )
  return promise
}
