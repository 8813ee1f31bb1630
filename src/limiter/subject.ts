import { createHash } from 'node:crypto'
import { invalidAtRequest } from './errors.js'

/** Subject keys longer than this are stored as their SHA-256, so a huge key can't bloat a store. */
export const MAX_SUBJECT_LENGTH = 256

/**
 * Encodes a subject key for storage. Keys up to {@link MAX_SUBJECT_LENGTH} characters are kept
 * as they are; longer ones become `"#sha256:" + hex`, a form no short key can take (a short key
 * starting with `#` or U+0001 is prefixed with one more `#`), so different identities never collide.
 */
export function encodeSubject(where: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    // Keys come from requests: the error names the type, never the value.
    invalidAtRequest(where, 'key', 'must be a non-empty string', key)
  }
  if (key.length > MAX_SUBJECT_LENGTH) return `#sha256:${createHash('sha256').update(key).digest('hex')}`
  const first = key.charCodeAt(0)
  // '#' starts the hashed form and U+0001 is reserved for stores' internal keys: escape both.
  return first === 35 /* # */ || first === 1 ? `#${key}` : key
}
