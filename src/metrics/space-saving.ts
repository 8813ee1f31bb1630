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
  /** Where the slot sits in the heap. */
  at: number
}

/**
 * The Space-Saving sketch (Metwally, Agrawal, El Abbadi, 2005): the heaviest items of a stream in
 * `capacity` counters, whatever the number of distinct items. For every monitored item,
 * `count - error ≤ true count ≤ count`; an item not monitored has a true count of at most the
 * smallest monitored count; and every item whose true count exceeds `total / capacity` is
 * monitored. Memory is `capacity` entries. The counters are a min-heap by count, so an update
 * costs O(log capacity) whether the item is monitored or replaces the smallest: a denial of a new
 * subject never scans every counter on the request's path.
 */
export class SpaceSaving {
  readonly capacity: number
  /** A min-heap by count: the smallest counter at 0. */
  readonly #heap: Slot[] = []
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
      this.#down(slot)
      return
    }
    const heap = this.#heap
    if (heap.length < this.capacity) {
      const fresh = { key, count: weight, error: 0, at: heap.length }
      heap.push(fresh)
      this.#index.set(key, fresh)
      this.#up(fresh)
      return
    }
    // Replace the item with the smallest count: the newcomer inherits it as its possible error.
    const min = heap[0]
    this.#index.delete(min.key)
    min.key = key
    min.error = min.count
    min.count += weight
    this.#index.set(key, min)
    this.#down(min)
  }

  /** Moves `slot` towards the root while it is smaller than its parent. */
  #up(slot: Slot): void {
    const heap = this.#heap
    let at = slot.at
    while (at > 0) {
      const parentAt = (at - 1) >> 1
      const parent = heap[parentAt]
      if (parent.count <= slot.count) break
      heap[at] = parent
      parent.at = at
      at = parentAt
    }
    heap[at] = slot
    slot.at = at
  }

  /** Moves `slot` (whose count grew) towards the leaves while a child is smaller. */
  #down(slot: Slot): void {
    const heap = this.#heap
    const n = heap.length
    let at = slot.at
    for (;;) {
      let child = 2 * at + 1
      if (child >= n) break
      if (child + 1 < n && heap[child + 1].count < heap[child].count) child++
      const smaller = heap[child]
      if (smaller.count >= slot.count) break
      heap[at] = smaller
      smaller.at = at
      at = child
    }
    heap[at] = slot
    slot.at = at
  }

  /** The monitored items, heaviest first (ties by key), at most `n`. */
  top(n = this.capacity): HeavyHitter[] {
    return this.#heap
      .map((s) => ({ key: s.key, count: s.count, error: s.error }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n)
  }

  /** The smallest monitored count (0 while not full): an upper bound of any unmonitored item's true count. */
  get floor(): number {
    return this.#heap.length < this.capacity ? 0 : this.#heap[0].count
  }

  clear(): void {
    this.#heap.length = 0
    this.#index.clear()
    this.#total = 0
  }
}
