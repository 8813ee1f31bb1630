import { createHash } from 'node:crypto'
import { invalidAtRequest } from './errors.js'

/** Subject keys longer than this are stored as their SHA-256, so a huge key can't bloat a store. */
export const MAX_SUBJECT_LENGTH = 256

/** A key that is not well-formed UTF-16, one to one: `#u:` and its JSON text, hashed past the length bound. */
function illFormed(key: string): string {
  const text = JSON.stringify(key)
  return text.length + 3 > MAX_SUBJECT_LENGTH ? `#sha256u:${createHash('sha256').update(text).digest('hex')}` : `#u:${text}`
}

/**
 * Encodes a subject key for storage. Keys up to {@link MAX_SUBJECT_LENGTH} characters are kept
 * as they are; longer ones become `"#sha256:" + hex`, a form no short key can take (a short key
 * starting with `#` or U+0001 is prefixed with one more `#`), so different identities never collide.
 * A key with a lone surrogate becomes `"#u:" + its JSON text` (or `"#sha256u:" + hex` of it, long),
 * since anything that writes text as UTF-8 makes every lone surrogate the same U+FFFD.
 */
export function encodeSubject(where: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    // Keys come from requests: the error names the type, never the value.
    invalidAtRequest(where, 'key', 'must be a non-empty string', key)
  }
  // A lone surrogate is one identity, but as UTF-8 (a hash, Redis, PostgreSQL) every one of them is
  // U+FFFD: such a key goes as its JSON text (lone surrogates escaped), in a form of its own.
  if (!(key as unknown as { isWellFormed(): boolean }).isWellFormed()) return illFormed(key)
  if (key.length > MAX_SUBJECT_LENGTH) return `#sha256:${createHash('sha256').update(key).digest('hex')}`
  const first = key.charCodeAt(0)
  // '#' starts the hashed form and U+0001 is reserved for stores' internal keys: escape both.
  return first === 35 /* # */ || first === 1 ? `#${key}` : key
}
