// The API reference builds without a TypeDoc warning: no public type refers to one that is not
// exported, no {@link} points at a name its entry point does not export, no internal slips in.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

describe('API reference (npm run docs:api)', () => {
  it('builds with no TypeDoc warning', () => {
    const out = mkdtempSync(join(tmpdir(), 'rk-api-'))
    try {
      const run = spawnSync(process.execPath, ['scripts/gen-api.mjs', '--strict', '--out', out], { encoding: 'utf8' })
      expect(`${run.stdout}${run.stderr}`).not.toMatch(/warning|error/i)
      expect(run.status).toBe(0)
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  }, 180_000)
})
