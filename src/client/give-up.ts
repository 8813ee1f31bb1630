import type { Call } from './call.js'
import type { Said } from './limited-response.js'
import { type GiveUpReason, RateLimitError } from './rate-limit-error.js'
import type { RateLimitInfo } from './rate-limit-info.js'

/** A wait, for a message: ms under a second, else whole seconds (both rounded up). */
function seconds(ms: number): string {
  return ms < 1000 ? `${Math.ceil(ms)} ms` : `${Math.ceil(ms / 1000)} s`
}

/** The error for a call the client gave up on before sending it (`source: 'client'`). */
export function clientGiveUp(
  call: Call,
  why: { reason: GiveUpReason; waitMs?: number; cause?: unknown; lastInfo: RateLimitInfo | undefined },
): RateLimitError {
  const { reason, waitMs, cause, lastInfo: info } = why
  const { method, url, maxWaitMs, waitedMs } = call
  const what = waitMs === undefined ? '' : `; it would have to wait ${seconds(waitMs)} more`
  const message =
    reason === 'store-error'
      ? `${method} ${url.href}: not sent, the store of the shared outgoing budget failed and the limiter denies on store errors`
      : `${method} ${url.href}: not sent, the client's own budget is spent${what} (maxWaitMs ${maxWaitMs}, waited ${Math.round(waitedMs)} ms)`
  return new RateLimitError(message, {
    reason,
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
    attempts: call.attempts,
    waitedMs,
    cause,
  })
}

/** A limited response, as the client learnt it. */
export interface LimitedAnswer {
  readonly response: Response
  readonly info: RateLimitInfo
  readonly said: Said
}

/** The error for a call the server limited and the client will not retry (`source: 'server'` or `'upstream'`). */
export function serverGiveUp(
  call: Call,
  answer: LimitedAnswer,
  why: { reason: GiveUpReason; serverWaitMs: number | undefined },
): RateLimitError {
  const { response, info, said } = answer
  const { reason, serverWaitMs } = why
  const { method, url, maxWaitMs, waitedMs, attempts } = call
  const whose = said.source === 'upstream' ? 'an upstream provider of the API' : 'the server'
  const code = said.info.errorCode === undefined ? '' : ` ${said.info.errorCode}`
  const explain =
    reason === 'not-retryable'
      ? `not retried: ${call.notRetryable ?? ''}`
      : reason === 'retries-exhausted'
        ? `gave up after ${attempts} attempts`
        : serverWaitMs === undefined
          ? `gave up: no time left to back off (maxWaitMs ${maxWaitMs}, waited ${Math.round(waitedMs)} ms)`
          : `gave up: the server asks for ${seconds(serverWaitMs)}, beyond maxWaitMs ${maxWaitMs} (waited ${Math.round(waitedMs)} ms)`
  return new RateLimitError(`${method} ${url.href}: ${response.status}${code}, rate limited by ${whose}; ${explain}`, {
    reason,
    source: said.source,
    method,
    url: url.href,
    status: response.status,
    errorCode: said.info.errorCode,
    serverMessage: said.info.message,
    limit: info.limit,
    remaining: info.remaining,
    resetAt: info.resetAt,
    retryAfterMs: serverWaitMs,
    tier: info.tier ?? said.info.tier,
    rateLimit: info,
    response,
    body: said.body,
    attempts,
    waitedMs,
  })
}
