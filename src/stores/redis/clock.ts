/** The offset is the smallest sample of the current and the previous period of this length. */
const OFFSET_PERIOD_MS = 10_000

/**
 * Redis ms minus local ms, learnt from the script's replies (each carries Redis's `TIME`). The
 * estimate is the smallest `redisNow − sentAt` of recent replies, so it exceeds the true offset
 * by the fastest one-way latency and the clocks' millisecond rounding, no more; older samples age
 * out, so a clock that moves is followed. The store uses it to tell the script, in Redis time,
 * when a batch is too late to run.
 */
export class ClockOffset {
  /** The current estimate: Infinity until the first reply. */
  #offset = Number.POSITIVE_INFINITY
  #periodMin = Number.POSITIVE_INFINITY
  #previousMin = Number.POSITIVE_INFINITY
  #periodStart = 0

  /**
   * The Redis-time deadline of a batch sent at local wall-clock `wall` whose earliest call
   * expires at `expires` (`performance.now()` ms): at least 1 ms ahead; -1 (none) until the
   * offset is known.
   */
  deadline(wall: number, expires: number): number {
    if (this.#offset === Number.POSITIVE_INFINITY) return -1
    return wall + this.#offset + Math.max(1, Math.ceil(expires - performance.now()))
  }

  /**
   * Learns from a reply carrying `redisNow` to a call sent at local `sentAt`. `force` adopts the
   * sample outright: Redis judged a call late that wasn't, so its clock jumped.
   */
  sample(redisNow: number, sentAt: number, force: boolean): void {
    // redisNow − sentAt = offset + the time the call took to reach Redis: never below the offset.
    const sample = redisNow - sentAt
    if (force) {
      this.#offset = this.#periodMin = this.#previousMin = sample
      this.#periodStart = sentAt
      return
    }
    if (sentAt - this.#periodStart >= OFFSET_PERIOD_MS) {
      this.#previousMin = this.#periodMin
      this.#periodMin = sample
      this.#periodStart = sentAt
    } else if (sample < this.#periodMin) {
      this.#periodMin = sample
    }
    this.#offset = Math.min(this.#periodMin, this.#previousMin)
  }
}
