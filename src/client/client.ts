import { ConfigurationError } from '../limiter/errors.js'
import { startCall } from './call.js'
import { runCall } from './call-loop.js'
import { buildParts } from './client-parts.js'
import type { ClientEventName, ClientEvents } from './events.js'
import { type ClientOptions, compileOptions } from './options.js'
import type { BudgetState } from './pacer.js'
import type { ClientRequestInit } from './request-options.js'

/** The function {@link createClient} returns: a `fetch`, plus a few ways to watch it. */
export interface RateLimitedFetch {
  (input: string | URL | Request, init?: ClientRequestInit): Promise<Response>
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends ClientEventName>(event: E, listener: (payload: ClientEvents[E]) => void): () => void
  /** What the client knows about a budget (by key: the origin, by default), or `undefined` when nothing yet. */
  budget(key: string): BudgetState | undefined
  /**
   * Forgets what the client learnt of one budget (by key: the origin, by default), or of every
   * budget when called without a key: its block, its remaining quota. Calls waiting on it (held
   * back by pacing, or asleep before a retry) check again at once. The queue's own limits (`queue`,
   * `limiter`) are not touched.
   */
  reset(key?: string): void
}

/**
 * Creates a `fetch` that follows the rate-limit rules servers send: it learns every response's
 * headers (any dialect), holds requests back when the budget is spent, retries 429/503 after the
 * larger of `Retry-After` and a capped full-jitter backoff (idempotent methods, or requests that
 * opt in), can queue outgoing requests at a rate and concurrency, optionally through a shared
 * ratekeeper limiter, and throws a {@link RateLimitError} when it gives up.
 *
 * The result has the signature of `fetch`, so it can be handed to any SDK that accepts one.
 *
 * @example
 * const api = createClient({ baseUrl: 'https://api.example.com', queue: { rate: { limit: 2, window: '1s' } } })
 * const res = await api('/v1/items')
 */
export function createClient(options: ClientOptions = {}): RateLimitedFetch {
  const parts = buildParts(compileOptions(options))
  const { pacer, events } = parts

  const client = (async (input: string | URL | Request, init?: ClientRequestInit): Promise<Response> =>
    runCall(parts, startCall(parts.options, input, init))) as RateLimitedFetch
  client.on = (event, listener) => events.on(event, listener)
  client.budget = (key) => pacer?.state(key)
  client.reset = (key) => {
    if (key !== undefined && (typeof key !== 'string' || key.length === 0)) {
      throw new ConfigurationError(
        'ERR_RK_INVALID_ARGUMENT',
        'client.reset()',
        'key',
        'must be a budget key (a non-empty string) or omitted',
        key,
      )
    }
    pacer?.reset(key)
  }
  return client
}
