import type { StoreResult } from '../../limiter/store.js'
import type { Call } from './batcher.js'
import { DECIDE_SHA } from './script.js'
import { OP, SCRIPT_KIND } from './spec.js'

/**
 * The script's calling convention on the TypeScript side (the Lua side is `DECIDE_SCRIPT`, whose
 * header documents the same): operation codes, how a batch becomes `EVALSHA` arguments, and what
 * the reply's statuses mean. The codes the script shares with TypeScript are in `spec.ts`.
 */

/** Added to a request's op when the caller's `now` follows its spec indexes (clock 'caller'). */
const CALLER_CLOCK = 16
/** Added to a request's op when its lease follows (after [now] and [chargedAt]). */
const LEASE_FOLLOWS = 32

/**
 * A lease alone: a consume (acquire) or a refund (release) carrying its lease, of one concurrency
 * check, sent as one argument (then `[now]` with the caller's clock): a letter, the spec index as
 * one character, the lease's digits; where the general layout sends five (op, cost, count, spec
 * index, lease), since every argument costs the client and Redis alike.
 * `LEASE_HEADS[(release ? 1 : 0) + (caller clock ? 2 : 0)][index]` is its first two characters.
 */
/** The highest spec index a lease alone can carry in one character ("~"); a batch with more specs sends it in the general layout. */
const LEASE_HEAD_MAX_INDEX = 78
const LEASE_HEADS: readonly (readonly string[])[] = ['a', 'r', 'A', 'R'].map((letter) =>
  Array.from({ length: LEASE_HEAD_MAX_INDEX + 1 }, (_, index) => (index === 0 ? '' : letter + String.fromCharCode(48 + index))),
)

/** The spec head of a concurrency check. */
const CONCURRENCY_HEAD = `${SCRIPT_KIND.concurrency}:`

/** First number of a reply: the batch arrived after its deadline, nothing was read or written. */
export const REPLY_LATE = -1
/** A request's status in a reply: it failed (the error text follows), nothing of it was written. */
export const STATUS_FAILED = -2
/** A request's status in a reply: denied by a penalty box whose block has a reason, which follows the figures. */
export const STATUS_DENIED_WITH_REASON = 2

/** The figures a decided request gets back: remaining, resetAt, retryAfterMs per check (none for a reset). */
export function figuresOf(call: Call): number {
  return call.op === OP.reset ? 0 : 3 * call.keys.length
}

/** The request may write (a peek, or a look of cost 0, writes nothing). */
export function mayWrite(call: Call): boolean {
  return call.op !== OP.peek && (call.op !== OP.consume || call.cost > 0)
}

/** The request wrote (on the master): a refund, a reset, a charge, or a consume that was `admitted`. */
export function wrote(call: Call, admitted: boolean): boolean {
  return call.op === OP.refund || call.op === OP.reset || call.op === OP.charge || (admitted && call.op === OP.consume && call.cost > 0)
}

/**
 * The `EVALSHA` arguments of a batch: `[sha, numKeys, keys…, deadline, extra TTL, S, spec…, then
 * per call: op, cost, n, spec index…, [now], [chargedAt, charged], [lease]]`. Each distinct spec is sent
 * once and the calls name theirs by index, so the script parses a policy's numbers once per batch.
 * The lease travels as its decimal text, which the script keeps a string (a sorted set member).
 * The lease of one concurrency check alone goes as one argument, `a`/`r` (acquire/release; `A`/`R`
 * with the caller's now, which follows), the spec index as one character (48 + index), its digits.
 * One consume alone of one token bucket or fixed window on the Redis clock, of a cost it can
 * admit, goes compact: `[sha, 1, key, deadline, head, [cost, [extra TTL]]]` (see `Alone` in spec.ts;
 * the cost when not 1, the extra TTL when not 0).
 */
export function encodeBatch(calls: readonly Call[], callerClock: boolean, deadline: number, extraTtlMs: number): unknown[] {
  if (calls.length === 1 && !callerClock) {
    // One consume alone of one token bucket or fixed window: the compact layout, which the script
    // answers before it builds its general machinery (fewer arguments to encode, send and read).
    const call = calls[0]
    const compact = call.alone
    if (compact !== undefined && call.op === OP.consume && call.lease === undefined && call.cost > 0 && call.cost <= compact.capacity) {
      // The cost and the extra TTL go only when they are not the script's defaults (1, 0).
      if (extraTtlMs !== 0) return [DECIDE_SHA, 1, call.keys[0], deadline, compact.head, call.cost, extraTtlMs]
      return call.cost === 1
        ? [DECIDE_SHA, 1, call.keys[0], deadline, compact.head]
        : [DECIDE_SHA, 1, call.keys[0], deadline, compact.head, call.cost]
    }
  }
  const args: unknown[] = [DECIDE_SHA, 0]
  // Keys first; then the distinct specs, found by a scan (a batch names a handful: one per policy).
  const specs: string[] = []
  for (const call of calls) {
    const n = call.keys.length
    for (let i = 0; i < n; i++) {
      args.push(call.keys[i])
      if (!specs.includes(call.specs[i])) specs.push(call.specs[i])
    }
  }
  args[1] = args.length - 2 // the keys come first
  args.push(deadline, extraTtlMs, specs.length)
  for (const spec of specs) args.push(spec)
  const caller = callerClock ? CALLER_CLOCK : 0
  for (const call of calls) {
    const n = call.keys.length
    const lease = call.lease
    if (lease !== undefined && n === 1 && (call.op === OP.consume || call.op === OP.refund) && call.specs[0].startsWith(CONCURRENCY_HEAD)) {
      const index = specs.indexOf(call.specs[0]) + 1
      if (index <= LEASE_HEAD_MAX_INDEX) {
        args.push(LEASE_HEADS[(call.op === OP.refund ? 1 : 0) + (caller === 0 ? 0 : 2)][index] + lease)
        if (caller !== 0) args.push(call.now)
        continue
      }
    }
    args.push(call.op + caller + (lease === undefined ? 0 : LEASE_FOLLOWS), call.cost, n)
    for (let i = 0; i < n; i++) args.push(specs.indexOf(call.specs[i]) + 1)
    if (caller !== 0) args.push(call.now)
    if (call.op === OP.refund) args.push(call.chargedAt, call.charged)
    if (lease !== undefined) args.push(lease)
  }
  return args
}

/** The arguments of an empty batch (no requests), which only reads Redis's clock. */
export const CLOCK_ONLY_ARGS: readonly number[] = [0, -1, 0, 0]

/** The answer of every queued release that succeeded (see `Call.quiet`). */
const RELEASED: StoreResult = Object.freeze({ allowed: true, now: 0, results: Object.freeze([]) as unknown as number[] })

/** A script reply, read: Redis's clock, whether the batch was late, and each call's answer. */
export interface DecodedReply {
  readonly redisNow: number
  /** The batch arrived after its deadline: nothing was read or written. */
  readonly late: boolean
  /**
   * Per call, in order: its result, or Redis's error text when it failed inside the script. From
   * the first answer that doesn't read (a malformed reply) on, `undefined`.
   */
  readonly answers: readonly (StoreResult | { readonly failed: unknown } | undefined)[]
}

/** Reads the reply to a batch of `calls`; `undefined` when it is no reply of the script's. */
export function decodeReply(reply: unknown, calls: readonly Call[]): DecodedReply | undefined {
  const r = reply as unknown[]
  if (!Array.isArray(r) || typeof r[0] !== 'number' || typeof r[1] !== 'number') return undefined
  const redisNow = r[1]
  const answers: (StoreResult | { readonly failed: unknown } | undefined)[] = new Array(calls.length).fill(undefined)
  if (r[0] === REPLY_LATE) return { redisNow, late: true, answers }
  let at = 2
  for (let c = 0; c < calls.length; c++) {
    const call = calls[c]
    const status = r[at++]
    if (status === STATUS_FAILED) {
      answers[c] = { failed: r[at++] }
      continue
    }
    const count = figuresOf(call)
    const reasoned = status === STATUS_DENIED_WITH_REASON
    if ((status !== 0 && status !== 1 && !reasoned) || at + count + (reasoned ? 1 : 0) > r.length) break
    if (call.quiet) {
      // A queued release: nobody reads its answer.
      answers[c] = RELEASED
      at += count + (reasoned ? 1 : 0)
      continue
    }
    const results = r.slice(at, at + count) as number[]
    // Figures beyond 2^53 come as their digits (see the script's end): read them as a number.
    for (let i = 0; i < count; i++) if (typeof results[i] === 'string') results[i] = Number(results[i])
    at += count
    const now = call.now >= 0 ? call.now : redisNow
    if (reasoned) {
      const reason = r[at++]
      // A Buffer when the client returns buffers: its UTF-8 text (the limiter checks what it holds).
      answers[c] = { allowed: false, now, results, reason: typeof reason === 'string' ? reason : String(reason) }
    } else answers[c] = { allowed: status === 1, now, results }
  }
  return { redisNow, late: false, answers }
}
