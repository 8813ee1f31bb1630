import { withoutPasswords } from './errors.js'
import type { Store, StoreEvents } from './store.js'

/** What a store measured of itself (see `StoreEvents.measured`). */
export type StoreMeasure = 'batch-size' | 'deny-cache-hit'

/** Payload of an eviction a store reports. */
export interface EvictedInfo {
  key: string
  blockedUntil: number
}

/** Payload of a warning a store reports. */
export interface WarnInfo {
  code: string
  message: string
}

/** What a limiter does with the events of a store it uses. */
export interface StoreListener {
  /** An eviction this limiter's call caused (or, with no caller, one every limiter hears). */
  evicted(info: EvictedInfo): void
  /** Hands a warning to the limiter's `warn` listeners and logger; true when any took it. */
  hear(info: WarnInfo): boolean
  /** A figure the store measured of itself (see `StoreEvents.measured`). */
  measured(name: StoreMeasure, value: number): void
}

/**
 * The callbacks a store is attached with, once, whatever the number of limiters using it. An
 * event reported while a limiter's call runs synchronously on the store (`current`) is that
 * limiter's; any other goes to every limiter using the store. A warning nobody takes (no `warn`
 * listener, no logger) is printed with `process.emitWarning`, once per code until the store
 * recovers, however many limiters share the store.
 */
export class StoreEventHub implements StoreEvents {
  /**
   * The limiters using the store, held weakly: a limiter made per request and never closed (a
   * usual mistake) is collected with everything it holds instead of living as long as the store.
   */
  readonly #listeners = new Set<WeakRef<StoreListener>>()
  readonly #refs = new WeakMap<StoreListener, WeakRef<StoreListener>>()
  readonly #collected = new FinalizationRegistry<WeakRef<StoreListener>>((ref) => this.#listeners.delete(ref))
  readonly #printed = new Set<string>()
  /** An outage of the store was printed and its end not yet. */
  #down = false
  /** The limiter whose call is running on the store right now (synchronously), if any. */
  current: StoreListener | undefined = undefined

  readonly evicted = (info: EvictedInfo): void => {
    const current = this.current
    if (current !== undefined) {
      current.evicted(info)
      return
    }
    for (const listener of this.#live()) listener.evicted(info)
  }

  readonly warn = (info: WarnInfo): void => {
    const current = this.current
    let heard = false
    if (current !== undefined) heard = current.hear(info)
    else for (const listener of this.#live()) heard = listener.hear(info) || heard
    if (!heard) this.print(info)
  }

  readonly measured = (name: StoreMeasure, value: number): void => {
    const current = this.current
    if (current !== undefined) {
      current.measured(name, value)
      return
    }
    for (const listener of this.#live()) listener.measured(name, value)
  }

  /** Prints a warning nobody took: once per code until {@link recovered}, any password in it masked. */
  print(info: WarnInfo): void {
    if (this.#printed.has(info.code)) return
    this.#printed.add(info.code)
    process.emitWarning(withoutPasswords(info.message), { code: info.code })
  }

  /** The store answered again after an outage: its warnings may be printed again. */
  recovered(): void {
    this.#printed.clear()
  }

  /**
   * Prints the start (`down`) or the end of an outage that a limiter using the store saw and
   * nobody took: once per outage for the store, however many limiters share it.
   */
  printOutage(info: WarnInfo, down: boolean): void {
    if (down === this.#down) return
    this.#down = down
    process.emitWarning(info.message, { code: info.code })
  }

  add(listener: StoreListener): void {
    if (this.#refs.has(listener)) return
    const ref = new WeakRef(listener)
    this.#refs.set(listener, ref)
    this.#listeners.add(ref)
    this.#collected.register(listener, ref, ref)
  }

  delete(listener: StoreListener): void {
    const ref = this.#refs.get(listener)
    if (ref === undefined) return
    this.#refs.delete(listener)
    this.#listeners.delete(ref)
    this.#collected.unregister(ref)
  }

  /** The limiters using the store now (a copy: a listener may close its limiter). */
  #live(): StoreListener[] {
    const live: StoreListener[] = []
    for (const ref of this.#listeners) {
      const listener = ref.deref()
      if (listener !== undefined) live.push(listener)
    }
    return live
  }
}

const hubs = new WeakMap<Store, StoreEventHub>()

/** The hub of a store, attaching it to the store the first time. */
export function hubOf(store: Store): StoreEventHub {
  let hub = hubs.get(store)
  if (hub === undefined) {
    hub = new StoreEventHub()
    hubs.set(store, hub)
    store.attach?.(hub)
  }
  return hub
}
