import { createLimiter, fixedWindow, MemoryStore } from 'ratekeeper'
import { loginGuard, normalizeUsername } from 'ratekeeper/provider'
import { describe, expect, it } from 'vitest'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 0, 1)

describe('loginGuard()', () => {
  it('rejects bad options, naming them', () => {
    const bad: Array<[unknown, string]> = [
      [{ perPair: { limit: 0, window: '1m' } }, 'perPair.limit'],
      [{ perIp: { limit: 5, window: 'soon' } }, 'perIp.window'],
      [{ perPair: { limit: 5, window: '1m', max: 3 } }, 'perPair.max'],
      [{ perUsername: true }, 'perUsername'],
      [{ penalty: 'yes' }, 'penalty'],
      [{ penalty: { after: 0, within: '1m', blocks: ['1m'], forgiveAfter: '1d' } }, 'penalty.after'],
      [{ penalty: { after: 3, within: '1m', blocks: [], forgiveAfter: '1d' } }, 'penalty.blocks'],
      [{ tag: '' }, 'tag'],
      [{ ipv6Subnet: 0 }, 'ipv6Subnet'],
      [{ limiter: createLimiter({ policies: [fixedWindow({ limit: 1, window: '1s' })] }), store: new MemoryStore() }, 'store'],
      [{ lockout: 5 }, 'lockout'],
    ]
    for (const [options, option] of bad) {
      let error: unknown
      try {
        loginGuard(options as never)
      } catch (e) {
        error = e
      }
      expect(error, option).toMatchObject({ option })
    }
  })

  it('rejects a username that is not a string at request time, without echoing it', async () => {
    const guard = loginGuard()
    await expect(guard.attempt({ username: { $ne: '' } as never, ip: '203.0.113.1' })).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_ARGUMENT',
      option: 'username',
      received: undefined,
    })
    await expect(guard.attempt({ username: 'a', ip: '203.0.113.1', password: 'x' } as never)).rejects.toMatchObject({
      code: 'ERR_RK_UNKNOWN_OPTION',
    })
  })

  it('normalises usernames: NFKC, lowercase, trimmed', () => {
    expect(normalizeUsername('  ＡＬＩＣＥ\t')).toBe('alice')
    expect(normalizeUsername('Ａｌｉｃｅ')).toBe('alice')
    expect(normalizeUsername('ﬁona')).toBe('fiona')
    expect(normalizeUsername('Ω')).toBe('ω')
  })

  it('keys are of fixed length, hold no username, and IPv6 is grouped by its /56', () => {
    const guard = loginGuard()
    const long = guard.keysOf({ username: 'x'.repeat(100_000), ip: '2001:db8:0:1::1' })
    const short = guard.keysOf({ username: 'alice', ip: '2001:db8:0:1:ffff::9' })
    expect(long.username.length).toBe(short.username.length)
    expect(long.username).not.toContain('x')
    expect(short.username).not.toContain('alice')
    expect(long.ip).toBe(short.ip)
    expect(guard.keysOf({ username: 'ALICE ', ip: '::ffff:192.0.2.1' })).toEqual(guard.keysOf({ username: 'alice', ip: '192.0.2.1' }))
  })

  it('counts an attempt before the password is checked; a trusted device skips the username counter', async () => {
    const c = clock(T0)
    const guard = loginGuard({ now: c.now, perPair: { limit: 50, window: '1h' }, perUsername: { limit: 2, window: '1h' }, penalty: false })
    for (let i = 1; i <= 2; i++) expect((await guard.attempt({ username: 'alice', ip: `192.0.2.${i}` })).allowed).toBe(true)
    const denied = await guard.attempt({ username: 'alice', ip: '192.0.2.3' })
    expect(denied).toMatchObject({ allowed: false, status: 429 })
    // A sliding window of an hour errs on the strict side by one sub-window (6 minutes).
    expect(denied.retryAfterMs).toBe(3_960_000)
    expect(denied.headers['retry-after']).toBe(String(Math.ceil(denied.retryAfterMs / 1000)))
    expect(denied.decision.violated).toEqual(['login-username'])
    expect((await guard.attempt({ username: 'alice', ip: '192.0.2.3', trusted: true })).allowed).toBe(true)
  })

  it('counts on a limiter of the app, and a success gives back every counter', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ limit: 1, window: '1s' })] })
    const guard = loginGuard({ limiter, perPair: { limit: 1, window: '1h' }, perIp: { limit: 1, window: '1h' }, perUsername: false })
    expect(guard.limiter).toBe(limiter)
    const first = await guard.attempt({ username: 'alice', ip: '192.0.2.1' })
    await first.succeeded()
    const second = await guard.attempt({ username: 'bob', ip: '192.0.2.1' })
    expect(second.allowed).toBe(true)
    await second.failed()
    expect((await guard.attempt({ username: 'carol', ip: '192.0.2.1' })).decision.violated).toEqual(['login-ip'])
  })

  it('blocks an address by hand, with a reason its attempts show, and unblocks it', async () => {
    const c = clock(T0)
    const guard = loginGuard({ now: c.now })
    await guard.block('203.0.113.5', { until: T0 + 3_600_000, reason: 'Too many failed logins; contact support' })
    const denied = await guard.attempt({ username: 'anyone', ip: '203.0.113.5' })
    expect(denied).toMatchObject({ allowed: false, status: 429, retryAfterMs: 3_600_000 })
    expect(denied.decision.violated).toEqual(['login-box'])
    expect(JSON.parse(denied.body)['block-reason']).toBe('Too many failed logins; contact support')
    expect((await guard.attempt({ username: 'anyone', ip: '203.0.113.6' })).allowed).toBe(true)
    await guard.unblock('203.0.113.5')
    expect((await guard.attempt({ username: 'anyone', ip: '203.0.113.5' })).allowed).toBe(true)
    await expect(loginGuard({ penalty: false }).block('203.0.113.5', { until: T0 + 1000 })).rejects.toMatchObject({ option: 'penalty' })
  })
})
