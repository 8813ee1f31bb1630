import { MAX_MEMBERS } from './reset-time.js'
/**
 * A lenient, exception-free reader of structured-field Lists (RFC 9651) as rate-limit headers use
 * them: `"name";q=100;w=60, 1000;w=86400`. Response headers are untrusted, so it reads in one pass
 * over a bounded field: a field longer than {@link MAX_FIELD_LENGTH} is ignored whole, at most
 * {@link MAX_MEMBERS} members are looked at, and a malformed member is skipped without throwing.
 * Inner lists are skipped (no rate-limit field uses them).
 */

/** Longest field read, in characters; a longer one is ignored whole. */
export const MAX_FIELD_LENGTH = 8192
/** Most list members looked at; the rest of a field is ignored (the legacy fields' rule too). */
export { MAX_MEMBERS }

/** A bare item. Binary items keep their base64 text. */
export type FieldValue =
  | { readonly type: 'integer' | 'decimal'; readonly value: number }
  | { readonly type: 'string' | 'token' | 'binary'; readonly value: string }
  | { readonly type: 'boolean'; readonly value: boolean }

/** One list member: an item and its parameters. */
export interface FieldMember {
  readonly value: FieldValue
  readonly params: ReadonlyMap<string, FieldValue>
}

interface Cursor {
  i: number
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
const isLcalpha = (c: number): boolean => c >= 0x61 && c <= 0x7a
/** tchar (RFC 9110) plus ':' and '/', the characters a token may hold after its first. */
const TOKEN_CHARS = "!#$%&'*+-.^_`|~:/"
const isTokenChar = (c: number): boolean => isAlpha(c) || isDigit(c) || TOKEN_CHARS.includes(String.fromCharCode(c))
const isKeyChar = (c: number): boolean => isLcalpha(c) || isDigit(c) || c === 0x5f || c === 0x2d || c === 0x2e || c === 0x2a
const isBase64 = (c: number): boolean => isAlpha(c) || isDigit(c) || c === 0x2b || c === 0x2f || c === 0x3d

/** Reads a bare item at the cursor; `undefined` (cursor anywhere) when there is none. */
function bareItem(s: string, at: Cursor): FieldValue | undefined {
  let i = at.i
  const c = s.charCodeAt(i)
  if (c === 0x22) {
    // String: printable ASCII, with \" and \\ the only escapes.
    let out = ''
    for (i++; i < s.length; i++) {
      const d = s.charCodeAt(i)
      if (d === 0x5c) {
        const e = s.charCodeAt(++i)
        if (e !== 0x22 && e !== 0x5c) return undefined
        out += s[i]
      } else if (d === 0x22) {
        at.i = i + 1
        return { type: 'string', value: out }
      } else if (d < 0x20 || d > 0x7e) return undefined
      else out += s[i]
    }
    return undefined
  }
  if (c === 0x3a) {
    // Byte sequence: base64 between colons.
    const start = ++i
    while (i < s.length && isBase64(s.charCodeAt(i))) i++
    if (s.charCodeAt(i) !== 0x3a) return undefined
    at.i = i + 1
    return { type: 'binary', value: s.slice(start, i) }
  }
  if (c === 0x3f) {
    const d = s.charCodeAt(i + 1)
    if (d !== 0x30 && d !== 0x31) return undefined
    at.i = i + 2
    return { type: 'boolean', value: d === 0x31 }
  }
  if (isDigit(c) || c === 0x2d) {
    const start = i
    if (c === 0x2d) i++
    const intStart = i
    while (i < s.length && isDigit(s.charCodeAt(i))) i++
    const intDigits = i - intStart
    if (intDigits === 0) return undefined
    if (s.charCodeAt(i) !== 0x2e) {
      if (intDigits > 15) return undefined
      at.i = i
      return { type: 'integer', value: Number(s.slice(start, i)) }
    }
    const fracStart = ++i
    while (i < s.length && isDigit(s.charCodeAt(i))) i++
    if (intDigits > 12 || i === fracStart || i - fracStart > 3) return undefined
    at.i = i
    return { type: 'decimal', value: Number(s.slice(start, i)) }
  }
  if (isAlpha(c) || c === 0x2a) {
    const start = i
    for (i++; i < s.length && isTokenChar(s.charCodeAt(i)); i++);
    at.i = i
    return { type: 'token', value: s.slice(start, i) }
  }
  return undefined
}

/** Reads `;key[=value]` parameters at the cursor; `undefined` when one is malformed. */
function parameters(s: string, at: Cursor): Map<string, FieldValue> | undefined {
  const params = new Map<string, FieldValue>()
  while (s.charCodeAt(at.i) === 0x3b) {
    let i = at.i + 1
    while (s.charCodeAt(i) === 0x20) i++
    const start = i
    const first = s.charCodeAt(i)
    if (!isLcalpha(first) && first !== 0x2a) return undefined
    for (i++; i < s.length && isKeyChar(s.charCodeAt(i)); i++);
    const key = s.slice(start, i)
    let value: FieldValue = { type: 'boolean', value: true }
    at.i = i
    if (s.charCodeAt(i) === 0x3d) {
      at.i = i + 1
      const v = bareItem(s, at)
      if (v === undefined) return undefined
      value = v
    }
    params.set(key, value)
  }
  return params
}

/** The index of the next member-separating comma at or after `i` (strings skipped), or the length. */
function nextComma(s: string, i: number): number {
  let inString = false
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x2c) return i
  }
  return s.length
}

const isOws = (c: number): boolean => c === 0x20 || c === 0x09

/**
 * Reads the members of a List field. Never throws; `examined` is how many members were looked at
 * (at most {@link MAX_MEMBERS}), malformed ones included.
 */
export function readMembers(field: string): { members: FieldMember[]; examined: number } {
  const members: FieldMember[] = []
  let examined = 0
  if (field.length > MAX_FIELD_LENGTH) return { members, examined }
  const at: Cursor = { i: 0 }
  while (examined < MAX_MEMBERS) {
    while (at.i < field.length && isOws(field.charCodeAt(at.i))) at.i++
    if (at.i >= field.length) break
    examined++
    const value = bareItem(field, at)
    const params = value === undefined ? undefined : parameters(field, at)
    while (at.i < field.length && isOws(field.charCodeAt(at.i))) at.i++
    const end = at.i >= field.length || field.charCodeAt(at.i) === 0x2c
    if (value !== undefined && params !== undefined && end) members.push({ value, params })
    // Well formed, the cursor is on the comma; otherwise skip what is left of the member.
    at.i = (end ? at.i : nextComma(field, at.i)) + 1
  }
  return { members, examined }
}
