import type { PolicyState } from '../../limiter/policy.js'

/**
 * The memory store's limited entries: a binary min-heap on the time each could admit a request
 * of cost 1 again (`until`), in parallel arrays, with each entry's position in a map. Making room
 * evicts the root (the block that ends soonest) in O(log n), never a walk past blocked entries.
 */
export class LimitedHeap {
  readonly keys: string[] = []
  readonly untils: number[] = []
  readonly states: PolicyState[] = []
  size = 0
  /** Entries moved by the heap's reordering, since construction (part of the store's `evictionSteps`). */
  steps = 0
  readonly #positions = new Map<string, number>()

  /** The heap position of an entry, or -1. */
  positionOf(memKey: string): number {
    if (this.size === 0) return -1
    return this.#positions.get(memKey) ?? -1
  }

  push(memKey: string, until: number, state: PolicyState): void {
    const at = this.size++
    this.keys[at] = memKey
    this.untils[at] = until
    this.states[at] = state
    this.#positions.set(memKey, at)
    this.#siftUp(at)
  }

  update(at: number, until: number, state: PolicyState): void {
    const before = this.untils[at]
    this.untils[at] = until
    this.states[at] = state
    if (until < before) this.#siftUp(at)
    else if (until > before) this.#siftDown(at)
  }

  remove(at: number): void {
    this.#positions.delete(this.keys[at])
    const last = --this.size
    if (at !== last) {
      const until = this.untils[at]
      this.#place(at, this.keys[last], this.untils[last], this.states[last])
      if (this.untils[at] < until) this.#siftUp(at)
      else this.#siftDown(at)
    }
    // Let go of the key and state (the arrays keep their length).
    this.keys[last] = ''
    this.states[last] = 0
  }

  /** Position of the entry whose block ends soonest among those `pinned` does not hold, or -1. */
  soonestUnpinned(isPinned: (memKey: string) => boolean, pinning: boolean): number {
    if (this.size === 0) return -1
    if (!pinning || !isPinned(this.keys[0])) return 0
    // Pinned entries sit at the root: the answer is a child of theirs (at most a few to look at).
    let best = -1
    const stack = [0]
    while (stack.length !== 0) {
      const i = stack.pop() as number
      if (i >= this.size) continue
      this.steps++
      if (isPinned(this.keys[i])) stack.push(2 * i + 1, 2 * i + 2)
      else if (best < 0 || this.untils[i] < this.untils[best]) best = i
    }
    return best
  }

  clear(): void {
    this.keys.length = 0
    this.untils.length = 0
    this.states.length = 0
    this.size = 0
    this.#positions.clear()
  }

  #place(at: number, memKey: string, until: number, state: PolicyState): void {
    this.keys[at] = memKey
    this.untils[at] = until
    this.states[at] = state
    this.#positions.set(memKey, at)
  }

  #siftUp(start: number): void {
    const { keys, untils, states } = this
    const memKey = keys[start]
    const until = untils[start]
    const state = states[start]
    let at = start
    while (at > 0) {
      const parent = (at - 1) >> 1
      if (untils[parent] <= until) break
      this.steps++
      this.#place(at, keys[parent], untils[parent], states[parent])
      at = parent
    }
    if (at !== start) this.#place(at, memKey, until, state)
  }

  #siftDown(start: number): void {
    const { keys, untils, states } = this
    const size = this.size
    const memKey = keys[start]
    const until = untils[start]
    const state = states[start]
    let at = start
    for (;;) {
      const left = 2 * at + 1
      if (left >= size) break
      const right = left + 1
      const child = right < size && untils[right] < untils[left] ? right : left
      if (untils[child] >= until) break
      this.steps++
      this.#place(at, keys[child], untils[child], states[child])
      at = child
    }
    if (at !== start) this.#place(at, memKey, until, state)
  }
}
