import { withDeadline } from './deadline.js'
import { LeaseClock } from './lease-clock.js'
import { LeasePool, type Slice } from './lease-pool.js'
import type { Policy } from './policy.js'
import type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from './store.js'
import { isThenable } from './thenable.js'

/** Some policy of the list takes leases (the `lease` option of `tokenBucket` and `fixedWindow`). */
export function hasLease(policies: readonly Policy[]): boolean {
  return policies.some((p) => p.lease !== undefined)
}

/**
 * The store a limiter with leased policies talks to: checks of leased policies are decided from
 * local leases (no round trip), acquired from `inner` (one `consume` of up to `lease.size` units),
 * renewed in the background at a low-water mark (one acquisition in flight per pool), and given
 * back with `refund` when they expire unspent and on `close()`. Every other check goes to `inner`
 * as it is. `close()` gives the leases back and does not close `inner`.
 */
export class LeaseStore implements Store {
  readonly #pools = new Map<string, LeasePool>()
  readonly #returning = new Set<Promise<unknown>>()
  #nextSweep = 0
  #closed = false
  #closing: Promise<void> | undefined = undefined
  readonly #clock: LeaseClock
  /** Where a failed background call is reported (the last caller's limiter events). */
  #events: StoreEvents | undefined = undefined

  constructor(
    readonly inner: Store,
    readonly now: () => number,
    /** The limiter's deadline for the calls this store makes of its own, ms (0: `inner` has its own deadline). */
    readonly deadlineMs = 0,
  ) {
    this.#clock = new LeaseClock(now, () => this.#steppedBack())
  }

  /**
   * A call this store makes of its own (an acquisition, a give-back), with the limiter's deadline:
   * one that never answered would hold its pool's only acquisition, and `close()`, forever.
   */
  #within<T>(answer: T | Promise<T>): T | Promise<T> {
    return this.deadlineMs > 0 && isThenable(answer) ? withDeadline(answer, this.deadlineMs) : answer
  }

  /** A step back of the clock ends every fixed window's lease (its units go back) and every remembered denial (see `LeaseClock`). */
  #steppedBack(): void {
    this.#nextSweep = 0
    for (const pool of this.#pools.values()) {
      pool.deniedUntil = 0
      if (pool.policy.kind !== 'fixed-window') continue
      for (const s of pool.slices.splice(0)) this.#giveBack(pool, s)
    }
  }

  get timeoutMs(): number | undefined {
    return this.inner.timeoutMs
  }

  /** Leases held right now, across subjects (for tests and the simulator). */
  liveLeases(): number {
    let n = 0
    for (const pool of this.#pools.values()) n += pool.slices.length
    return n
  }

  consume(request: StoreRequest): StoreResult | Promise<StoreResult> {
    const { policies, cost } = request
    const leased = this.#leasedChecks(request)
    if (leased === undefined) return this.inner.consume(request)
    this.#events = request.events ?? this.#events
    const now = this.#clock.read()
    this.#sweep(now)
    const pools = leased.map((i) => this.#pool(request, i, now))
    if (leased.length === policies.length && pools.every((p) => p.available() >= cost)) {
      for (const pool of pools) this.#spend(pool, cost, now)
      return this.#answer(request, pools, leased, true, now)
    }
    return this.#consumeSlow(request, leased, pools)
  }

  peek(request: StoreRequest): StoreResult | Promise<StoreResult> {
    const leased = this.#leasedChecks(request)
    const answer = this.inner.peek(request)
    if (leased === undefined) return answer
    const now = this.#clock.read()
    const pools = leased.map((i) => this.#pool(request, i, now))
    // The store's answer, plus what this server holds: a check its leases would admit admits.
    const add = (r: StoreResult): StoreResult => {
      const results = r.results.slice()
      leased.forEach((i, j) => {
        const pool = pools[j]
        results[3 * i] = Math.min(pool.policy.burst, results[3 * i] + pool.available())
        if (pool.available() >= request.cost) results[3 * i + 2] = 0
      })
      let allowed = true
      for (let i = 0; i < request.policies.length; i++) if (results[3 * i + 2] !== 0 && !request.policies[i].shadow) allowed = false
      return { allowed, now: r.now, results }
    }
    return isThenable(answer) ? answer.then(add) : add(answer)
  }

  refund(request: StoreRefundRequest): StoreResult | Promise<StoreResult> {
    const leased = this.#leasedChecks(request)
    if (leased === undefined) return this.inner.refund(request)
    const now = this.#clock.read()
    // Units of a live lease go back to it; a check whose lease is gone is refunded in the store.
    const pools = leased.map((i) => this.#pool(request, i, now))
    // All or nothing: a refund goes either to the leases or, whole, to the store (never to both).
    if (leased.length === request.policies.length && pools.every((p) => p.takesBack(request.cost, request.chargedAt) !== undefined)) {
      for (const pool of pools) pool.giveBack(request.cost, request.chargedAt)
      return this.#answer(request, pools, leased, true, now)
    }
    // The store reads the time charged on its own clock (Redis's TIME): this server's, turned into
    // it on the early side (a charge made here at t was made there no earlier than t + offset), so
    // that the store never credits a window later than the one charged.
    return this.inner.refund({ ...request, chargedAt: request.chargedAt + this.#clock.offset })
  }

  charge(request: StoreRequest): StoreResult | Promise<StoreResult> {
    if (this.inner.charge === undefined) return this.inner.consume(request)
    return this.inner.charge(request)
  }

  reset(request: StoreRequest): void | Promise<void> {
    for (let i = 0; i < request.keys.length; i++) this.#pools.delete(`${request.policies[i].id}\u0000${request.keys[i]}`)
    return this.inner.reset(request)
  }

  /** Gives back every unspent lease (waiting for acquisitions in flight), then stops; every call resolves when that is done. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#closed = true
    const pools = [...this.#pools.values()]
    await Promise.allSettled(pools.map((p) => p.renewing))
    const now = this.#clock.read()
    for (const pool of pools) {
      for (const s of pool.expire(now)) this.#giveBack(pool, s)
      for (const s of pool.slices.splice(0)) if (s.units > 0) this.#giveBack(pool, s)
    }
    this.#pools.clear()
    await Promise.allSettled([...this.#returning])
  }

  /** Indexes of the checks decided from leases; undefined when none is (cost 0 only looks). */
  #leasedChecks(request: StoreRequest): number[] | undefined {
    if (request.cost <= 0) return undefined
    let out: number[] | undefined
    request.policies.forEach((p, i) => {
      if (p.lease !== undefined && request.cost <= p.burst) (out ??= []).push(i)
    })
    return out
  }

  #pool(request: StoreRequest, i: number, now: number): LeasePool {
    const policy = request.policies[i]
    const id = `${policy.id}\u0000${request.keys[i]}`
    let pool = this.#pools.get(id)
    if (pool === undefined) {
      pool = new LeasePool(request.keys[i], request.tag, policy, policy.lease as NonNullable<Policy['lease']>)
      this.#pools.set(id, pool)
    }
    for (const s of pool.expire(now)) this.#giveBack(pool, s)
    return pool
  }

  /** Spends locally, and starts a renewal when the pool runs low. */
  #spend(pool: LeasePool, cost: number, now: number): void {
    pool.take(cost, now)
    if (pool.renewing === undefined && pool.deniedUntil <= now && pool.available() < pool.lowWater(now) && !this.#closed) {
      this.#acquire(pool, pool.desired(now), 1, now).catch((error) => this.#failed(error))
    }
  }

  async #consumeSlow(request: StoreRequest, leased: number[], pools: LeasePool[]): Promise<StoreResult> {
    const { cost } = request
    for (const pool of pools) {
      // A renewal in flight may bring enough; else one acquisition of what the waiting requests
      // lack (at least the next lease), never two in flight for one pool. Only the store's
      // denial (or failure) ends the wait short.
      pool.wanted += cost
      try {
        for (;;) {
          // Closed meanwhile (its leases given back): the store decides this one, at the time it is decided.
          if (this.#closed) return await this.#within(this.inner.consume({ ...request, now: this.now() }))
          // Leases that ended while this request waited (a window's end) are never spent.
          const t = this.#clock.read()
          for (const s of pool.expire(t)) this.#giveBack(pool, s)
          const lacking = cost - pool.available()
          if (lacking <= 0 || pool.deniedUntil > t) break
          if (pool.renewing !== undefined) {
            await pool.renewing.catch(() => undefined)
            continue
          }
          const want = Math.max(lacking, Math.min(pool.spec.size, Math.max(pool.desired(t), pool.wanted)))
          if (!(await this.#acquire(pool, want, lacking, t))) break
        }
      } finally {
        pool.wanted -= cost
      }
    }
    const t = this.#clock.read()
    for (const pool of pools) for (const s of pool.expire(t)) this.#giveBack(pool, s)
    if (!pools.every((p) => p.available() >= cost)) return this.#answer(request, pools, leased, false, t)
    for (const pool of pools) this.#spend(pool, cost, t)
    if (leased.length === request.policies.length) return this.#answer(request, pools, leased, true, t)
    // Mixed: the other checks are decided by the store; a denial there gives the units back.
    const rest = request.policies.map((_, i) => i).filter((i) => !leased.includes(i))
    const sub = { ...request, now: t, keys: rest.map((i) => request.keys[i]), policies: rest.map((i) => request.policies[i]) }
    let answer: StoreResult
    try {
      answer = await this.#within(this.inner.consume(sub))
      this.#clock.arrived(answer.now)
    } catch (error) {
      for (const pool of pools) pool.giveBack(cost, t)
      throw error
    }
    if (!answer.allowed) for (const pool of pools) pool.giveBack(cost, t)
    const results = this.#answer(request, pools, leased, answer.allowed, t).results as number[]
    rest.forEach((i, j) => {
      for (let k = 0; k < 3; k++) results[3 * i + k] = answer.results[3 * j + k]
    })
    return { allowed: answer.allowed, now: t, results }
  }

  /**
   * One acquisition (the pool's only one in flight): `want` units, or what the store has left when
   * that is at least `need`. A denial is remembered until the store's retry time.
   */
  #acquire(pool: LeasePool, want: number, need: number, now: number): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      let answer = await this.#take(pool, want, now)
      if (!answer.allowed) {
        const left = answer.results[0]
        // What is left (a partial lease), or exactly what is needed: then a denial's retry is this request's.
        const second = left >= need ? Math.min(left, want) : need
        if (second !== want) answer = await this.#take(pool, second, now)
      }
      if (answer.allowed) return true
      const retry = answer.results[2]
      pool.storeRemaining = answer.results[0]
      pool.resetAt = answer.results[1]
      pool.deniedUntil = retry > 0 ? now + retry : 0
      return false
    }
    const p = run().finally(() => {
      pool.renewing = undefined
    })
    pool.renewing = p
    return p
  }

  /** One `consume` of `units` against the store; on success, a new lease. */
  async #take(pool: LeasePool, units: number, now: number): Promise<StoreResult> {
    const { key, tag, policy, spec } = pool
    const back = this.#clock.steps
    const answer = await this.#within(this.inner.consume({ keys: [key], policies: [policy], cost: units, now, tag, events: this.#events }))
    const arrived = this.#clock.arrived(answer.now)
    if (!answer.allowed) return answer
    const resetAt = answer.results[1]
    // A fixed window's lease ends with the window it was charged to (store time turned into local time, never later).
    const windowEnd = policy.kind === 'fixed-window' && now + (resetAt - answer.now) <= now + spec.ttlMs
    const expiresAt = windowEnd ? now + (resetAt - answer.now) : now + spec.ttlMs
    // Spendable from its arrival, not from when it was asked for: a request decided while it was in
    // flight was not spent from it, and it may belong to a window that began meanwhile. On a clock
    // behind its highest answer, after every time read so far: a request decided before the step
    // back may have been decided at a later time than the clock tells now.
    const takenAt = arrived < this.#clock.high ? this.#clock.high + 1 : arrived
    const slice: Slice = { units, granted: units, chargedAt: answer.now, takenAt, expiresAt, windowEnd }
    pool.slices.push(slice)
    pool.storeRemaining = answer.results[0]
    pool.resetAt = resetAt
    pool.deniedUntil = 0
    // Closed meanwhile, or a fixed window's lease whose end the clock moved while the store answered (see `LeaseClock`).
    if (this.#closed || (this.#clock.steps !== back && policy.kind === 'fixed-window')) {
      this.#giveBack(pool, pool.slices.splice(pool.slices.indexOf(slice), 1)[0])
    }
    return answer
  }

  /** Refunds a lease's unspent units into the window it was charged to. */
  #giveBack(pool: LeasePool, s: Slice): void {
    const units = s.units
    s.units = 0
    if (units <= 0) return
    const request: StoreRefundRequest = {
      keys: [pool.key],
      policies: [pool.policy],
      cost: units,
      now: this.now(),
      tag: pool.tag,
      chargedAt: s.chargedAt,
      charged: s.granted,
    }
    const p = Promise.resolve()
      .then(() => this.#within(this.inner.refund(request)))
      .catch((error) => this.#failed(error))
    this.#returning.add(p)
    p.finally(() => this.#returning.delete(p))
  }

  #answer(request: StoreRequest, pools: LeasePool[], leased: number[], allowed: boolean, now: number): StoreResult {
    const results = new Array<number>(3 * request.policies.length).fill(0)
    leased.forEach((i, j) => {
      const pool = pools[j]
      const short = !allowed && pool.available() < request.cost
      results[3 * i] = pool.estimate()
      results[3 * i + 1] = Math.max(pool.resetAt, now)
      results[3 * i + 2] = short ? Math.max(1, pool.deniedUntil - now) : 0
    })
    return { allowed, now, results }
  }

  /** Expired leases of every pool go back; idle pools go (at most every ~ttl/2). */
  #sweep(now: number): void {
    if (now < this.#nextSweep) return
    let ttl = Number.POSITIVE_INFINITY
    for (const [id, pool] of this.#pools) {
      for (const s of pool.expire(now)) this.#giveBack(pool, s)
      if (pool.idle(now)) this.#pools.delete(id)
      ttl = Math.min(ttl, pool.spec.ttlMs)
    }
    this.#nextSweep = now + (Number.isFinite(ttl) ? Math.max(1, ttl / 2) : 1000)
  }

  #failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error)
    this.#events?.warn?.({ code: 'RK_LEASE_STORE_FAILED', message: `a lease could not be renewed or given back: ${message}` })
  }
}
