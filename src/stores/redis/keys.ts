import { createHash } from 'node:crypto'
import { invalid } from '../../limiter/errors.js'
import type { Policy } from '../../limiter/policy.js'

/** Prefixes: letters, digits and `_ . : / -`, 1 to 64 characters (no braces: they would move the hash tag). */
const PREFIX_PATTERN = /^[A-Za-z0-9_.:/-]{1,64}$/

/** Validates the `prefix` option. */
export function checkPrefix(where: string, prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    invalid(where, 'prefix', 'must be 1-64 characters: letters, digits and _ . : / -', prefix)
  }
  return prefix
}

/**
 * Encodes a placement tag for the inside of `{…}`: Redis hashes the text between the first `{`
 * and the first `}` after it, so a `}` in the tag is escaped (and `%`, to keep the encoding
 * one-to-one). Most tags contain neither and are returned as they are.
 */
export function encodeTag(tag: string): string {
  if (tag.indexOf('}') < 0 && tag.indexOf('%') < 0) return tag
  return tag.replaceAll('%', '%25').replaceAll('}', '%7D')
}

/**
 * The part of a key that names the policy: `<name>~<hash>`, where the hash is 8 base64url
 * characters (48 bits) of SHA-1 over the policy's `id` (name + numbers). Readable in `redis-cli`,
 * short on the wire and in memory, and a policy whose numbers change gets new keys (it never
 * reads state kept under other numbers). Names can't hold `~`, so the layout is unambiguous.
 */
export function policyPart(policy: Policy): string {
  return `${policy.name}~${createHash('sha1').update(policy.id).digest('base64url').slice(0, 8)}`
}

/**
 * The Redis key of one (subject, policy) pair in a request placed by `tag`:
 * `<prefix>:{<tag>}:<name>~<hash>` when the subject is the tag itself (the common case, one
 * subject per request), else `<prefix>:{<tag>}:<name>~<hash>:<subject>`. Every key of one request
 * shares the hash tag, so the request lives in one Cluster slot.
 */
export function stateKey(head: string, part: string, subject: string, tag: string): string {
  return subject === tag ? head + part : `${head}${part}:${subject}`
}

/** `<prefix>:{<encoded tag>}:`, the start every key of a request shares. */
export function keyHead(prefix: string, tag: string): string {
  return `${prefix}:{${encodeTag(tag)}}:`
}
