import pg from 'pg'
import { describe, it } from 'vitest'
import { PostgresStore, type PostgresStoreOptions } from '../../src/stores/postgres/index.js'
import { banner } from './redis.js'

/** The shared PostgreSQL the suites use (each suite works in a schema of its own, dropped after). */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** True when `url` answers a query within a second. */
export async function probePostgres(url: string = DATABASE_URL): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

const reachable = await probePostgres()

/**
 * `describe` for suites that need the shared PostgreSQL at DATABASE_URL: skipped with a loud
 * banner when it is unreachable, and failing under `CI=true`.
 */
export function describePostgres(name: string, fn: () => void): void {
  if (reachable) {
    describe(name, fn)
    return
  }
  banner(`PostgreSQL is not reachable at ${DATABASE_URL}: "${name}" is SKIPPED. Start one or set DATABASE_URL.`)
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs a reachable PostgreSQL (CI=true)', () => {
        throw new Error(`PostgreSQL is not reachable at ${DATABASE_URL}; under CI=true the PostgreSQL suites fail instead of skipping`)
      })
    })
  } else {
    describe.skip(name, () => {
      it('needs a reachable PostgreSQL', () => {})
    })
  }
}

/** A schema name unique to this run and label. */
export function uniqueSchema(label: string): string {
  return `rkt_${label}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
}

/** A pool, a fresh schema of its own, and stores in it; `drop()` removes the schema and ends the pool. */
export async function postgresFixture(label: string, url: string = DATABASE_URL, max = 10) {
  const schema = uniqueSchema(label)
  const pool = new pg.Pool({ connectionString: url, max })
  await pool.query(`CREATE SCHEMA "${schema}"`)
  const table = `${schema}.state`
  const store = async (options: Omit<PostgresStoreOptions, 'pool' | 'table'> = {}) => {
    const s = new PostgresStore({ pool, table, ...options })
    await s.createSchema()
    return s
  }
  const rows = async (): Promise<number> => Number((await pool.query(`SELECT count(*) AS n FROM "${schema}".state`)).rows[0].n)
  const drop = async () => {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`)
    await pool.end()
  }
  return { schema, table, pool, store, rows, drop }
}
