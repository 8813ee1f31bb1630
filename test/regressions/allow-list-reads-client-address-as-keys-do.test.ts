// allowList read the client address only in its plain spellings, while keys read it however a
// proxy spells it: `203.0.113.7:50001` (a port per connection), `[2001:db8::1]:443`, surrounding
// spaces, IPv4 with more leading zeros than three digits. Such a client was counted under its
// address's key but never matched its address's allow-list entry: listed, yet limited.
import { describe, expect, it } from 'vitest'
import { allowList } from '../../src/http/allow-list.js'
import { normalizeIp } from '../../src/http/ip.js'

describe('allowList reads the client address as keys do', () => {
  const skip = allowList(['203.0.113.0/24', '2001:db8::/32'])
  it.each(['203.0.113.7:50001', '[2001:db8::1]:443', ' 203.0.113.7', '203.0.113.0007', '[203.0.113.7]:80'])('%s', (ip) => {
    expect(normalizeIp(ip)).not.toBe('not-an-address')
    expect(skip(undefined, { ip })).toBe(true)
  })
  it('still refuses text that is no address', () => {
    expect(skip(undefined, { ip: '203.0.113.7:99999' })).toBe(false)
    expect(skip(undefined, { ip: 'x203.0.113.7' })).toBe(false)
  })
})
