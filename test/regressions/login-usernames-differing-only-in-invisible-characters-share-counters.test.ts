// loginGuard normalised usernames by NFKC, case and surrounding space, but kept the invisible
// (default-ignorable) characters: a zero-width space, a soft hyphen, a word joiner or a variation
// selector anywhere in "alice" made a fresh per-username counter. An app whose user lookup ignores
// them (a MySQL `_ai_ci` collation does, as does any app that strips invisible characters) then
// gave credential stuffing from many addresses a new `perUsername` allowance per spelling, without
// end. The guard drops them when it counts: every spelling that looks like "alice" is one counter.
// normalizeUsername, the rule apps may have stored their user names by, is unchanged.
import { describe, expect, it } from 'vitest'
import { loginGuard, normalizeUsername } from '../../src/provider/index.js'

const SPELLINGS = [
  'alice',
  'alice\u200b', // zero-width space
  '\u200balice',
  'al\u00adice', // soft hyphen
  'ali\u200dce', // zero-width joiner
  'ali\u200cce', // zero-width non-joiner
  'alice\u2060', // word joiner
  'alic\ufe0fe', // variation selector
  'a\u034flice', // combining grapheme joiner
  '\ufeffALICE', // byte order mark, upper case
  'ａｌｉｃｅ\u{e0041}', // full width, a tag character
]

describe('usernames differing only in invisible characters', () => {
  it('are one username to the guard', () => {
    const guard = loginGuard()
    const alice = guard.keysOf({ username: 'alice', ip: '203.0.113.7' })
    for (const s of SPELLINGS) expect(guard.keysOf({ username: s, ip: '203.0.113.7' }), JSON.stringify(s)).toEqual(alice)
    // Dropping one can bring a base letter and its accent together: still one form.
    expect(guard.keysOf({ username: 'e\u034f\u0301', ip: '203.0.113.7' })).toEqual(guard.keysOf({ username: '\u00e9', ip: '203.0.113.7' }))
  })

  it('leave normalizeUsername, the lookup rule apps store names by, as it was', () => {
    expect(normalizeUsername(' ＡＬＩＣＥ ')).toBe('alice')
    expect(normalizeUsername('ali\u200dce')).toBe('ali\u200dce')
  })

  it('share one per-username counter, whatever the address', async () => {
    const guard = loginGuard({
      now: () => Date.UTC(2026, 0, 1),
      perUsername: { limit: 3, window: '1d' },
      perPair: { limit: 5, window: '15m' },
      perIp: { limit: 100, window: '1d' },
    })
    let checked = 0
    for (let i = 0; i < SPELLINGS.length; i++) {
      const attempt = await guard.attempt({ username: SPELLINGS[i], ip: `198.51.100.${i + 1}` })
      if (attempt.allowed) checked++
      await attempt.failed()
    }
    expect(checked).toBe(3)
  })
})
