import { type LimitedBodyInfo, readBodyCopy, readLimitedBody } from './error-body.js'
import type { RateLimitSource } from './rate-limit-error.js'
import type { RateLimitInfo } from './rate-limit-info.js'

/**
 * Whether a response is a rate-limit answer: one of the `statuses` (429, 503), or a 403 that
 * carries an exhausted rate-limit header set (GitHub's primary limit) or a `Retry-After`.
 */
export function isLimitedResponse(status: number, info: RateLimitInfo, statuses: readonly number[]): boolean {
  return (
    statuses.includes(status) ||
    (status === 403 && ((info.remaining === 0 && info.resetAt !== undefined) || info.retryAfterMs !== undefined))
  )
}

/** What a limited response's body said. */
export interface Said {
  readonly body: unknown
  readonly info: LimitedBodyInfo
  /** Whose limit it was: an upstream provider's (by the body's `source` or error code), else the server's. */
  readonly source: RateLimitSource
}

/** Reads a copy of a limited response's body: the API's error code, and whose limit it was. */
export async function readSaid(response: Response, signal: AbortSignal | undefined, upstreamCodes: ReadonlySet<string>): Promise<Said> {
  const body = await readBodyCopy(response, signal)
  signal?.throwIfAborted()
  const info = readLimitedBody(body)
  const source: RateLimitSource =
    info.upstream || (info.errorCode !== undefined && upstreamCodes.has(info.errorCode)) ? 'upstream' : 'server'
  return { body, info, source }
}

/** Lets go of a response that will not be returned, so that its connection is freed. */
export function discard(response: Response): void {
  response.body?.cancel().catch(() => {})
}
