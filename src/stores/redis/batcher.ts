import type { StoreResult } from '../../limiter/store.js'
import { noop } from './client.js'
import type { Alone, Op } from './spec.js'

/** Most requests in one script call: bounds the call's size and how long it holds Redis. */
export const MAX_BATCH = 128

/** One request (a store call) waiting for its batch, or in flight with it. */
export interface Call {
  /** `performance.now()` after which the call fails. */
  readonly expires: number
  done: boolean
  /** Sent again once already (after Redis judged its batch late too early). */
  resent: boolean
  readonly op: Op
  /** The state key of each check. */
  readonly keys: string[]
  /** The script's numbers of each check. */
  readonly specs: string[]
  /** The compact head of a request of one check that has one (see `encodeBatch`). */
  readonly alone: Alone | undefined
  readonly cost: number
  /** The caller's now (clock 'caller'), else -1. */
  readonly now: number
  /** When the refunded cost was charged (refund only). */
  readonly chargedAt: number
  /** The whole cost charged at `chargedAt` (refund only; at least `cost`). */
  readonly charged: number
  /** The request's lease as decimal text (consume, peek, refund of concurrency checks), else undefined. */
  readonly lease: string | undefined
  /**
   * Batching group: '' on a single node. On a Cluster, the request's keys: one batch is then one
   * slot (never CROSSSLOT), and a batch's requests share every key, so a slot in migration
   * (ASK, TRYAGAIN) treats them all alike: no request fails because of another's keys.
   */
  readonly group: string
  /** The Cluster slot of its keys (-1 on a single node). */
  readonly slot: number
  /** A queued release (`RedisStore.queueRelease`): its answer is not read, only whether it failed. */
  readonly quiet: boolean
  /** Deny cache signature (consume/peek with the cache on). */
  readonly signature: string | undefined
  /** The store's invalidation count when the call was made. */
  readonly invalidations: number
  /** The script call that carries it, once sent. */
  batch: Batch | undefined
  resolve: (result: StoreResult) => void
  reject: (error: Error) => void
}

/** What a new call is made of: everything but its settlement and its batch. */
export type CallFields = Omit<Call, 'done' | 'resent' | 'batch' | 'resolve' | 'reject'>

/**
 * A call not yet settled or sent, and the promise its settlement settles. Every field is written
 * out, in one order: a call is made per store request, and objects of one shape keep the hot path
 * monomorphic (spreading `fields` here cost a third of the store's CPU time).
 */
export function newCall(f: CallFields): { call: Call; promise: Promise<StoreResult> } {
  const call = callOf(f)
  const promise = new Promise<StoreResult>((resolve, reject) => {
    call.resolve = resolve
    call.reject = reject
  })
  return { call, promise }
}

/** A call settled through `resolve` and `reject` given afterwards, with no promise of its own. */
export function callOf(f: CallFields): Call {
  return {
    expires: f.expires,
    done: false,
    resent: false,
    op: f.op,
    keys: f.keys,
    specs: f.specs,
    alone: f.alone,
    cost: f.cost,
    now: f.now,
    chargedAt: f.chargedAt,
    charged: f.charged,
    lease: f.lease,
    group: f.group,
    slot: f.slot,
    quiet: f.quiet,
    signature: f.signature,
    invalidations: f.invalidations,
    batch: undefined,
    resolve: noop,
    reject: noop,
  }
}

/** A script call of `calls` (one group's) about to be sent; each call is marked as carried by it. */
export function newBatch(calls: Call[], fields: Pick<Batch, 'args' | 'expires' | 'sentAt' | 'node' | 'probe'>): Batch {
  const batch: Batch = {
    calls,
    args: fields.args,
    expires: fields.expires,
    sentAt: fields.sentAt,
    resent: false,
    group: calls[0].group,
    node: fields.node,
    back: false,
    probe: fields.probe,
    seq: 0,
    live: calls.length,
    open: true,
  }
  for (const call of calls) call.batch = batch
  return batch
}

/** One script call: the requests it decides, in order. */
export interface Batch {
  readonly calls: Call[]
  /** `[sha or script, numKeys, keys…, argv…]`, as passed to evalsha/eval. */
  readonly args: unknown[]
  /** The earliest deadline of its calls (`performance.now()` ms). */
  readonly expires: number
  /** Local wall-clock ms when the batch was sent. */
  readonly sentAt: number
  /** Sent whole once more already (after NOSCRIPT). */
  resent: boolean
  readonly group: string
  /** The node it went to ('' on a single node, else the slot's master `host:port` when sent). */
  node: string
  /** Its reply (or an error) came back; until then it sits in the client's queue. */
  back: boolean
  /** Sent to a down node to find out whether it is back. */
  probe: boolean
  /** Its number among the calls sent to its node. */
  seq: number
  /** Its calls not settled yet. */
  live: number
  /** Counted in flight: until it is answered or every call of it has settled (a deadline). */
  open: boolean
}

/**
 * Groups calls into script calls. With no script call of its group in flight, a call goes at the
 * end of the current tick (nextTick), so an idle store adds no delay and requests made together
 * go together. While one is in flight, new calls wait for it to come back (or for every call in
 * it to reach its deadline) and then go in one script call: Redis answers the requests of one
 * connection in order anyway, so waiting costs them little, and one call instead of many saves
 * both Node and Redis a command, a write and a read per request. A full batch goes at once.
 */
export class Batcher {
  /** Calls waiting for their batch, by group. */
  #pending = new Map<string, Call[]>()
  #scheduled = false
  /** Script calls in flight per group (one, or more when a full batch went out meanwhile). */
  #busy = new Map<string, number>()
  /** Sends the calls of one batch (some may have settled meanwhile). */
  readonly #send: (calls: Call[]) => void

  constructor(send: (calls: Call[]) => void) {
    this.#send = send
  }

  /** Adds a call to its group's next batch. */
  enqueue(call: Call): void {
    let list = this.#pending.get(call.group)
    if (list === undefined) {
      list = []
      this.#pending.set(call.group, list)
    }
    list.push(call)
    if (list.length >= MAX_BATCH) {
      this.#pending.delete(call.group)
      this.#send(list)
      return
    }
    if (!this.#busy.has(call.group)) this.#kick()
  }

  /** A script call of `batch`'s group went out: it counts as in flight until {@link close}. */
  open(batch: Batch): void {
    this.#busy.set(batch.group, (this.#busy.get(batch.group) ?? 0) + 1)
  }

  /** A call settled: its script call stops counting as in flight once all of its calls have. */
  release(call: Call): void {
    const batch = call.batch
    if (batch === undefined || !batch.open || --batch.live > 0) return
    this.close(batch)
  }

  /** A script call stops counting as in flight (answered, or every call of it settled). */
  close(batch: Batch): void {
    if (!batch.open) return
    batch.open = false
    const left = (this.#busy.get(batch.group) ?? 1) - 1
    if (left > 0) {
      this.#busy.set(batch.group, left)
      return
    }
    this.#busy.delete(batch.group)
    if (this.#pending.has(batch.group)) this.#kick()
  }

  /** Schedules the pending batches to go (those of groups with a call in flight wait for it). */
  #kick(): void {
    if (this.#scheduled || this.#pending.size === 0) return
    this.#scheduled = true
    process.nextTick(this.#flush)
  }

  #flush = (): void => {
    this.#scheduled = false
    for (const [group, calls] of this.#pending) {
      if (this.#busy.has(group)) continue
      this.#pending.delete(group)
      this.#send(calls)
    }
  }
}
