// A charge of 1e9 on a daily token bucket leaves a debt whose row expires about 8.6e16 ms from
// now, past 2^53: PostgresStore's reply reader refused that expiry, so the next decision on the key
// by another process (which reads the stored states) failed with ERR_RK_STORE "unexpected reply
// from the decide function". Found by the conformance property where two stores take turns.
import { expect, it } from 'vitest'
import { parseDecideReply } from '../../src/stores/postgres/reply.js'
import { APPLIED } from '../../src/stores/postgres/sql.js'

it('reads a stored state whose expiry lies past 2^53 ms', () => {
  const rows = [
    {
      applied: APPLIED.conflict,
      now_ms: '1796408950119',
      states: ['86401709164795000', '1710164795000'],
      expires: ['86401709251195000', '1710251195000'],
      swept_to: null,
    },
  ]
  const reply = parseDecideReply(rows, 2)
  expect(reply?.states).toEqual(['86401709164795000', '1710164795000'])
  expect(reply?.expires?.[0]).toBeGreaterThan(2 ** 53)
})
