// loginGuard(): brute-force protection for a login endpoint, counting failed attempts only.
import { createHash } from 'node:crypto'
import { createLimiter } from '../create-limiter.js'
import { limitedBody } from '../http/bodies.js'
import { retryAfterSeconds } from '../http/headers.js'
import { renameError } from '../http/http-options.js'
import { DEFAULT_IPV6_SUBNET } from '../http/ip.js'
import { ipKey } from '../http/keys.js'
import { penaltyBox } from '../limiter/algorithms/penalty-box.js'
import { slidingWindow } from '../limiter/algorithms/sliding-window.js'
import type { Decision } from '../limiter/decision.js'
import { ConfigurationError, checkKnownOptions, checkOptionsObject, invalidAtRequest } from '../limiter/errors.js'
import type { Policy } from '../limiter/policy.js'
import type { Layer, Limiter } from '../limiter/types.js'
import { type LoginGuardOptions, type LoginLimit, resolveLoginGuardOptions } from './login-guard-options.js'

export type { LoginGuardOptions, LoginLimit, LoginPenalty } from './login-guard-options.js'

/** What the app knows about one login attempt, before it checks the password. */
export interface LoginAttemptInfo {
  /** The username as typed (normalised here: invisible characters dropped, NFKC, lowercase, trimmed; then hashed). */
  username: string
  /** The client address (the framework's, with its trust-proxy setting); IPv6 grouped by `ipv6Subnet`. */
  ip: string
  /**
   * The client proved an earlier successful login for this username (a signed device cookie you
   * issued then): the attempt skips the per-username counter, so an attack on the username from
   * elsewhere cannot lock it out on this device. @default false
   */
  trusted?: boolean
}

/** The guard's answer to one attempt. Report its outcome with `succeeded()` or `failed()`. */
export interface LoginAttempt {
  /** The attempt may go on to check the password; when false, answer `status` with `headers` and `body`. */
  readonly allowed: boolean
  /** The limiter's decision (a failed attempt is already counted in it). */
  readonly decision: Decision
  /** Milliseconds until an attempt would be admitted; 0 when allowed. */
  readonly retryAfterMs: number
  /** 429 (or 503 when the store failed and `onStoreError` is `'deny'`) when denied; 200 otherwise. */
  readonly status: number
  /** `Retry-After` (and `Content-Type`) when denied; empty otherwise. No counters are shown. */
  readonly headers: Readonly<Record<string, string>>
  /** The problem body when denied; `''` otherwise. */
  readonly body: string
  /** The password was right: gives the attempt back and resets the username+IP counter. */
  succeeded(): Promise<void>
  /** The password was wrong (or the user unknown): the attempt stays counted. */
  failed(): Promise<void>
}

/** Brute-force protection for a login endpoint; see docs/brute-force.md. */
export interface LoginGuard {
  /** Counts the attempt as failed, atomically with the check; call before checking the password. */
  attempt(info: LoginAttemptInfo): Promise<LoginAttempt>
  /** The limiter the guard counts with (its events, `block`, `unblock`, `close`). */
  readonly limiter: Limiter
  /** The subject keys of an attempt (as stored): for `limiter.reset`, logs. */
  keysOf(info: LoginAttemptInfo): { readonly pair: string; readonly ip: string; readonly username: string }
  /**
   * Puts a client address in the guard's penalty box until `until`, with an optional `reason`
   * shown in its 429s (support staff, a fraud signal): every login attempt from it is refused.
   * Needs the `penalty` option (not `false`).
   */
  block(ip: string, options: { until: number | Date; reason?: string }): Promise<void>
  /** Takes a client address out of the penalty box and forgets its record. */
  unblock(ip: string): Promise<void>
}

const WHERE = 'loginGuard()'
const ATTEMPT = 'loginGuard().attempt()'
const KNOWN_INFO = { username: true, ip: true, trusted: true } as const

/** The username as one identity: NFKC (full-width, ligatures), lowercase, NFKC again (some lowercase forms compose), trimmed. */
export function normalizeUsername(username: string): string {
  return username.normalize('NFKC').toLowerCase().normalize('NFKC').trim()
}

/** Invisible characters (zero-width space and joiners, soft hyphen, variation selectors, tags…). */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu

/**
 * The username as the guard counts it: {@link normalizeUsername} with invisible characters
 * dropped, before it and after (NFKC maps a few to others; a letter and its accent compose once
 * what stood between them is gone). Stricter than the lookup rule on purpose: spellings that look
 * alike share counters, whatever the app's own lookup makes of them.
 */
function countedUsername(username: string): string {
  return normalizeUsername(normalizeUsername(username.replace(INVISIBLE, '')).replace(INVISIBLE, ''))
}

/**
 * The longest username counted whole: a longer one is counted by its first this many UTF-16 units,
 * so a huge username costs an attempt no more work than this (no real username is that long, and
 * usernames sharing these units share counters: the strict side).
 */
const MAX_USERNAME = 1024

/** 128 bits of SHA-256 of the normalised username, base64url: fixed length, no username in the store. */
function usernameId(username: string): string {
  const counted = username.length > MAX_USERNAME ? username.slice(0, MAX_USERNAME) : username
  return createHash('sha256').update(countedUsername(counted)).digest('base64url').slice(0, 22)
}

/** A counter of failed attempts: a sliding window, its errors named as the guard's option. */
function counter(name: string, option: string, limit: LoginLimit): Policy {
  try {
    return slidingWindow({ name, limit: limit.limit, window: limit.window })
  } catch (error) {
    throw renameError(error, WHERE, `${option}.`)
  }
}

/**
 * Brute-force protection for logins. Each attempt is counted as a failure **before** the password
 * is checked, in one atomic store call over three counters — username+IP, IP, username — so
 * parallel attempts can never pass more than the limits; a success gives the attempt back and
 * resets the username+IP counter. A client that keeps trying while denied is put in a penalty
 * box (per IP) for escalating durations. The answer never depends on whether the username exists.
 *
 * @example
 * const guard = loginGuard({ perPair: { limit: 5, window: '15m' }, perIp: { limit: 100, window: '1d' } })
 * const attempt = await guard.attempt({ username: req.body.username, ip: req.ip })
 * if (!attempt.allowed) return res.status(attempt.status).set(attempt.headers).send(attempt.body)
 * if (await checkPassword(req.body)) { await attempt.succeeded(); … } else { await attempt.failed(); … }
 */
export function loginGuard(options: LoginGuardOptions = {}): LoginGuard {
  const o = resolveLoginGuardOptions(WHERE, options)
  const pairPolicies: Policy[] = [counter('login-pair', 'perPair', o.perPair)]
  const ipPolicies: Policy[] = [counter('login-ip', 'perIp', o.perIp)]
  if (o.penalty !== false) {
    try {
      ipPolicies.push(penaltyBox({ name: 'login-box', ...o.penalty }))
    } catch (error) {
      throw renameError(error, WHERE, 'penalty.')
    }
  }
  const userPolicies: Policy[] = o.perUsername === false ? [] : [counter('login-username', 'perUsername', o.perUsername)]
  const limiter =
    o.limiter ??
    createLimiter({
      policies: pairPolicies,
      store: o.store,
      now: o.now,
      onStoreError: o.onStoreError,
      ...(o.fallback === undefined ? {} : { fallback: o.fallback }),
    })
  const tag = o.tag
  const subnet = o.ipv6Subnet ?? DEFAULT_IPV6_SUBNET

  const keysOf = (info: LoginAttemptInfo) => {
    checkOptionsObject(ATTEMPT, info)
    checkKnownOptions(ATTEMPT, info, KNOWN_INFO, { requestTime: true })
    // The value goes as received: the message names its type, never the value (it may be a credential).
    if (typeof info.username !== 'string') invalidAtRequest(ATTEMPT, 'username', 'must be a string', info.username)
    if (info.trusted !== undefined && typeof info.trusted !== 'boolean')
      invalidAtRequest(ATTEMPT, 'trusted', 'must be a boolean', info.trusted)
    if (typeof info.ip !== 'string' || info.ip.length === 0)
      invalidAtRequest(ATTEMPT, 'ip', "must be the client address (the framework's, with its trust-proxy setting)", info.ip)
    const ip = ipKey(info.ip, subnet)
    const user = `u:${usernameId(info.username)}`
    return { pair: `${user}|${ip}`, ip, username: user }
  }

  const attempt = async (info: LoginAttemptInfo): Promise<LoginAttempt> => {
    const keys = keysOf(info)
    const layers: Layer[] = [{ name: 'ip', key: keys.ip, policies: ipPolicies }]
    if (userPolicies.length > 0 && info.trusted !== true) {
      // A username locked from elsewhere refuses the attempt before the box sees it: as an offence
      // of this address, its owner's retries would box her network, every username refused there.
      if (o.penalty !== false) {
        const locked = await limiter.peek(keys.username, { policies: userPolicies, tag })
        if (!locked.allowed && locked.reason !== 'store-error') return answer(locked, keys)
      }
      layers.push({ name: 'username', key: keys.username, policies: userPolicies })
    }
    return answer(await limiter.consume(keys.pair, { policies: pairPolicies, layers, tag }), keys)
  }

  const answer = (decision: Decision, keys: { readonly pair: string }): LoginAttempt => {
    let settled = false
    const succeeded = async (): Promise<void> => {
      if (settled) return
      settled = true
      if (!decision.allowed) return
      try {
        await limiter.refund(keys.pair, { decision })
        await limiter.reset(keys.pair, { policies: pairPolicies, tag })
      } catch (error) {
        // A store that fails must not fail a right password: the limiter has reported the outage
        // (RK_STORE_OUTAGE, its store-error event), and the counters clear with their windows.
        if (error instanceof ConfigurationError) throw error
      }
    }
    const failed = async (): Promise<void> => {
      settled = true
    }
    if (decision.allowed) return { allowed: true, decision, retryAfterMs: 0, status: 200, headers: {}, body: '', succeeded, failed }
    const limited = limitedBody(decision)
    const headers: Record<string, string> = { 'content-type': limited.contentType }
    const retry = retryAfterSeconds(decision)
    if (retry !== undefined) headers['retry-after'] = String(retry)
    return {
      allowed: false,
      decision,
      retryAfterMs: decision.retryAfterMs,
      status: limited.status,
      headers,
      body: limited.body,
      succeeded,
      failed,
    }
  }

  const boxOf = (where: string, ip: string) => {
    if (o.penalty === false) invalidAtRequest(where, 'penalty', 'must be set on the guard to block an address (it is false)', false)
    return ipKey(ip, subnet)
  }
  const block = async (ip: string, options: { until: number | Date; reason?: string }): Promise<void> => {
    await limiter.block(boxOf('loginGuard().block()', ip), { ...options, policies: ipPolicies, tag })
  }
  const unblock = async (ip: string): Promise<void> => {
    await limiter.unblock(boxOf('loginGuard().unblock()', ip), { policies: ipPolicies, tag })
  }

  return { attempt, limiter, keysOf, block, unblock }
}
