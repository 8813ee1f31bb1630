// A connection string passed where an object or a name belongs is quoted in the error, its
// password masked. The mask stopped at the first '/', '?' or '#' of a URL's password, so a
// generated password (base64 holds '/') was shown whole: "postgres://u:ab/cd@h/db"; a quoted
// key=value password ("password='two words'") showed all but its first word, and a JSON or YAML
// one ('"password":"…"', 'password: …') was not masked at all.

import { expect, it } from 'vitest'
import { PostgresStore } from '../../src/stores/postgres/index.js'

const SECRET = 's3cRet'

it.each([
  `postgres://app:ab/${SECRET}@db.internal/app`,
  `postgres://app:ab?${SECRET}@db.internal/app`,
  `postgres://app:ab#${SECRET}@db.internal/app`,
  `postgres://app:ab@${SECRET}@db.internal/app`,
  `postgres://app:${SECRET}@db.internal/app`,
  `postgres://app@db.internal/app?password=${SECRET}&sslmode=require`,
  `host=db user=app password='two ${SECRET}' dbname=app`,
  `host=db user=app password="two ${SECRET}" dbname=app`,
  `{"user":"app","password":"${SECRET}"}`,
  `password: ${SECRET}`,
])('masks the password of %s', (pool) => {
  let message = ''
  try {
    new PostgresStore({ pool: pool as never })
  } catch (error) {
    message = (error as Error).message
  }
  expect(message).toContain('"pool" must be')
  expect(message).not.toContain(SECRET)
  expect(message).toContain('***')
})
