import { invalid } from '../limiter/errors.js'

/**
 * Headers to read: a Fetch `Headers`, anything with a case-insensitive `get(name)`, a Node
 * `IncomingHttpHeaders`-like object (names in any case, values strings or arrays), or name/value pairs.
 */
export type HeadersLike =
  | Headers
  | { get(name: string): string | null | undefined }
  | Readonly<Record<string, string | readonly string[] | number | undefined>>
  | Iterable<readonly [string, string]>

/** A header's value by its lowercase name; a field sent more than once comes comma-joined. */
export type Lookup = (lowercaseName: string) => string | undefined

/**
 * Turns any supported headers shape into a lookup by lowercase name; throws (naming `where`) only
 * for a non-object.
 */
export function toLookup(where: string, headers: HeadersLike): Lookup {
  if (typeof headers !== 'object' || headers === null) {
    throw invalid(where, 'headers', 'must be a Headers object, a headers record or name/value pairs', headers)
  }
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    return (name) => headers.get(name) ?? undefined
  }
  if (!(headers instanceof Map) && typeof (headers as { get?: unknown }).get === 'function') {
    const source = headers as { get(name: string): string | null | undefined }
    return (name) => {
      const v = source.get(name)
      return typeof v === 'string' ? v : undefined
    }
  }
  const map = new Map<string, string>()
  const add = (name: unknown, value: unknown): void => {
    if (typeof name !== 'string') return
    let text: string | undefined
    if (typeof value === 'string') text = value
    else if (typeof value === 'number') text = String(value)
    else if (Array.isArray(value)) text = value.filter((v) => typeof v === 'string').join(', ')
    if (text === undefined) return
    const key = name.toLowerCase()
    const prev = map.get(key)
    map.set(key, prev === undefined ? text : `${prev}, ${text}`)
  }
  if (Symbol.iterator in headers && typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const entry of headers as Iterable<unknown>) {
      if (Array.isArray(entry)) add(entry[0], entry[1])
    }
  } else {
    for (const name of Object.keys(headers)) add(name, (headers as Record<string, unknown>)[name])
  }
  return (name) => map.get(name)
}
