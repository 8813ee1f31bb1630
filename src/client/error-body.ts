import { whenAborted } from './timing.js'

/** What a 429/503 body says, whatever envelope the API uses. */
export interface LimitedBodyInfo {
  /**
   * The API's own error code: Scalekit `error_code` (`RATE_LIMITED`, `TOOL_ERROR`), managed.dev
   * `error.code` (`rate_limit.exceeded`), skakio `error.code` (`RATE_LIMIT_EXCEEDED`), an RFC 9457
   * problem's `type`, or a generic `code` / `error` string.
   */
  readonly errorCode: string | undefined
  /** The human-readable message (`message`, `error.message`, problem `detail` or `title`). */
  readonly message: string | undefined
  /** The body says the limit is an upstream provider's (`source: "upstream"`). */
  readonly upstream: boolean
  /** A tier named in the body (skakio `error.tier`). */
  readonly tier: string | undefined
  /** Problem `violated-policies` (draft-ietf-httpapi-ratelimit-headers). */
  readonly violatedPolicies: readonly string[] | undefined
}

const EMPTY: LimitedBodyInfo = Object.freeze({
  errorCode: undefined,
  message: undefined,
  upstream: false,
  tier: undefined,
  violatedPolicies: undefined,
})

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
/** Control characters other than tab and newline. */
function hasControl(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || c === 0x7f) return true
  }
  return false
}

/** A short printable string, else `undefined` (bodies are untrusted: never carry huge or control-laden text). */
const text = (v: unknown, max = 500): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= max && !hasControl(v) ? v : undefined

/** Reads the error code and message of a rate-limit body in any of the common envelopes. Never throws. */
export function readLimitedBody(body: unknown): LimitedBodyInfo {
  if (!isObject(body)) return EMPTY
  const error = body.error
  const nested = isObject(error) ? error : undefined
  const firstError = Array.isArray(body.errors) && isObject(body.errors[0]) ? body.errors[0] : undefined
  const errorCode =
    text(body.error_code, 200) ??
    text(nested?.code, 200) ??
    text(nested?.error_code, 200) ??
    text(body.code, 200) ??
    text(firstError?.code, 200) ??
    text(body.type, 2048) ??
    text(error, 200)
  const message =
    text(body.message) ?? text(nested?.message) ?? text(firstError?.message) ?? text(body.detail) ?? text(body.title) ?? undefined
  const violated = body['violated-policies']
  return {
    errorCode,
    message,
    upstream: body.source === 'upstream' || nested?.source === 'upstream',
    tier: text(nested?.tier, 128) ?? text(body.tier, 128),
    violatedPolicies: Array.isArray(violated) ? violated.filter((v): v is string => typeof v === 'string') : undefined,
  }
}

/** Parses a body's text as JSON when it looks like JSON; `undefined` otherwise. Never throws. */
export function parseBodyText(raw: string): unknown {
  const trimmed = raw.trim()
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return trimmed.length > 0 ? raw : undefined
  try {
    return JSON.parse(trimmed) as unknown
  } catch {
    return raw
  }
}

const BODY_LIMIT_BYTES = 64 * 1024
const BODY_TIMEOUT_MS = 1000

/**
 * Reads at most `BODY_LIMIT_BYTES` of a copy of the body, within `BODY_TIMEOUT_MS`, and no longer
 * than `signal` lasts (a fetch may not end the body on abort); the original stays unread.
 */
export async function readBodyCopy(response: Response, signal?: AbortSignal): Promise<unknown> {
  if (signal?.aborted) return undefined
  let copy: Response
  try {
    copy = response.clone()
  } catch {
    return undefined
  }
  const reader = copy.body?.getReader()
  if (reader === undefined) return undefined
  // A server that sends the headers then stalls must not hold the caller: stop reading after a while.
  const stop = (): void => {
    reader.cancel().catch(() => {})
  }
  const timer = setTimeout(stop, BODY_TIMEOUT_MS)
  const unwatch = signal === undefined ? undefined : whenAborted(signal, stop)
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < BODY_LIMIT_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } catch {
    // A failed or cancelled read leaves what was read so far.
  } finally {
    clearTimeout(timer)
    unwatch?.()
    reader.cancel().catch(() => {})
  }
  const bytes = new Uint8Array(Math.min(size, BODY_LIMIT_BYTES))
  let at = 0
  for (const chunk of chunks) {
    if (at >= bytes.length) break
    const part = chunk.subarray(0, bytes.length - at)
    bytes.set(part, at)
    at += part.byteLength
  }
  return parseBodyText(new TextDecoder().decode(bytes))
}
