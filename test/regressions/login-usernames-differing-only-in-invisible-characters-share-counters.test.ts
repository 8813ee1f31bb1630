// loginGuard normalised usernames by NFKC, case and surrounding space, but kept the invisible
// (default-ignorable) characters: a zero-width space, a soft hyphen, a word joiner or a variation
// selector anywhere in "alice" made a fresh per-username counter. An app whose user lookup ignores
// them (a MySQL `_ai_ci` collation does, as does any app that strips invisible characters) then
// gave credential stuffing from many addresses a new `perUsername` allowance per spelling, without
// end. They are dropped now: every spelling that looks like "alice" is one counter.
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
  it('normalise to one username', () => {
    for (const s of SPELLINGS) expect(normalizeUsername(s), JSON.stringify(s)).toBe('alice')
    // Dropping one can bring a base letter and its accent together: still one form.
    expect(normalizeUsername('e\u034f\u0301')).toBe(normalizeUsername('\u00e9'))
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
