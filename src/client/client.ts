import type { Decision } from '../limiter/decision.js'
import { ConfigurationError, RateKeeperError } from '../limiter/errors.js'
import { type LimitedBodyInfo, readBodyCopy, readLimitedBody } from './error-body.js'
import { ClientEmitter, type ClientEventName, type ClientEvents } from './events.js'
import { type ClientOptions, type ClientRequestInit, checkRequestOptions, compileOptions, type RequestRateLimitOptions } from './options.js'
import { type BudgetState, Pacer, serverWaitMs } from './pacer.js'
import { parseRateLimitHeaders } from './parse-headers.js'
import { ConcurrencyGate, DeadlineError, RateGate } from './queue.js'
import { type GiveUpReason, RateLimitError, type RateLimitSource } from './rate-limit-error.js'
import type { RateLimitInfo } from './rate-limit-info.js'
import { abortable, fullJitterDelay } from './timing.js'

/** The function {@link createClient} returns: a `fetch`, plus a few ways to watch it. */
export interface RateLimitedFetch {
  (input: string | URL | Request, init?: ClientRequestInit): Promise<Response>
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends ClientEventName>(event: E, listener: (payload: ClientEvents[E]) => void): () => void
  /** What the client knows about a budget (by key: the origin, by default), or `undefined` when nothing yet. */
  budget(key: string): BudgetState | undefined
  /**
   * Forgets what the client learnt of one budget (by key: the origin, by default), or of every
   * budget when called without a key: its block, its remaining quota. Calls waiting on it check
   * again at once. The queue's own limits (`queue`, `limiter`) are not touched.
   */
  reset(key?: string): void
}

/** What a limited response's body said. */
interface Said {
  readonly body: unknown
  readonly info: LimitedBodyInfo
  readonly source: RateLimitSource
}

/**
 * An AbortController that also aborts when any of `signals` does; `done()` detaches it (always call
 * it, so that a long-lived signal does not collect listeners).
 */
function linkedController(...signals: (AbortSignal | undefined)[]): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController()
  const onAbort = (event: Event): void => controller.abort((event.target as AbortSignal).reason)
  const attached: AbortSignal[] = []
  for (const s of signals) {
    if (s === undefined) continue
    if (s.aborted) {
      controller.abort(s.reason)
      break
    }
    s.addEventListener('abort', onAbort, { once: true })
    attached.push(s)
  }
  return {
    signal: controller.signal,
    done: () => {
      for (const s of attached) s.removeEventListener('abort', onAbort)
      controller.abort()
    },
  }
}

const CALL_WHERE = 'client()'

/** A request body that can be sent again: anything but a stream or an async iterable. */
function isReplayableBody(body: unknown): boolean {
  if (body === undefined || body === null) return true
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return false
  if (typeof body === 'object' && (Symbol.asyncIterator in body || typeof (body as { pipe?: unknown }).pipe === 'function')) return false
  return true
}

function discard(response: Response): void {
  response.body?.cancel().catch(() => {})
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.ceil(ms)} ms` : `${Math.ceil(ms / 1000)} s`
}

/**
 * Creates a `fetch` that follows the rate-limit rules servers send: it learns every response's
 * headers (any dialect), holds requests back when the budget is spent, retries 429/503 after the
 * larger of `Retry-After` and a capped full-jitter backoff (idempotent methods, or requests that
 * opt in), can queue outgoing requests at a rate and concurrency, optionally through a shared
 * ratekeeper limiter, and throws a {@link RateLimitError} when it gives up.
 *
 * The result has the signature of `fetch`, so it can be handed to any SDK that accepts one.
 *
 * @example
 * const api = createClient({ baseUrl: 'https://api.example.com', queue: { rate: { limit: 2, window: '1s' } } })
 * const res = await api('/v1/items')
 */
export function createClient(options: ClientOptions = {}): RateLimitedFetch {
  const o = compileOptions(options)
  const { now, sleep, random, retries, baseDelayMs, maxDelayMs, statuses, methods, maxWaitMs, maxBlockMs, onLimited, upstreamCodes } = o
  const { xRateLimitReset } = o
  const baseUrl = o.baseUrl
  const keyOf = o.key
  const fetchImpl = o.fetch
  const pacer = o.paceThreshold === undefined ? undefined : new Pacer(o.paceThreshold, maxBlockMs)
  const concurrency = o.concurrency === undefined ? undefined : new ConcurrencyGate(o.concurrency, now, sleep)
  const localRate = o.localRate === undefined ? undefined : new RateGate(o.localRate.limiter, now, sleep)
  const localBurst = o.localRate?.burst ?? Number.POSITIVE_INFINITY
  const sharedRate = o.limiter === undefined ? undefined : new RateGate(o.limiter, now, sleep)
  const events = new ClientEmitter()
  const emit = <E extends ClientEventName>(event: E, payload: ClientEvents[E]): void => events.emit(event, payload)

  const call = async (input: string | URL | Request, init?: ClientRequestInit): Promise<Response> => {
    const isRequest = typeof Request !== 'undefined' && input instanceof Request
    if (!isRequest && typeof input !== 'string' && !(input instanceof URL)) {
      throw new ConfigurationError('ERR_RK_INVALID_ARGUMENT', CALL_WHERE, 'input', 'must be a URL string, a URL or a Request', input)
    }
    let perCall: RequestRateLimitOptions = {}
    let fetchInit: RequestInit | undefined = init
    if (init !== undefined) {
      if (typeof init !== 'object' || init === null) {
        throw new ConfigurationError('ERR_RK_INVALID_ARGUMENT', CALL_WHERE, 'init', 'must be an object', init)
      }
      if (init.rateLimit !== undefined) {
        const { rateLimit, ...rest } = init
        fetchInit = rest
        perCall = checkRequestOptions(rateLimit)
      }
    }
    const request = isRequest ? (input as Request) : undefined
    let url: URL
    try {
      url = request !== undefined ? new URL(request.url) : baseUrl !== undefined ? new URL(String(input), baseUrl) : new URL(String(input))
    } catch (cause) {
      throw new TypeError(
        `${CALL_WHERE}: invalid URL ${JSON.stringify(String(input))}${baseUrl === undefined ? ' (relative URLs need the baseUrl option)' : ''}`,
        {
          cause,
        },
      )
    }
    const target: string | Request = request ?? url.href
    const method = (fetchInit?.method ?? request?.method ?? 'GET').toUpperCase()
    const signal = fetchInit?.signal ?? request?.signal ?? undefined
    const key = perCall.key ?? keyOf(url, method)
    if (typeof key !== 'string' || key.length === 0) {
      throw new ConfigurationError('ERR_RK_INVALID_OPTION', 'createClient()', 'key', 'must return a non-empty string', key)
    }
    const cost = perCall.cost ?? 1
    if (cost > localBurst) {
      throw new ConfigurationError(
        'ERR_RK_INVALID_ARGUMENT',
        CALL_WHERE,
        'rateLimit.cost',
        `must be at most queue.rate.burst (${localBurst})`,
        cost,
      )
    }
    const budget = perCall.maxWaitMs ?? maxWaitMs

    // May this request be sent more than once?
    const bodyReplayable = request !== undefined && fetchInit?.body === undefined ? true : isReplayableBody(fetchInit?.body)
    let retryable: boolean
    let notRetryableWhy = ''
    if (retries === 0 || perCall.retry === false) {
      retryable = false
      notRetryableWhy = 'retries are off'
    } else if (!bodyReplayable) {
      retryable = false
      notRetryableWhy = 'its body is a stream, which cannot be sent twice'
    } else if (perCall.retry === true || methods.has(method)) {
      retryable = true
    } else {
      const headers = new Headers(fetchInit?.headers !== undefined ? fetchInit.headers : request?.headers)
      retryable = headers.has('idempotency-key')
      if (!retryable) notRetryableWhy = `${method} is not idempotent (opt in with rateLimit: { retry: true } or an Idempotency-Key header)`
    }
    // A Request with a body is consumed by sending: send copies, keeping the original to copy from.
    const cloneEachTime = retryable && request !== undefined && request.body !== null && fetchInit?.body === undefined

    let waitedMs = 0
    let attempts = 0
    const left = (): number => budget - waitedMs

    const clientError = (why: GiveUpReason, waitMs: number | undefined, cause?: unknown): RateLimitError => {
      const info = pacer?.state(key)?.lastInfo
      const what = waitMs === undefined ? '' : `; it would have to wait ${seconds(waitMs)} more`
      const message =
        why === 'store-error'
          ? `${method} ${url.href}: not sent, the store of the shared outgoing budget failed and the limiter denies on store errors`
          : `${method} ${url.href}: not sent, the client's own budget is spent${what} (maxWaitMs ${budget}, waited ${Math.round(waitedMs)} ms)`
      return new RateLimitError(message, {
        reason: why,
        source: 'client',
        method,
        url: url.href,
        status: undefined,
        errorCode: undefined,
        serverMessage: undefined,
        limit: info?.limit,
        remaining: info?.remaining,
        resetAt: info?.resetAt,
        retryAfterMs: waitMs,
        tier: info?.tier,
        rateLimit: info,
        response: undefined,
        body: undefined,
        attempts,
        waitedMs,
        cause,
      })
    }

    /** Waits at a queue gate; converts its deadline and give-up errors into a client RateLimitError. */
    const admit = async (gate: RateGate): Promise<Decision> => {
      const t0 = now()
      let decision: Decision
      try {
        decision = await abortable(gate.admit(key, cost, t0 + left(), signal), signal)
      } catch (error) {
        waitedMs += now() - t0
        if (error instanceof DeadlineError) throw clientError('max-wait', undefined, error)
        if (error instanceof RateKeeperError && error.code === 'ERR_RK_WAIT') throw clientError('max-wait', undefined, error)
        throw error
      }
      waitedMs += now() - t0
      if (!decision.allowed) throw clientError('store-error', decision.retryAfterMs, decision.error)
      return decision
    }

    /** Waits at most what is left of `maxWaitMs` for `promise` (a probe's answer); false when that ran out. */
    const within = async (promise: Promise<void>): Promise<boolean> => {
      const ms = left()
      if (ms <= 0) return false
      const timer = linkedController(signal)
      const timeout = sleep(ms, timer.signal).then(
        () => false,
        () => false,
      )
      try {
        return await abortable(Promise.race([promise.then(() => true), timeout]), signal)
      } finally {
        timer.done()
      }
    }

    /** Waits for pacing until the budget lets this call go; throws a client RateLimitError past `maxWaitMs`. */
    const pace = async (p: Pacer): Promise<boolean> => {
      for (;;) {
        const step = p.before(key, now())
        if (step.kind === 'go') return step.probing
        const t0 = now()
        if (step.kind === 'sleep') {
          if (step.ms > left()) throw clientError('max-wait', step.ms)
          const state = p.state(key)
          emit('wait', {
            method,
            url: url.href,
            key,
            delayMs: step.ms,
            cause: state !== undefined && state.blockedUntil > t0 ? 'retry-after' : 'exhausted',
          })
          // client.reset() wakes this sleep early: the budget is then checked again.
          const wake = linkedController(signal, p.wakeSignal(key))
          try {
            await sleep(step.ms, wake.signal)
          } catch (error) {
            signal?.throwIfAborted()
            if (!wake.signal.aborted) throw error
          } finally {
            wake.done()
            waitedMs += now() - t0
          }
        } else {
          const answered = await within(step.promise)
          waitedMs += now() - t0
          if (!answered) throw clientError('max-wait', undefined)
        }
      }
    }

    for (;;) {
      signal?.throwIfAborted()

      // 1. Pacing: respect what the server said about this budget.
      let probing = pacer === undefined ? false : await pace(pacer)

      // 2. Queue: a concurrency slot, then the rate limits (in-process, then shared).
      let release: (() => void) | undefined
      // Units taken from the rate limits, given back if the call is not sent after all.
      const taken: Array<[RateGate, Decision]> = []
      const giveBack = (): void => {
        for (const [gate, decision] of taken) gate.giveBack(key, decision)
      }
      try {
        if (concurrency !== undefined) {
          const t0 = now()
          try {
            // Not wrapped in abortable(): the gate handles the signal itself, so a slot granted at the
            // moment of an abort is never lost.
            release = await concurrency.acquire(key, t0 + left(), signal)
          } catch (error) {
            waitedMs += now() - t0
            if (error instanceof DeadlineError) throw clientError('max-wait', undefined, error)
            throw error
          }
          waitedMs += now() - t0
        }
        if (localRate !== undefined) taken.push([localRate, await admit(localRate)])
        if (sharedRate !== undefined) taken.push([sharedRate, await admit(sharedRate)])
        signal?.throwIfAborted()
      } catch (error) {
        release?.()
        giveBack()
        pacer?.abandon(key, probing, undefined)
        throw error
      }

      // 2b. A call that waited in the queue checks the budget again: a Retry-After (or the last unit
      // spent) may have arrived meanwhile. Checked and counted with no await in between.
      if (pacer !== undefined && (concurrency !== undefined || localRate !== undefined || sharedRate !== undefined)) {
        const step = pacer.before(key, now(), probing)
        if (step.kind !== 'go') {
          release?.()
          giveBack()
          pacer.abandon(key, probing, undefined)
          continue
        }
        probing = step.probing
      }

      // 3. Send. The concurrency slot is held until the answer is learnt, so that the next call out of
      // the queue sees a Retry-After it carried.
      attempts++
      const ticket = pacer?.sent(key, now())
      let response: Response
      let info: RateLimitInfo
      let limited: boolean
      let said: Said | undefined
      try {
        try {
          response = await fetchImpl(cloneEachTime ? (target as Request).clone() : target, fetchInit)
        } catch (error) {
          pacer?.abandon(key, probing, ticket)
          throw error
        }

        // 4. Learn. A 403 that carries an exhausted rate-limit header set (GitHub's primary limit) or a
        // Retry-After is a rate-limit answer too.
        const at = now()
        info = parseRateLimitHeaders(response.headers, { now: at, xRateLimitReset })
        limited =
          statuses.includes(response.status) ||
          (response.status === 403 && ((info.remaining === 0 && info.resetAt !== undefined) || info.retryAfterMs !== undefined))
        if (limited) {
          try {
            said = await readSaid(response)
          } catch (error) {
            if (pacer !== undefined && ticket !== undefined) pacer.received(key, now(), info, true, probing, ticket)
            throw error
          }
        }
        // An upstream provider's limit holds back this call only, not the API's whole budget.
        if (pacer !== undefined && ticket !== undefined) {
          pacer.received(key, at, info, limited, probing, ticket, said?.source === 'upstream' ? 'call' : 'budget')
        }
      } finally {
        release?.()
      }
      emit('response', { method, url: url.href, key, attempt: attempts, status: response.status, rateLimit: info })
      if (!limited || said === undefined) return response

      // 5. Retry or give up. The server's wait: Retry-After, or the reset when nothing remains, the later of the two when within rounding (see serverWaitMs).
      const serverWait = serverWaitMs(info)
      // No answer can push a wait beyond maxBlockMs: after it, the retry probes.
      const cappedWait = serverWait === undefined ? undefined : Math.min(serverWait, maxBlockMs)
      let why: GiveUpReason | undefined
      let delayMs = 0
      if (!retryable) why = 'not-retryable'
      else if (attempts > retries) why = 'retries-exhausted'
      else {
        delayMs = Math.max(cappedWait ?? 0, fullJitterDelay(attempts - 1, baseDelayMs, maxDelayMs, random))
        if ((cappedWait !== undefined && cappedWait > left()) || left() <= 0) why = 'max-wait'
        else delayMs = Math.min(delayMs, left())
      }
      if (why !== undefined) {
        if (onLimited === 'return') return response
        throw serverError(response, info, why, serverWait, said)
      }
      emit('retry', { method, url: url.href, key, retry: attempts, status: response.status, delayMs, serverWaitMs: serverWait })
      discard(response)
      await sleep(delayMs, signal)
      waitedMs += delayMs
    }

    /** Reads a copy of a limited response's body: the API's error code, and whose limit it was. */
    async function readSaid(response: Response): Promise<Said> {
      const body = await readBodyCopy(response)
      signal?.throwIfAborted()
      const info = readLimitedBody(body)
      const source: RateLimitSource =
        info.upstream || (info.errorCode !== undefined && upstreamCodes.has(info.errorCode)) ? 'upstream' : 'server'
      return { body, info, source }
    }

    function serverError(
      response: Response,
      info: RateLimitInfo,
      why: GiveUpReason,
      serverWaitMs: number | undefined,
      { body, info: said, source }: Said,
    ): RateLimitError {
      const whose = source === 'upstream' ? 'an upstream provider of the API' : 'the server'
      const code = said.errorCode === undefined ? '' : ` ${said.errorCode}`
      const explain =
        why === 'not-retryable'
          ? `not retried: ${notRetryableWhy}`
          : why === 'retries-exhausted'
            ? `gave up after ${attempts} attempts`
            : serverWaitMs === undefined
              ? `gave up: no time left to back off (maxWaitMs ${budget}, waited ${Math.round(waitedMs)} ms)`
              : `gave up: the server asks for ${seconds(serverWaitMs)}, beyond maxWaitMs ${budget} (waited ${Math.round(waitedMs)} ms)`
      return new RateLimitError(`${method} ${url.href}: ${response.status}${code}, rate limited by ${whose}; ${explain}`, {
        reason: why,
        source,
        method,
        url: url.href,
        status: response.status,
        errorCode: said.errorCode,
        serverMessage: said.message,
        limit: info.limit,
        remaining: info.remaining,
        resetAt: info.resetAt,
        retryAfterMs: serverWaitMs,
        tier: info.tier ?? said.tier,
        rateLimit: info,
        response,
        body,
        attempts,
        waitedMs,
      })
    }
  }

  const client = call as RateLimitedFetch
  client.on = (event, listener) => events.on(event, listener)
  client.budget = (key) => pacer?.state(key)
  client.reset = (key) => {
    if (key !== undefined && (typeof key !== 'string' || key.length === 0)) {
      throw new ConfigurationError(
        'ERR_RK_INVALID_ARGUMENT',
        'client.reset()',
        'key',
        'must be a budget key (a non-empty string) or omitted',
        key,
      )
    }
    pacer?.reset(key)
  }
  return client
}
