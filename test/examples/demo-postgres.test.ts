// The demo API on PostgreSQL (DATABASE_URL): decides in its table, refuses a DATABASE_URL it
// cannot parse or use with a message that names it (never its password), and never runs on two
// stores at once.

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { maskDatabaseUrl, parseDatabaseUrl, startDemo } from '../../examples/demo.js'
import { DATABASE_URL, describePostgres, postgresFixture } from '../helpers/postgres.js'
import { freePort } from '../helpers/redis-servers.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

describePostgres('the demo on PostgreSQL (DATABASE_URL)', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>

  beforeAll(async () => {
    fixture = await postgresFixture('demo')
  })

  afterAll(async () => {
    await fixture.drop()
  })

  it('decides in its table, created at start-up', async () => {
    const running = await startDemo({ port: 0, databaseUrl: DATABASE_URL, databaseTable: fixture.table, log: () => {} })
    try {
      expect(running.store).toBe('postgres')
      const call = () => fetch(`${running.url}/v1/listings`, { headers: { authorization: 'Bearer pk_test_demo' } })
      expect((await call()).headers.get('x-ratelimit-remaining')).toBe('149')
      expect((await call()).headers.get('x-ratelimit-remaining')).toBe('148')
      expect(await fixture.rows()).toBeGreaterThan(0)
    } finally {
      await running.close()
    }
  })

  it('exits 1 with one line naming DATABASE_URL, its password masked, when PostgreSQL is not there', async () => {
    const port = await freePort()
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--port', '0'], {
      cwd: root,
      env: { ...process.env, REDIS_URL: '', PORT: '', DATABASE_URL: `postgres://demo:s3cret@127.0.0.1:${port}/db` },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code).toBe(1)
    expect(out).toContain(`demo: cannot use PostgreSQL at DATABASE_URL=postgres://demo:***@127.0.0.1:${port}/db`)
    expect(out).not.toContain('s3cret')
  }, 30_000)
})

it('parses DATABASE_URL strictly, never echoing a password, and refuses it beside REDIS_URL', () => {
  expect(parseDatabaseUrl({ DATABASE_URL: '' })).toBeUndefined()
  expect(parseDatabaseUrl({})).toBeUndefined()
  expect(parseDatabaseUrl({ DATABASE_URL: 'postgresql://u@h:5432/db' })).toBe('postgresql://u@h:5432/db')
  expect(() => parseDatabaseUrl({ DATABASE_URL: 'mysql://u:pw@h/db' })).toThrow('DATABASE_URL must be a postgres:// or postgresql:// URL')
  expect(() => parseDatabaseUrl({ DATABASE_URL: 'postgres://h/db', REDIS_URL: 'redis://h:6379' })).toThrow('not both')
  expect(maskDatabaseUrl('postgres://u:pw@h:5432/db')).toBe('postgres://u:***@h:5432/db')
})
