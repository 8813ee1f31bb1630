import { checkInteger, invalidAtRequest } from '../limiter/errors.js'

/** One monitored item of a {@link SpaceSaving} sketch. */
export interface HeavyHitter {
  readonly key: string
  /** An upper bound of the item's true count: true count ≤ `count`. */
  readonly count: number
  /** How much of `count` may be another item's: `count - error` ≤ true count. */
  readonly error: number
}

interface Slot {
  key: string
  count: number
  error: number
}

/**
 * The Space-Saving sketch (Metwally, Agrawal, El Abbadi, 2005): the heaviest items of a stream in
 * `capacity` counters, whatever the number of distinct items. For every monitored item,
 * `count - error ≤ true count ≤ count`; an item not monitored has a true count of at most the
 * smallest monitored count; and every item whose true count exceeds `total / capacity` is
 * monitored. Memory is `capacity` entries; an update is O(1) for a monitored item and
 * O(capacity) when a new item replaces the smallest.
 */
export class SpaceSaving {
  readonly capacity: number
  readonly #slots: Slot[] = []
  readonly #index = new Map<string, Slot>()
  #total = 0

  constructor(capacity: number) {
    this.capacity = checkInteger('new SpaceSaving()', 'capacity', capacity, 1)
  }

  /** Sum of every weight added. */
  get total(): number {
    return this.#total
  }

  /** Counts `weight` (> 0) more for `key`. */
  add(key: string, weight = 1): void {
    // NaN, 0 or a negative weight would break every bound the sketch promises.
    if (typeof weight !== 'number' || !(weight > 0) || weight === Number.POSITIVE_INFINITY)
      invalidAtRequest('SpaceSaving.add()', 'weight', 'must be a finite number above 0', weight)
    this.#total += weight
    const slot = this.#index.get(key)
    if (slot !== undefined) {
      slot.count += weight
      return
    }
    if (this.#slots.length < this.capacity) {
      const fresh = { key, count: weight, error: 0 }
      this.#slots.push(fresh)
      this.#index.set(key, fresh)
      return
    }
    // Replace the item with the smallest count: the newcomer inherits it as its possible error.
    let min = this.#slots[0]
    for (const s of this.#slots) if (s.count < min.count) min = s
    this.#index.delete(min.key)
    min.key = key
    min.error = min.count
    min.count += weight
    this.#index.set(key, min)
  }

  /** The monitored items, heaviest first (ties by key), at most `n`. */
  top(n = this.capacity): HeavyHitter[] {
    return this.#slots
      .map((s) => ({ key: s.key, count: s.count, error: s.error }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n)
  }

  /** The smallest monitored count (0 while not full): an upper bound of any unmonitored item's true count. */
  get floor(): number {
    if (this.#slots.length < this.capacity) return 0
    let min = Number.POSITIVE_INFINITY
    for (const s of this.#slots) if (s.count < min) min = s.count
    return min
  }

  clear(): void {
    this.#slots.length = 0
    this.#index.clear()
    this.#total = 0
  }
}
