// Exactness across processes: several Node processes share one Redis and fire thousands of
// concurrent requests at one key; exactly the limit is admitted, in every trial. The processes
// use different client libraries (rotating over trials: every library the store takes races
// the others at least twice).

import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, expect, it } from 'vitest'
import { deleteUnder, describeRedis, keysWithoutTtl, REDIS_URL, uniquePrefix } from '../../helpers/redis.js'

const run = promisify(execFile)
const hammer = fileURLToPath(new URL('./fixtures/hammer.ts', import.meta.url))
const root = fileURLToPath(new URL('../..', import.meta.url))

const PROCESSES = 4
const REQUESTS = 1500
/** Trial name → what it must admit: "tb" a bucket of 1000; "mix" that bucket and a window of 700. */
const TRIALS = { tb1: 1000, mix1: 700, tb2: 1000, mix2: 700, tb3: 1000 }

describeRedis('RedisStore across processes', () => {
  const prefix = uniquePrefix('procs')
  const admin = new Redis(REDIS_URL)

  afterAll(async () => {
    expect((await keysWithoutTtl(admin, prefix)).without).toEqual([])
    await deleteUnder(admin, prefix)
    admin.disconnect()
  })

  it(`admits exactly the limit when ${PROCESSES} processes fire ${PROCESSES * REQUESTS} requests at one key, in every trial`, async () => {
    const outputs = await Promise.all(
      Array.from({ length: PROCESSES }, (_, p) =>
        run(
          process.execPath,
          ['--import', 'tsx', hammer, REDIS_URL, prefix, String(PROCESSES), String(REQUESTS), Object.keys(TRIALS).join(','), String(p)],
          {
            cwd: root,
            timeout: 120_000,
          },
        ),
      ),
    )
    const perProcess = outputs.map(
      ({ stdout }) =>
        JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, { admitted: number; errors: number; library: string }>,
    )
    for (const [trial, limit] of Object.entries(TRIALS)) {
      const admitted = perProcess.reduce((sum, r) => sum + r[trial].admitted, 0)
      const errors = perProcess.reduce((sum, r) => sum + r[trial].errors, 0)
      expect({ trial, admitted, errors }).toEqual({ trial, admitted: limit, errors: 0 })
      // The processes really raced: admissions are spread over more than one of them.
      expect(perProcess.filter((r) => r[trial].admitted > 0).length).toBeGreaterThan(1)
    }
    // Every library took part.
    const libraries = new Set(perProcess.flatMap((r) => Object.values(r).map((x) => x.library)))
    expect(libraries.size).toBe(7)
  }, 180_000)
})
