// Exactness across processes: several Node processes share one PostgreSQL table and fire
// thousands of concurrent requests (64 in flight each) at one key; exactly the limit is admitted,
// in every trial.

import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describePostgres, postgresFixture } from '../../helpers/postgres.js'

const run = promisify(execFile)
const hammer = fileURLToPath(new URL('./fixtures/hammer.ts', import.meta.url))
const root = fileURLToPath(new URL('../..', import.meta.url))

const PROCESSES = 4
const REQUESTS = 800
/** Trial name → what it must admit: "tb" a bucket of 1000; "mix" that bucket and a window of 700. */
const TRIALS = { tb1: 1000, mix1: 700 }

describePostgres('PostgresStore across processes', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>

  beforeAll(async () => {
    fixture = await postgresFixture('procs')
    await fixture.store()
    await fixture.pool.query(`CREATE TABLE ${fixture.table}_barrier (trial text PRIMARY KEY, n integer NOT NULL)`)
  })

  afterAll(async () => {
    await fixture.drop()
  })

  it(`admits exactly the limit when ${PROCESSES} processes fire ${PROCESSES * REQUESTS} requests at one key, in every trial`, async () => {
    const url = fixture.pool.options.connectionString ?? ''
    const outputs = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        run(
          process.execPath,
          ['--import', 'tsx', hammer, url, fixture.table, String(PROCESSES), String(REQUESTS), Object.keys(TRIALS).join(',')],
          {
            cwd: root,
            timeout: 150_000,
          },
        ),
      ),
    )
    const perProcess = outputs.map(
      ({ stdout }) => JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, { admitted: number; errors: number }>,
    )
    for (const [trial, limit] of Object.entries(TRIALS)) {
      const admitted = perProcess.reduce((sum, r) => sum + r[trial].admitted, 0)
      const errors = perProcess.reduce((sum, r) => sum + r[trial].errors, 0)
      expect({ trial, admitted, errors }).toEqual({ trial, admitted: limit, errors: 0 })
      // The processes really raced: admissions are spread over more than one of them.
      expect(perProcess.filter((r) => r[trial].admitted > 0).length).toBeGreaterThan(1)
    }
  }, 180_000)
})
