// What both login examples share: a user table, a password check that takes the same path for
// unknown users, and a device cookie that proves an earlier successful login.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { normalizeUsername } from 'ratekeeper/provider'

/** Demo users: normalised username → SHA-256 of the password (use scrypt or argon2 in a real app). */
const USERS = new Map<string, Buffer>([['alice', sha256('correct horse battery staple')]])
const NOBODY = sha256('no user has this password')

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** The password is right for this username. Unknown users take the same path (same work, same answer). */
export function checkPassword(username: unknown, password: unknown): boolean {
  if (typeof username !== 'string' || typeof password !== 'string') return false
  const stored = USERS.get(normalizeUsername(username))
  const match = timingSafeEqual(stored ?? NOBODY, sha256(password))
  return stored !== undefined && match
}

/** The device cookie issued after a successful login: an HMAC of the normalised username. */
export function deviceToken(secret: string, username: string): string {
  return createHmac('sha256', secret).update(normalizeUsername(username)).digest('base64url')
}

/** The request carries this username's device cookie (`device=<token>`). */
export function isTrustedDevice(secret: string, username: unknown, cookieHeader: string | undefined): boolean {
  if (typeof username !== 'string' || cookieHeader === undefined) return false
  const match = /(?:^|;\s*)device=([A-Za-z0-9_-]{43})(?:;|$)/.exec(cookieHeader)
  if (match === null) return false
  const expected = Buffer.from(deviceToken(secret, username))
  const got = Buffer.from(match[1])
  return got.length === expected.length && timingSafeEqual(got, expected)
}
