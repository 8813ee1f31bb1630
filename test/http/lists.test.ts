// Allow and deny lists in the request pipeline: deny answers 403 with a problem body before any
// limit is asked (nothing charged); allow lets the request through with no headers, uncharged.
import { describe, expect, it } from 'vitest'
import { accessList } from '../../src/http/access-list.js'
import { createHttpLimiter, type HttpRequestInfo } from '../../src/http/index.js'
import { createLimiter, fixedWindow } from '../../src/index.js'

const AT = 1_782_192_000_000

function info(ip: string, headers: Record<string, string> = {}): HttpRequestInfo<object> {
  return { method: 'GET', route: '/', path: '/', ip, headers: { get: (n) => headers[n] }, raw: {} }
}

function setup(options: Record<string, unknown>) {
  const limiter = createLimiter({ policies: [fixedWindow({ limit: 5, window: '1m' })], now: () => AT })
  const http = createHttpLimiter<object>('rateLimit()', { limiter, ...options })
  const remaining = async (key: string) => (await limiter.peek(key)).remaining
  return { http, remaining }
}

const apiKey = (_req: unknown, i: HttpRequestInfo) => {
  const k = i.headers.get('x-api-key')
  return k === undefined ? undefined : `key:${k}`
}

describe('deny lists', () => {
  it('answers a listed address 403 with a problem body, charging nothing', async () => {
    const { http, remaining } = setup({ deny: { ips: ['203.0.113.0/24'] } })
    const out = await http.handle(info('203.0.113.9'))
    expect(out).toMatchObject({ action: 'respond', status: 403, contentType: 'application/problem+json', headers: {} })
    expect(JSON.parse(out.body ?? '')).toEqual({
      type: 'about:blank',
      title: 'Forbidden',
      status: 403,
      detail: 'This client may not use this service.',
    })
    expect(out.decision).toBeUndefined()
    expect(await remaining('ip:203.0.113.9')).toBe(5)
    expect((await http.handle(info('198.51.100.1'))).action).toBe('next')
  })

  it('matches IPv4-mapped clients, and a bare array of ranges', async () => {
    const { http } = setup({ deny: ['203.0.113.0/24', '2001:db8::/32'] })
    expect((await http.handle(info('::ffff:203.0.113.9'))).status).toBe(403)
    expect((await http.handle(info('2001:db8:1::5'))).status).toBe(403)
  })

  it('denies by key, as the key function returns it', async () => {
    const { http, remaining } = setup({ key: apiKey, deny: { keys: ['key:revoked'] } })
    expect((await http.handle(info('192.0.2.1', { 'x-api-key': 'revoked' }))).status).toBe(403)
    expect(await remaining('key:revoked')).toBe(5)
    expect((await http.handle(info('192.0.2.1', { 'x-api-key': 'good' }))).action).toBe('next')
    expect(await remaining('key:good')).toBe(4)
  })

  it('asks a dynamic match function, sync or async, with the canonical address and the key', async () => {
    const asked: string[] = []
    const match = async (subject: string, kind: string) => {
      asked.push(`${kind} ${subject}`)
      return subject === 'key:banned' || subject === '192.0.2.66'
    }
    const { http } = setup({ key: apiKey, deny: { match } })
    expect((await http.handle(info('::ffff:192.0.2.66'))).status).toBe(403)
    expect((await http.handle(info('192.0.2.1', { 'x-api-key': 'banned' }))).status).toBe(403)
    expect((await http.handle(info('192.0.2.1', { 'x-api-key': 'fine' }))).action).toBe('next')
    expect(asked).toEqual(['ip 192.0.2.66', 'ip 192.0.2.1', 'key key:banned', 'ip 192.0.2.1', 'key key:fine'])
  })

  it('a match function answering anything but a boolean fails the request', () => {
    const { http } = setup({ deny: { match: () => 'yes' as never } })
    expect(() => http.handle(info('192.0.2.1'))).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }))
  })

  it('the answer is configurable: status and body', async () => {
    const { http } = setup({
      deny: { ips: ['192.0.2.0/24'] },
      denied: {
        status: 404,
        body: (req: HttpRequestInfo, c: { status: number; listed: string }) => ({ error: 'gone', path: req.path, ...c }),
      },
    })
    const out = await http.handle(info('192.0.2.1'))
    expect(out).toMatchObject({ status: 404, contentType: 'application/json' })
    expect(JSON.parse(out.body ?? '')).toEqual({ error: 'gone', path: '/', status: 404, listed: 'ip' })
  })

  it('the default body carries the request id when one is known', async () => {
    const { http } = setup({ deny: ['192.0.2.0/24'], requestId: 'x-request-id' })
    const out = await http.handle(info('192.0.2.1', { 'x-request-id': 'req-1' }))
    expect(JSON.parse(out.body ?? '')['request-id']).toBe('req-1')
  })

  it('wins over the allow list, by address or by key', async () => {
    const { http } = setup({
      key: apiKey,
      allow: { ips: ['10.0.0.0/8'], keys: ['key:vip'] },
      deny: { ips: ['10.9.0.0/16'], keys: ['key:revoked'] },
    })
    expect((await http.handle(info('10.9.0.1'))).status).toBe(403)
    expect((await http.handle(info('10.1.0.1', { 'x-api-key': 'revoked' }))).status).toBe(403)
    expect((await http.handle(info('10.1.0.1', { 'x-api-key': 'someone' }))).decision).toBeUndefined()
  })
})

describe('allow lists', () => {
  it('let listed addresses and keys through with no headers, charging nothing', async () => {
    const { http, remaining } = setup({ key: apiKey, allow: accessList({ ips: ['10.0.0.0/8'], keys: ['key:internal'] }) })
    for (const out of [await http.handle(info('10.1.2.3')), await http.handle(info('192.0.2.1', { 'x-api-key': 'internal' }))]) {
      expect(out).toEqual({ action: 'next', status: 0, headers: {} })
    }
    expect(await remaining('ip:10.1.2.3')).toBe(5)
    expect(await remaining('key:internal')).toBe(5)
    const other = await http.handle(info('192.0.2.1'))
    expect(other.headers['X-RateLimit-Remaining']).toBe('4')
  })

  it('applies to plans: the plan key is checked', async () => {
    const { http, remaining } = setup({
      plan: (i: HttpRequestInfo) => ({ key: `user:${i.headers.get('x-user')}` }),
      allow: { keys: ['user:ops'] },
      deny: { keys: ['user:bad'] },
    })
    expect((await http.handle(info('192.0.2.1', { 'x-user': 'ops' }))).decision).toBeUndefined()
    expect((await http.handle(info('192.0.2.1', { 'x-user': 'bad' }))).status).toBe(403)
    expect(await remaining('user:ops')).toBe(5)
  })
})

describe('list options are validated', () => {
  it.each([
    [{ deny: { ips: ['10.0.0.0/8', 'nope'] } }, 'deny.ips[1]'],
    [{ allow: { keys: ['a', ''] } }, 'allow.keys[1]'],
    [{ deny: { match: 1 } }, 'deny.match'],
    [{ deny: 'x' }, 'deny'],
    [{ deny: [], denied: { status: 200 } }, 'denied.status'],
    [{ deny: [], denied: { body: 'x' } }, 'denied.body'],
    [{ denied: { status: 404 } }, 'denied'],
  ])('%j names %s', (options, option) => {
    expect(() => setup(options)).toThrow(expect.objectContaining({ option }))
  })
  it('rejects unknown list options, naming them', () => {
    expect(() => setup({ deny: { ip: ['10.0.0.0/8'] } })).toThrow(expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }))
    expect(() => setup({ deny: [], denied: { code: 403 } })).toThrow(expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }))
  })
})

describe('denyList and allowList', () => {
  it('denyList builds a list for `deny`, its errors naming denyList()', async () => {
    const { denyList } = await import('../../src/http/index.js')
    const { http, remaining } = setup({ deny: denyList(['203.0.113.0/24', '2001:db8:bad::/48']) })
    expect((await http.handle(info('203.0.113.9'))).status).toBe(403)
    expect((await http.handle(info('2001:db8:bad:1::7'))).status).toBe(403)
    expect(await remaining('ip:203.0.113.9')).toBe(5)
    expect((await http.handle(info('198.51.100.1'))).action).toBe('next')
    expect(() => denyList(['203.0.113.0/33'])).toThrow(/denyList\(\).*ips\[0\]/)
  })

  it('allowList is a list for `allow` too, where a deny list wins over it', async () => {
    const { allowList, denyList } = await import('../../src/http/index.js')
    const office = allowList(['10.0.0.0/8'])
    const { http, remaining } = setup({ key: apiKey, allow: office, deny: denyList({ keys: ['key:revoked'] }) })
    const allowed = await http.handle(info('10.1.2.3', { 'x-api-key': 'good' }))
    expect(allowed).toMatchObject({ action: 'next', headers: {} })
    expect(await remaining('key:good')).toBe(5)
    expect((await http.handle(info('10.1.2.3', { 'x-api-key': 'revoked' }))).status).toBe(403)
    // Still a skip function, as before.
    expect(office({}, { ip: '10.9.9.9' })).toBe(true)
    expect(office({}, { ip: '192.0.2.1' })).toBe(false)
  })
})
