import type { Decision } from '../limiter/decision.js'
import { RateKeeperError } from '../limiter/errors.js'
import { type Call, leftMs } from './call.js'
import type { ClientParts } from './client-parts.js'
import { clientGiveUp } from './give-up.js'
import type { Pacer, Probe } from './pacer.js'
import { DeadlineError, type RateGate } from './queue.js'
import type { GiveUpReason, RateLimitError } from './rate-limit-error.js'
import { abortable, linkedController } from './timing.js'

/** The error for a call whose own budget (`maxWaitMs`, the shared store) stops it before it is sent. */
function gaveUp(parts: ClientParts, call: Call, reason: GiveUpReason, detail: { waitMs?: number; cause?: unknown } = {}): RateLimitError {
  return clientGiveUp(call, { reason, waitMs: detail.waitMs, cause: detail.cause, lastInfo: parts.pacer?.state(call.key)?.lastInfo })
}

/** Waits at most what is left of `maxWaitMs` for `promise` (a probe's answer); false when that ran out. */
async function within(parts: ClientParts, call: Call, promise: Promise<void>): Promise<boolean> {
  const ms = leftMs(call)
  if (ms <= 0) return false
  const timer = linkedController(call.signal)
  const timeout = parts.options.sleep(ms, timer.signal).then(
    () => false,
    () => false,
  )
  try {
    return await abortable(Promise.race([promise.then(() => true), timeout]), call.signal)
  } finally {
    timer.done()
  }
}

/**
 * Waits for pacing until the budget lets this call go; throws a client RateLimitError past
 * `maxWaitMs`. Returns the probe the call goes as (of a budget whose reset has passed), if any.
 */
export async function pace(parts: ClientParts, call: Call, pacer: Pacer): Promise<Probe | undefined> {
  const { now, sleep } = parts.options
  const { key, signal } = call
  for (;;) {
    const step = pacer.before(key, now())
    if (step.kind === 'go') return step.probing
    const t0 = now()
    if (step.kind === 'sleep') {
      if (step.ms > leftMs(call)) throw gaveUp(parts, call, 'max-wait', { waitMs: step.ms })
      const state = pacer.state(key)
      parts.events.emit('wait', {
        method: call.method,
        url: call.url.href,
        key,
        delayMs: step.ms,
        cause: state !== undefined && state.blockedUntil > t0 ? 'retry-after' : 'exhausted',
      })
      // client.reset() wakes this sleep early: the budget is then checked again.
      const wake = linkedController(signal, pacer.wakeSignal(key))
      let slept = false
      try {
        await sleep(step.ms, wake.signal)
        slept = true
      } catch (error) {
        signal?.throwIfAborted()
        if (!wake.signal.aborted) throw error
      } finally {
        wake.done()
        // A sleep that ends early (an injected one that does not wait) still spends what it was
        // asked for: against a clock that does not move, this loop would otherwise spin for ever.
        call.waitedMs += slept ? Math.max(now() - t0, step.ms) : now() - t0
      }
    } else {
      const answered = await within(parts, call, step.promise)
      call.waitedMs += now() - t0
      if (!answered) throw gaveUp(parts, call, 'max-wait')
    }
  }
}

const isDeadline = (error: unknown): boolean => error instanceof DeadlineError
/** A rate gate is also out of time when its limiter can never admit the cost (`ERR_RK_WAIT`). */
const isRateDeadline = (error: unknown): boolean => isDeadline(error) || (error instanceof RateKeeperError && error.code === 'ERR_RK_WAIT')

/**
 * Waits in one queue (`wait` is given the time it started), adding the time to `waitedMs`; an
 * error that says the call could not be served in time becomes a client RateLimitError.
 */
async function queued<T>(
  parts: ClientParts,
  call: Call,
  queue: { wait: (t0: number) => Promise<T>; outOfTime: (error: unknown) => boolean },
): Promise<T> {
  const { wait, outOfTime } = queue
  const { now } = parts.options
  const t0 = now()
  let result: T
  try {
    result = await wait(t0)
  } catch (error) {
    call.waitedMs += now() - t0
    if (outOfTime(error)) throw gaveUp(parts, call, 'max-wait', { cause: error })
    throw error
  }
  call.waitedMs += now() - t0
  return result
}

/** Waits at a rate gate for the call's units; a store failure the limiter denies on is a client RateLimitError. */
async function admit(parts: ClientParts, call: Call, gate: RateGate): Promise<Decision> {
  const { key, cost, signal } = call
  const decision = await queued(parts, call, {
    wait: (t0) => abortable(gate.admit(key, cost, t0 + leftMs(call), signal), signal),
    outOfTime: isRateDeadline,
  })
  if (!decision.allowed) throw gaveUp(parts, call, 'store-error', { waitMs: decision.retryAfterMs, cause: decision.error })
  return decision
}

/** What a call holds once through the queue: a concurrency slot, and units of the rate limits. */
export interface QueuePlace {
  /** Frees the concurrency slot, and the leases of the limiters' concurrency policies (idempotent). */
  readonly release: () => void
  /** Gives the units back, for a call that is not sent after all. */
  readonly giveBack: () => void
}

/**
 * Takes a concurrency slot, then the units of the rate limits (in-process, then shared); when it
 * fails (a deadline, an abort), what was taken is given back before the error is thrown.
 */
export async function enterQueue(parts: ClientParts, call: Call): Promise<QueuePlace> {
  const { concurrency, localRate, sharedRate } = parts
  const { key, signal } = call
  let release: (() => void) | undefined
  const taken: Array<[RateGate, Decision]> = []
  const place: QueuePlace = {
    release: () => {
      release?.()
      for (const [gate, decision] of taken) gate.release(decision)
    },
    giveBack: () => {
      for (const [gate, decision] of taken) gate.giveBack(key, decision)
    },
  }
  try {
    if (concurrency !== undefined) {
      // Not wrapped in abortable(): the gate handles the signal itself, so a slot granted at the
      // moment of an abort is never lost.
      release = await queued(parts, call, { wait: (t0) => concurrency.acquire(key, t0 + leftMs(call), signal), outOfTime: isDeadline })
    }
    if (localRate !== undefined) taken.push([localRate, await admit(parts, call, localRate)])
    if (sharedRate !== undefined) taken.push([sharedRate, await admit(parts, call, sharedRate)])
    signal?.throwIfAborted()
  } catch (error) {
    place.release()
    place.giveBack()
    throw error
  }
  return place
}
