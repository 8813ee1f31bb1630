// A connection string passed where an object or a name belongs (`pool: process.env.DATABASE_URL`,
// `new PostgresStore(url)`, a `connectionString` option, a Redis URL as `client`) was quoted in
// the configuration error, password and all: error messages go to logs, crash reports and
// sometimes response bodies. The value is still quoted (it says what went wrong), its password not.

import { expect, it } from 'vitest'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'

const secret = 's3cr3t-Pw'
const pool = { query: async () => ({ rows: [] }) }

const misuses: [string, () => unknown][] = [
  ['a URL as the pool', () => new PostgresStore({ pool: `postgres://app:${secret}@db.internal:5432/prod` as never })],
  ['a URL as the options', () => new PostgresStore(`postgresql://app:${secret}@db.internal/prod?sslmode=require` as never)],
  ['a connectionString option', () => new PostgresStore({ pool, connectionString: `postgres://app:${secret}@db/prod` } as never)],
  ['a URL as the table', () => new PostgresStore({ pool, table: `postgres://app:${secret}@db/prod` })],
  ['a password as a URL parameter', () => new PostgresStore({ pool, table: `postgres://db/prod?user=app&password=${secret}` })],
  ['a key=value connection string', () => new PostgresStore({ pool: `host=db user=app password=${secret} dbname=prod` as never })],
  [
    'a long URL whose password lies past the quoted part',
    () => new PostgresStore({ pool: `postgres://a-rather-long-user-name-for-the-app:${secret}@db.internal/prod` as never }),
  ],
  ['a Redis URL as the client', () => new RedisStore({ client: `redis://:${secret}@cache.internal:6379/0` as never })],
]

it.each(misuses)('%s: the error names the option and never shows the password', (_name, build) => {
  let error: unknown
  try {
    build()
  } catch (e) {
    error = e
  }
  expect(error).toMatchObject({ code: expect.stringMatching(/^ERR_RK_/) })
  expect(String((error as Error).message)).not.toContain(secret)
  expect(JSON.stringify({ ...(error as object) })).not.toContain(secret)
})
