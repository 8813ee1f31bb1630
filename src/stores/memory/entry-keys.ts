/**
 * The memory store's entry keys: one entry per (policy slot, subject). The first slot the store
 * sees keys its entries by the bare subject, so the commonest decision builds no string; other
 * slots prefix it. Subjects never start with U+0001 (see encodeSubject), so the two forms never
 * collide.
 */
export class EntryKeys {
  #primarySlot = -1

  /** The entry key of (slot, subject). */
  of(slot: number, subject: string): string {
    if (slot === this.#primarySlot) return subject
    if (this.#primarySlot < 0) {
      this.#primarySlot = slot
      return subject
    }
    return `\u0001${slot}\u0000${subject}`
  }

  /** The slot of an entry key. */
  slotOf(memKey: string): number {
    return memKey.charCodeAt(0) === 1 ? Number(memKey.slice(1, memKey.indexOf('\u0000'))) : this.#primarySlot
  }

  /** The subject of an entry key. */
  subjectOf(memKey: string): string {
    return memKey.charCodeAt(0) === 1 ? memKey.slice(memKey.indexOf('\u0000') + 1) : memKey
  }
}
