/** The offset is the largest sample of the current and the previous period of this length. */
const PERIOD_MS = 10_000

/**
 * Database ms minus local ms, learnt from replies (each carries `clock_timestamp()`). A sample
 * is `dbNow − receivedAt`: the database read its clock before the reply came back, so a sample
 * never exceeds the true offset, and the largest recent one is the closest. Local time plus this
 * offset is thus never ahead of the database's clock: a decision is never made in its future.
 * Older samples age out, so a clock that moves is followed.
 */
export class DatabaseClock {
  #offset = Number.NEGATIVE_INFINITY
  #periodMax = Number.NEGATIVE_INFINITY
  #previousMax = Number.NEGATIVE_INFINITY
  #periodStart = 0

  /** Estimated database time, epoch ms; -1 until the first reply. */
  now(wall: number): number {
    return this.#offset === Number.NEGATIVE_INFINITY ? -1 : Math.floor(wall + this.#offset)
  }

  /** Learns from a reply carrying `dbNow`, received at local `wall`. `force`: the database found the estimate ahead. */
  sample(dbNow: number, wall: number, force: boolean): void {
    const sample = dbNow - wall
    if (force) {
      this.#offset = this.#periodMax = this.#previousMax = sample
      this.#periodStart = wall
      return
    }
    if (wall - this.#periodStart >= PERIOD_MS) {
      this.#previousMax = this.#periodMax
      this.#periodMax = sample
      this.#periodStart = wall
    } else if (sample > this.#periodMax) {
      this.#periodMax = sample
    }
    this.#offset = Math.max(this.#periodMax, this.#previousMax)
  }
}
