import { withDeadline } from './deadline.js'
import { ConfigurationError } from './errors.js'
import type { StoreHealth } from './events.js'
import type { Store, StoreRequest } from './store.js'
import type { StoreEventHub, StoreListener } from './store-events.js'
import { isThenable } from './thenable.js'

/** What `limiter.reset()` needs of its limiter. */
export interface ResetContext {
  readonly store: Store
  readonly fallback: Store | undefined
  readonly storeHub: StoreEventHub
  readonly fallbackHub: StoreEventHub | undefined
  /** Deadline of the store's promises, ms (0: the store has its own). */
  readonly storeDeadline: number
  readonly fallbackDeadline: number
  /** The limiter, as the stores' event hubs know it: what a reset causes is its own. */
  readonly self: StoreListener
  readonly health: StoreHealth
}

/**
 * `limiter.reset()`: forgets the request's state in the store, then in the fallback store if any.
 * The fallback is reset even when the store failed (it is what decides during the outage); the
 * store's failure is then the answer.
 */
export async function resetKey(context: ResetContext, request: StoreRequest): Promise<void> {
  if (context.fallback === undefined) return resetIn(context, context.store, request)
  let failed = false
  let failure: unknown
  try {
    await resetIn(context, context.store, request)
  } catch (error) {
    if (error instanceof ConfigurationError) throw error
    failed = true
    failure = error
  }
  await resetIn(context, context.fallback, request)
  if (failed) throw failure
}

/** Resets in one store (the store, or the fallback), with the same deadline as its other calls; failures reject. */
export async function resetIn(context: ResetContext, s: Store, request: StoreRequest): Promise<void> {
  const { health } = context
  const main = s === context.store
  const hub = main ? context.storeHub : (context.fallbackHub as StoreEventHub)
  const ms = main ? context.storeDeadline : context.fallbackDeadline
  try {
    const previous = hub.current
    hub.current = context.self
    let done: void | Promise<void>
    try {
      done = s.reset(request)
    } finally {
      hub.current = previous
    }
    if (isThenable(done)) await (ms > 0 ? withDeadline(done, ms) : done)
  } catch (error) {
    if (main && !(error instanceof ConfigurationError)) health.outage(error)
    throw error
  }
  if (main && health.failing) health.calm()
}
