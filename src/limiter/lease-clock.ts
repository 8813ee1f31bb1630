/**
 * The local clock as a `LeaseStore` reads it: when it steps back, and how the store's clock
 * relates to it.
 *
 * A lease's end is a moment of the local clock, and a clock that steps back (an NTP correction, a
 * virtual machine resumed) stretches it by the step — how far is unknown (the time between two
 * reads is not) — past the fixed window it was charged to: `steppedBack` is told, to end them.
 */
export class LeaseClock {
  #last = Number.NEGATIVE_INFINITY
  /** The highest time read. */
  high = Number.NEGATIVE_INFINITY
  /** How many times the clock has stepped back. */
  steps = 0
  /**
   * The store's clock minus this one, at least, and never above 0: the least of the store's answers'
   * `now` minus the time each arrived (the store answered no later). A charge made here at `t` was
   * made there no earlier than `t + offset`. The least ever, not the last: a charge made before this
   * clock stepped back was made on the clock as it was then (a lower reading of the offset).
   */
  offset = 0

  constructor(
    readonly now: () => number,
    readonly steppedBack: () => void,
  ) {}

  /** The time now, a step back told first. */
  read(): number {
    const t = this.now()
    if (t < this.#last) {
      this.steps++
      this.steppedBack()
    }
    this.#last = t
    if (t > this.high) this.high = t
    return t
  }

  /** The time a store's answer (made at `storeNow`, its clock) arrived, the offset measured. */
  arrived(storeNow: number): number {
    const t = this.read()
    const d = storeNow - t
    if (Number.isFinite(d) && d < this.offset) this.offset = d
    return t
  }
}
