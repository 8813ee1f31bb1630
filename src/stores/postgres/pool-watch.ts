/**
 * The 'error' events of the application's pool. A pg `Pool` emits 'error' when one of its idle
 * connections loses its server (PostgreSQL restarted or failed over, an idle timeout,
 * `pg_terminate_backend`), and a pg `Client` when its connection drops between queries. Node
 * throws an 'error' event nobody listens to, which ends the process: the store listens, once per
 * pool whatever the number of stores on it, and reports it instead.
 */

type Listener = (error: unknown) => void

interface Emitter {
  on(event: 'error', listener: Listener): unknown
}

const watched = new WeakMap<object, Set<Listener>>()

export function watchPool(pool: object, listener: Listener): void {
  if (typeof (pool as Partial<Emitter>).on !== 'function') return
  let listeners = watched.get(pool)
  if (listeners === undefined) {
    const set = new Set<Listener>()
    listeners = set
    watched.set(pool, set)
    ;(pool as Emitter).on('error', (error) => {
      for (const l of set) l(error)
    })
  }
  listeners.add(listener)
}

/** Stops `listener` hearing the pool (the shared listener stays: it only keeps the pool's errors from ending the process). */
export function unwatchPool(pool: object, listener: Listener): void {
  watched.get(pool)?.delete(listener)
}

/** What a connection error says, briefly and without its text (which may name hosts): its code. */
export function connectionErrorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[A-Za-z0-9_]{1,32}$/.test(code) ? code : 'connection lost'
}
