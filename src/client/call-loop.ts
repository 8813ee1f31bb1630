import { ConfigurationError } from '../limiter/errors.js'
import { type Call, leftMs } from './call.js'
import { enterQueue, pace, type QueuePlace } from './call-waits.js'
import type { ClientParts } from './client-parts.js'
import { serverGiveUp } from './give-up.js'
import { discard, isLimitedResponse, readSaid, type Said } from './limited-response.js'
import { type Probe, serverWaitMs } from './pacer.js'
import { parseRateLimitHeaders } from './parse-headers.js'
import type { GiveUpReason } from './rate-limit-error.js'
import type { RateLimitInfo } from './rate-limit-info.js'
import { fullJitterDelay, linkedController } from './timing.js'

/** What the client reads of an answer: a status and headers (a fetch of another library has its own Response class). */
function isResponseLike(value: unknown): value is Response {
  const r = value as Partial<Response> | null
  return typeof r === 'object' && r !== null && typeof r.status === 'number' && typeof r.headers === 'object' && r.headers !== null
}

/** A response and what the client learnt from it; `said` is set for a rate-limit answer. */
interface Answer {
  readonly response: Response
  readonly info: RateLimitInfo
  readonly said: Said | undefined
}

/**
 * Sends the call once and learns the answer: its headers, and for a rate-limit answer its body.
 * The concurrency slot is held until the answer is learnt, so that the next call out of the queue
 * sees a Retry-After it carried.
 */
async function sendAndLearn(parts: ClientParts, call: Call, held: { place: QueuePlace; probing: Probe | undefined }): Promise<Answer> {
  const { place, probing } = held
  const { pacer, options } = parts
  const { now } = options
  const { key } = call
  call.attempts++
  const ticket = pacer?.sent(key, now())
  try {
    let response: Response
    try {
      response = await options.fetch(call.cloneEachTime ? (call.target as Request).clone() : call.target, call.fetchInit)
      if (!isResponseLike(response)) {
        throw new ConfigurationError('ERR_RK_INVALID_OPTION', 'createClient()', 'fetch', 'must resolve to a Response', response, {
          requestTime: true,
        })
      }
    } catch (error) {
      pacer?.abandon(key, probing, ticket)
      throw error
    }
    const at = now()
    const info = parseRateLimitHeaders(response.headers, { now: at, xRateLimitReset: options.xRateLimitReset })
    const limited = isLimitedResponse(response.status, info, options.statuses)
    let said: Said | undefined
    if (limited) {
      try {
        said = await readSaid(response, call.signal, options.upstreamCodes)
      } catch (error) {
        if (pacer !== undefined && ticket !== undefined) pacer.received(key, now(), info, true, probing, ticket)
        throw error
      }
    }
    // An upstream provider's limit holds back this call only, not the API's whole budget.
    if (pacer !== undefined && ticket !== undefined) {
      pacer.received(key, at, info, limited, probing, ticket, said?.source === 'upstream' ? 'call' : 'budget')
    }
    return { response, info, said }
  } finally {
    place.release()
  }
}

/** After a rate-limit answer: retry after `delayMs`, or give up. */
type RetryStep = { readonly kind: 'retry'; readonly delayMs: number } | { readonly kind: 'give-up'; readonly reason: GiveUpReason }

/**
 * Whether to retry, and after how long: the larger of the server's wait (capped at `maxBlockMs`,
 * after which the retry probes) and the jittered backoff, within what is left of `maxWaitMs`.
 */
function retryStep(parts: ClientParts, call: Call, serverWait: number | undefined): RetryStep {
  const { retries, maxBlockMs, baseDelayMs, maxDelayMs, random } = parts.options
  if (call.notRetryable !== undefined) return { kind: 'give-up', reason: 'not-retryable' }
  if (call.attempts > retries) return { kind: 'give-up', reason: 'retries-exhausted' }
  const cappedWait = serverWait === undefined ? undefined : Math.min(serverWait, maxBlockMs)
  const delayMs = Math.max(cappedWait ?? 0, fullJitterDelay(call.attempts - 1, baseDelayMs, maxDelayMs, random))
  const left = leftMs(call)
  if ((cappedWait !== undefined && cappedWait > left) || left <= 0) return { kind: 'give-up', reason: 'max-wait' }
  return { kind: 'retry', delayMs: Math.min(delayMs, left) }
}

/** Sleeps `delayMs` before a retry; `client.reset()` of the call's budget ends the sleep early. */
async function sleepBeforeRetry(parts: ClientParts, call: Call, delayMs: number): Promise<void> {
  const { now, sleep } = parts.options
  const { signal } = call
  const t0 = now()
  const wake = linkedController(signal, parts.pacer?.wakeSignal(call.key))
  try {
    await sleep(delayMs, wake.signal)
    call.waitedMs += delayMs
  } catch (error) {
    signal?.throwIfAborted()
    if (!wake.signal.aborted) throw error
    call.waitedMs += Math.min(delayMs, Math.max(0, now() - t0))
  } finally {
    wake.done()
  }
}

/**
 * Runs one call to its end: pacing, the queue, sending, learning, and retrying a rate-limit answer
 * until it is not one, or the client gives up (throwing a RateLimitError, or returning the answer
 * with `onLimited: 'return'`).
 */
export async function runCall(parts: ClientParts, call: Call): Promise<Response> {
  const { pacer, events, options } = parts
  const { key, method, signal } = call
  for (;;) {
    signal?.throwIfAborted()

    // 1. Pacing: respect what the server said about this budget.
    let probing = pacer === undefined ? undefined : await pace(parts, call, pacer)

    // 2. Queue: a concurrency slot, then the rate limits.
    let place: QueuePlace
    try {
      place = await enterQueue(parts, call)
    } catch (error) {
      pacer?.abandon(key, probing, undefined)
      throw error
    }

    // 2b. The budget is checked again, and counted by sending, with no await in between: calls
    // started together all passed pacing before any was counted (and a call that waited in the
    // queue may meet a Retry-After, or the last unit spent, that arrived meanwhile).
    if (pacer !== undefined) {
      const step = pacer.before(key, options.now(), probing)
      if (step.kind !== 'go') {
        place.release()
        place.giveBack()
        pacer.abandon(key, probing, undefined)
        continue
      }
      probing = step.probing
    }

    // 3. Send, and 4. learn.
    const { response, info, said } = await sendAndLearn(parts, call, { place, probing })
    events.emit('response', { method, url: call.url.href, key, attempt: call.attempts, status: response.status, rateLimit: info })
    if (said === undefined) return response

    // 5. Retry or give up. The server's wait: Retry-After, or the reset when nothing remains, the later of the two when within rounding (see serverWaitMs).
    const serverWait = serverWaitMs(info)
    const next = retryStep(parts, call, serverWait)
    if (next.kind === 'give-up') {
      if (options.onLimited === 'return') return response
      throw serverGiveUp(call, { response, info, said }, { reason: next.reason, serverWaitMs: serverWait })
    }
    const { delayMs } = next
    events.emit('retry', {
      method,
      url: call.url.href,
      key,
      retry: call.attempts,
      status: response.status,
      delayMs,
      serverWaitMs: serverWait,
    })
    discard(response)
    await sleepBeforeRetry(parts, call, delayMs)
  }
}
