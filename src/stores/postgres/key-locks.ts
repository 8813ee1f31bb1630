/**
 * Keys in use by this process's calls: a call waits for the earlier calls on any of its keys,
 * so one process never races itself on a hot key (its guesses of the stored states stay right).
 * Calls queue in the order they started, so there is no deadlock.
 */
export class KeyLocks {
  readonly #tails = new Map<string, Promise<void>>()

  /** Resolves with a release function once every earlier call on one of `keys` has released. */
  async acquire(keys: readonly string[]): Promise<() => void> {
    let release!: () => void
    const mine = new Promise<void>((resolve) => {
      release = resolve
    })
    const earlier: Promise<void>[] = []
    for (const key of keys) {
      const tail = this.#tails.get(key)
      if (tail !== undefined && tail !== mine) earlier.push(tail)
      this.#tails.set(key, mine)
    }
    const done = () => {
      release()
      for (const key of keys) if (this.#tails.get(key) === mine) this.#tails.delete(key)
    }
    if (earlier.length === 1) await earlier[0]
    else if (earlier.length > 1) await Promise.all(earlier)
    return done
  }

  /** Keys with a call in flight or queued (for tests). */
  get size(): number {
    return this.#tails.size
  }
}
