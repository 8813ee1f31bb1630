// A malformed `RateLimit` field (`@,@,…`, 15.5 KB, inside Node's 16 KiB header limit) is ignored in
// one pass: no exception per member, and a bounded number of members looked at.
import fc from 'fast-check'
import { createClient, parseRateLimitHeaders } from 'ratekeeper/client'
import { describe, expect, it, vi } from 'vitest'

// The bounded reader, loaded on demand so that the exception counts below stand on their own.
const fieldList = () => import('../../src/limiter/field-list.js')

// Counts the exceptions the strict structured-field parsers throw, wherever the client calls them.
const thrown = vi.hoisted(() => ({ count: 0 }))
vi.mock('../../src/http/structured-fields.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/http/structured-fields.js')>()
  const counted =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      try {
        return fn(...args)
      } catch (error) {
        thrown.count++
        throw error
      }
    }
  return { ...real, parseList: counted(real.parseList), parseDictionary: counted(real.parseDictionary), parseItem: counted(real.parseItem) }
})

const junk = '@,'.repeat(7750)

describe('malformed RateLimit fields', () => {
  it('a 15.5 KB field of bad members throws nothing and looks at a bounded number of members', async () => {
    thrown.count = 0
    const info = parseRateLimitHeaders({ RateLimit: junk, 'RateLimit-Policy': junk }, { now: 0 })
    expect(info.policies).toEqual([])
    expect(info.dialects).toEqual([])
    expect(thrown.count).toBe(0)
    const { MAX_FIELD_LENGTH, MAX_MEMBERS, readMembers } = await fieldList()
    const read = readMembers(junk.slice(0, MAX_FIELD_LENGTH))
    expect(read.members).toEqual([])
    expect(read.examined).toBeLessThanOrEqual(MAX_MEMBERS)
  })

  it('a field longer than the cap is ignored whole', async () => {
    const { MAX_FIELD_LENGTH, readMembers } = await fieldList()
    const long = `"a";r=1, ${'"b";r=2, '.repeat(MAX_FIELD_LENGTH / 8)}`
    expect(long.length).toBeGreaterThan(MAX_FIELD_LENGTH)
    expect(readMembers(long)).toEqual({ members: [], examined: 0 })
  })

  it('reads at most MAX_MEMBERS members of a long list', async () => {
    const { MAX_MEMBERS, readMembers } = await fieldList()
    const many = Array.from({ length: MAX_MEMBERS + 50 }, (_, i) => `"p${i}";r=${i}`).join(', ')
    const read = readMembers(many)
    expect(read.members).toHaveLength(MAX_MEMBERS)
    expect(read.examined).toBe(MAX_MEMBERS)
  })

  it('a client reading 50 such responses throws nothing', async () => {
    thrown.count = 0
    const client = createClient({ fetch: async () => new Response('ok', { headers: { RateLimit: junk } }) })
    await Promise.all(Array.from({ length: 50 }, () => client('http://api.test/')))
    expect(thrown.count).toBe(0)
  })

  it('property: any field is read without an exception, with at most MAX_MEMBERS members examined', async () => {
    const { MAX_MEMBERS, readMembers } = await fieldList()
    const fragment = fc.constantFrom(
      '"a"',
      'b',
      ';r=',
      ';q=',
      ';t=',
      ':',
      '=',
      ',',
      ' ',
      '(',
      ')',
      '-',
      '1',
      '.',
      '?1',
      '"',
      '\\',
      '@',
      'limit=',
    )
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(fragment, { maxLength: 400 }).map((a) => a.join('')),
        ),
        (value) => {
          thrown.count = 0
          const read = readMembers(value)
          expect(read.examined).toBeLessThanOrEqual(MAX_MEMBERS)
          parseRateLimitHeaders({ RateLimit: value, 'RateLimit-Policy': value }, { now: 0 })
          expect(thrown.count).toBe(0)
        },
      ),
      { numRuns: 1000 },
    )
  })
})
