// loginGuard().attempt() passed `typeof value` where the received value belongs, so a username of
// 5 was reported as "must be a string, received a string", and `trusted: 1` likewise; an `ip`
// that was no string was blamed on an adapter ("a trust-proxy setting, a Fetch runtime without the
// ip option"). A bad `perPair` (null) was reported as an unnamed "options" argument. Each error now
// names the option and the type it received (never the value: it may be a credential).
import { describe, expect, it } from 'vitest'
import { loginGuard } from '../../src/provider/index.js'

async function messageOf(run: () => unknown): Promise<{ code: string; message: string }> {
  try {
    await run()
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message }
  }
  throw new Error('did not throw')
}

describe('loginGuard errors', () => {
  const guard = loginGuard()

  it('a username that is no string names its type', async () => {
    const e = await messageOf(() => guard.attempt({ username: 5 as unknown as string, ip: '203.0.113.7' }))
    expect(e.code).toBe('ERR_RK_INVALID_ARGUMENT')
    expect(e.message).toContain('"username" must be a string, received a number')
  })

  it('trusted that is no boolean names its type', async () => {
    const e = await messageOf(() => guard.attempt({ username: 'alice', ip: '203.0.113.7', trusted: 1 as unknown as boolean }))
    expect(e.message).toContain('"trusted" must be a boolean, received a number')
  })

  it("an ip that is no string is named as the attempt's, not an adapter's", async () => {
    const e = await messageOf(() => guard.attempt({ username: 'alice', ip: 7 as unknown as string }))
    expect(e.code).toBe('ERR_RK_INVALID_ARGUMENT')
    expect(e.message).toContain('loginGuard().attempt(): "ip" must be the client address')
    expect(e.message).toContain('received a number')
  })

  it('a limit option that is no object is named', async () => {
    const e = await messageOf(() => loginGuard({ perPair: null as never }))
    expect(e.code).toBe('ERR_RK_INVALID_OPTION')
    expect(e.message).toContain('loginGuard(): "perPair" must be { limit, window }')
  })
})
