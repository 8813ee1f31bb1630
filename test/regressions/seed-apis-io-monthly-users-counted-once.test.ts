/**
 * APIs.io profile of Scalekit: "Monthly Active Users (MAU) — 1,000,000 free per month". Each user
 * counts once per month. The example used to remember users in the limiter's default MemoryStore
 * (100,000 keys), so after ~101,000 other users an early user was counted again. Users are now
 * counted in an exact distinct-count structure (a set per environment and month).
 */
import { expect, it } from 'vitest'
import { createApp } from '../../examples/seeds/apis-io-quotas.js'
import { clock } from '../helpers/clock.js'

it('a user seen before 120,000 other users of the month is not counted again', async () => {
  const c = clock(Date.UTC(2026, 3, 10, 12, 0, 0))
  const { usage, close } = createApp({ accounts: {}, now: c.now })
  expect(await usage.userActive('env_a', 'u_first')).toMatchObject({ counted: true, free: true })
  for (let i = 0; i < 120_000; i++) await usage.userActive('env_a', `u_${i}`)
  expect(await usage.userActive('env_a', 'u_first')).toMatchObject({ counted: false })
  expect(await usage.userActive('env_a', 'u_0')).toMatchObject({ counted: false })
  expect((await usage.activeUsers('env_a')).count).toBe(120_001)
  await close()
}, 60_000)
