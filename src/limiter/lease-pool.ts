import type { Duration } from './duration.js'
import { parseDuration } from './duration.js'
import { checkInteger, checkKnownOptions, checkOptionsObject, invalid } from './errors.js'
import type { Policy } from './policy.js'

/**
 * The `lease` option of `tokenBucket` and `fixedWindow`: each server takes slices ("leases") of
 * the shared budget from the store, one round trip for up to `size` units, and admits locally
 * from them. See docs/algorithms.md, "Leases", for the bound on what a fleet may admit.
 */
export interface LeaseOptions {
  /** Most units one lease takes from the store (the lease size adapts to the local rate, up to this). Integer from 1 to the policy's burst. */
  size: number
  /** How long a lease may be spent; unspent units are then given back (a fixed window's lease also ends with its window). */
  ttlMs: Duration
}

/** A policy's parsed `lease` option (`Policy.lease`). */
export type LeaseSpec = NonNullable<Policy['lease']>

const KNOWN = { size: true, ttlMs: true } as const

/** Validates a policy's `lease` option (`undefined` when absent). */
export function parseLease(where: string, value: unknown, burst: number, shadow: boolean): LeaseSpec | undefined {
  if (value === undefined) return undefined
  checkOptionsObject(where, value)
  checkKnownOptions(where, value as LeaseOptions, KNOWN)
  const raw = value as Record<string, unknown>
  if (shadow)
    invalid(where, 'lease', 'must be omitted on a shadow policy (a lease spends budget that a shadow policy never enforces)', value)
  if (burst === 0) invalid(where, 'lease', 'must be omitted when "limit" is 0', value)
  const size = checkInteger(where, 'lease.size', raw.size, 1, burst)
  const ttlMs = parseDuration(where, 'lease.ttlMs', raw.ttlMs)
  if (!(ttlMs >= 1)) invalid(where, 'lease.ttlMs', 'must be at least 1ms', raw.ttlMs)
  return Object.freeze({ size, ttlMs })
}

/** One lease: units charged to the store at `chargedAt` (store clock), spendable from `takenAt` until `expiresAt` (local clock). */
export interface Slice {
  units: number
  readonly granted: number
  readonly chargedAt: number
  /** When its answer arrived (local clock), the first moment it could be spent: a charge made before then was not spent from it. */
  readonly takenAt: number
  readonly expiresAt: number
  /** It ends with its fixed window: nothing to give back after that (a refund reaches only the window charged). */
  readonly windowEnd: boolean
}

/**
 * The local share of one subject's budget under one leased policy: the live leases, spent
 * oldest-expiry first, and the recent local rate that sizes the next lease. Pure bookkeeping:
 * the store calls are made by `LeaseStore`.
 */
export class LeasePool {
  readonly slices: Slice[] = []
  /** The acquisition in flight (at most one per pool). */
  renewing: Promise<boolean> | undefined = undefined
  /** Units the requests waiting for this pool need (sizes the next acquisition). */
  wanted = 0
  /** Local time until which the store said no (a cached denial), and the store's remaining/reset then. */
  deniedUntil = 0
  storeRemaining = 0
  resetAt = 0
  /** Units spent in the current and previous rate span (spans of ttlMs / 4). */
  #spanStart = 0
  #spent = 0
  #spentBefore = 0
  readonly #span: number

  constructor(
    readonly key: string,
    readonly tag: string,
    readonly policy: Policy,
    readonly spec: LeaseSpec,
  ) {
    this.#span = Math.max(1, Math.floor(spec.ttlMs / 4))
  }

  /** Drops the leases that expired by `now`, returning those with units to give back. */
  expire(now: number): Slice[] {
    let gone: Slice[] | undefined
    for (let i = this.slices.length - 1; i >= 0; i--) {
      const s = this.slices[i]
      if (s.expiresAt > now) continue
      this.slices.splice(i, 1)
      if (s.units > 0 && !s.windowEnd) (gone ??= []).push(s)
    }
    return gone ?? []
  }

  /** Units spendable now (expired leases already dropped). */
  available(): number {
    let n = 0
    for (const s of this.slices) n += s.units
    return n
  }

  /** Spends `cost` locally when the live leases hold it. */
  take(cost: number, now: number): boolean {
    if (this.available() < cost) return false
    let left = cost
    // Soonest to expire first: what would be lost soonest is spent first.
    const order = this.slices.length > 1 ? [...this.slices].sort((a, b) => a.expiresAt - b.expiresAt) : this.slices
    for (const s of order) {
      const n = Math.min(s.units, left)
      s.units -= n
      left -= n
      if (left === 0) break
    }
    this.#count(cost, now)
    return true
  }

  /**
   * The live lease that takes back `cost` charged at `chargedAt` (local clock): the newest of those
   * already taken then (the charge may have been spent from it; never from a later one, which may
   * belong to a later window or hold what the bucket refilled since) that can take it without
   * going above what it was granted.
   */
  takesBack(cost: number, chargedAt: number): Slice | undefined {
    let newest: Slice | undefined
    for (const s of this.slices) {
      if (s.takenAt > chargedAt || s.units + cost > s.granted) continue
      if (newest === undefined || s.expiresAt > newest.expiresAt) newest = s
    }
    return newest
  }

  /** Gives `cost` charged at `chargedAt` back to a live lease (see `takesBack`); false when none can take it. */
  giveBack(cost: number, chargedAt: number): boolean {
    const slice = this.takesBack(cost, chargedAt)
    if (slice === undefined) return false
    slice.units += cost
    return true
  }

  /**
   * The next lease's size: what the recent local rate (the busier of the last two quarter-ttl
   * spans) spends in half the lease's life — `ttlMs`, or up to a fixed window's end when sooner —
   * within 1..size. So a lease renewed at its low-water mark is spent before it expires (nothing
   * to give back, no refund call), a quiet server holds little, and a lease taken near a window's
   * end is small.
   */
  desired(now: number): number {
    this.#roll(now)
    const rate = Math.max(this.#spent, this.#spentBefore) / this.#span
    const left = this.policy.kind === 'fixed-window' && this.resetAt > now ? this.resetAt - now : this.spec.ttlMs
    return Math.min(this.spec.size, Math.max(1, Math.ceil((rate * Math.min(left, this.spec.ttlMs)) / 2)))
  }

  /** Renew in the background once this little is left: half the next lease. */
  lowWater(now: number): number {
    return Math.ceil(this.desired(now) / 2)
  }

  /** The fleet-wide estimate of `remaining`: the store's remaining at the last reply plus the units held here, at most the capacity. */
  estimate(): number {
    return Math.min(this.policy.burst, this.storeRemaining + this.available())
  }

  /** Nothing held, nothing in flight, no denial to remember: the pool may go. */
  idle(now: number): boolean {
    return this.slices.length === 0 && this.renewing === undefined && this.deniedUntil <= now
  }

  #count(cost: number, now: number): void {
    this.#roll(now)
    this.#spent += cost
  }

  #roll(now: number): void {
    if (now - this.#spanStart < this.#span) return
    const spans = Math.floor((now - this.#spanStart) / this.#span)
    this.#spentBefore = spans === 1 ? this.#spent : 0
    this.#spent = 0
    this.#spanStart += spans * this.#span
  }
}
