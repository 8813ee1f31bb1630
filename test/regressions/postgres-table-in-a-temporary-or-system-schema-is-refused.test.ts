// table: 'pg_temp.rk_state' was accepted: createSchema() made a temporary table and function on
// one connection of the pool, which decided alone while the pool's other connections failed
// ("run createSchema()"), and the state vanished when the pool closed that idle connection. No
// schema whose name starts with pg_ can hold the store (PostgreSQL reserves the prefix for its
// own: pg_catalog, pg_toast, pg_temp; the names are quoted, so PG_TEMP is another), so such a table is refused at construction, naming the
// option.

import { expect, it } from 'vitest'
import { PostgresStore } from '../../src/stores/postgres/index.js'

const pool = { query: async () => ({ rows: [] }) }

it.each(['pg_temp.rk_state', 'pg_catalog.rk_state', 'pg_toast.state', 'pg_temp_3.state'])('refuses %s', (table) => {
  expect(() => new PostgresStore({ pool, table })).toThrow(
    expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', message: expect.stringContaining('"table"') }),
  )
})

it.each(['pg_state', 'public.pg_state', 'PG_TEMP.state', 'pgx.state', 'app.state'])('accepts %s', (table) => {
  expect(new PostgresStore({ pool, table }).table).toBe(table)
})
