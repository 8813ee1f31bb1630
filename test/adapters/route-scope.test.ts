// The pure helpers behind route identities, absolute paths and trust-proxy warnings.
import { describe, expect, it } from 'vitest'
import { pathOf, routeScope } from '../../src/http/route.js'
import { MAX_TRUSTED_PROXIES, rangesTrustEveryone, trustsEveryone } from '../../src/http/trust-proxy.js'

describe('routeScope', () => {
  it.each([
    [['GET'], '/x', 'GET /x'],
    [['HEAD', 'GET'], '/x', 'GET /x'],
    [['HEAD'], '/x', 'GET /x'],
    [['post', 'get', 'POST'], '/x', 'GET,POST /x'],
    [['_all'], '/x', 'ALL /x'],
    [['GET', '*'], '/x', 'ALL /x'],
    [undefined, '/x', 'ALL /x'],
    ['DELETE', '/x', 'DELETE /x'],
  ] as const)('%j %s → %s', (methods, template, scope) => {
    expect(routeScope(methods as string[] | string | undefined, template)).toBe(scope)
  })
})

describe('pathOf', () => {
  it.each([
    ['/a/b?x=1', '/a/b'],
    ['/a/b#frag', '/a/b'],
    ['/a?b#c', '/a'],
    ['/', '/'],
    ['', '/'],
    ['http://host:8080/a/b?x', '/a/b'],
    ['https://host', '/'],
  ])('%s → %s', (url, path) => {
    expect(pathOf(url)).toBe(path)
  })
})

describe('trust-proxy probes', () => {
  it('a hop count is permissive above the threshold only', () => {
    const hops = (n: number) => (_a: string, i: number) => i < n
    expect(trustsEveryone(hops(MAX_TRUSTED_PROXIES))).toBe(false)
    expect(trustsEveryone(hops(MAX_TRUSTED_PROXIES + 1))).toBe(true)
  })

  it('a function that throws is not permissive', () => {
    expect(
      trustsEveryone(() => {
        throw new Error('no')
      }),
    ).toBe(false)
  })

  it.each([
    ['0.0.0.0/1,128.0.0.0/1', true],
    [['::/1', '8000::/1'], true],
    [['10.0.0.0/8', 'loopback', 'fc00::/7'], false],
    ['127.0.0.1', false],
    [[42, '0.0.0.0/1'], false],
  ] as const)('ranges %j → %s', (ranges, expected) => {
    expect(rangesTrustEveryone(ranges as string | readonly unknown[])).toBe(expected)
  })
})
