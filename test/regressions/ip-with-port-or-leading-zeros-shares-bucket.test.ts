// A client address is keyed by the address, however it is spelled. Some proxies write the client
// as `ip:port` (a new port per connection) or `[v6]:port`, and IPv4 can carry leading zeros: keyed
// as written, each spelling was a fresh bucket. Text that is no IP address at all was keyed as
// written too, so a client choosing it could make as many buckets as it liked: it now shares one
// bucket, with a warning.

import fc from 'fast-check'
import { inject } from 'light-my-request'
import { createLimiter, fixedWindow } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/express'
import { describe, expect, it } from 'vitest'
import { normalizeIp } from '../../src/http/ip.js'
import { EXPRESS } from '../helpers/http-apps.js'

describe.each(EXPRESS)('%s behind a proxy on this host', (_name, express) => {
  function app() {
    const limiter = createLimiter({ policies: [fixedWindow({ limit: 2, window: '15m' })] })
    const warnings: { code: string; message: string }[] = []
    limiter.on('warn', (w) => warnings.push(w))
    const a = express()
    a.set('trust proxy', 'loopback')
    a.use(rateLimit({ limiter }))
    a.get('/', (_req, res) => {
      res.end('in')
    })
    const send = async (xff: string) =>
      (await inject(a as never, { method: 'GET', url: '/', headers: { 'x-forwarded-for': xff }, remoteAddress: '127.0.0.1' })).statusCode
    return { send, warnings }
  }

  it('ip:port with a new port per request shares the address bucket', async () => {
    const { send } = app()
    const statuses = []
    for (const xff of ['203.0.113.7:50001', '203.0.113.7:50002', '203.0.113.7:50003', '203.0.113.7', '203.0.113.07', '203.000.113.007:1']) {
      statuses.push(await send(xff))
    }
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429])
  })

  it('[v6]:port is grouped by /56 like the bare address', async () => {
    const { send } = app()
    const statuses = []
    for (const xff of ['[2001:db8::1]:443', '[2001:db8::2]:444', '2001:db8::3', '[2001:db8:0:ff::9]:1']) statuses.push(await send(xff))
    expect(statuses).toEqual([200, 200, 429, 429])
  })

  it('text that is no address shares one bucket, with one warning', async () => {
    const { send, warnings } = app()
    const statuses = []
    for (const xff of ['not-an-ip-1', 'not-an-ip-2', 'unknown', '_hidden']) statuses.push(await send(xff))
    expect(statuses).toEqual([200, 200, 429, 429])
    const codes = warnings.map((w) => w.code).filter((c) => c === 'RK_IP_NOT_AN_ADDRESS')
    expect(codes).toEqual(['RK_IP_NOT_AN_ADDRESS'])
    // The warning never echoes the value a client chose.
    expect(warnings.map((w) => w.message).join('\n')).not.toContain('not-an-ip')
  })
})

const octet = fc.integer({ min: 0, max: 255 })
const port = fc.integer({ min: 0, max: 65535 })

/** An octet as written: decimal, with up to two leading zeros (at most three digits). */
const paddedOctet = (n: number, pad: number) => String(n).padStart(Math.min(3, String(n).length + pad), '0')

describe('every spelling of an address is one key (fuzz)', () => {
  it('IPv4: leading zeros, a port, brackets and the ::ffff: form', () => {
    fc.assert(
      fc.property(
        fc.tuple(octet, octet, octet, octet),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }),
        port,
        fc.integer({ min: 0, max: 4 }),
        (a, pads, p, form) => {
          const canonical = a.join('.')
          const padded = a.map((n, i) => paddedOctet(n, pads[i])).join('.')
          const spelled = [padded, `${padded}:${p}`, `[${padded}]:${p}`, `::ffff:${padded}`, `[::ffff:${padded}]:${p}`][form]
          expect(normalizeIp(spelled)).toBe(canonical)
          expect(normalizeIp(canonical)).toBe(canonical)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('IPv6: case, leading zeros in groups, brackets and a port', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
        fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        port,
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        (groups, pad, p, form, upper) => {
          const plain = groups.map((g) => g.toString(16)).join(':')
          let full = groups.map((g, i) => (pad[i] ? g.toString(16).padStart(4, '0') : g.toString(16))).join(':')
          if (upper) full = full.toUpperCase()
          const canonical = normalizeIp(plain)
          const spelled = [full, `[${full}]`, `[${full}]:${p}`, `[${plain}]:${p}`][form]
          expect(normalizeIp(spelled)).toBe(canonical)
          expect(canonical).not.toContain('[')
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('text that is no address never keys as itself', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (s) => {
        const key = normalizeIp(s)
        // The one shared value, a canonical IPv4 address (a fixed point) or an IPv6 group.
        expect(key === 'not-an-address' || normalizeIp(key) === key || key.endsWith('/56')).toBe(true)
        if (!/^[\s\d.:[\]a-fA-F]/.test(s)) expect(key).toBe('not-an-address')
      }),
      { numRuns: 2000 },
    )
  })
})
