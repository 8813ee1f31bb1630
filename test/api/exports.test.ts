// The public surface is a contract: every name an entry point exports is listed, with what it is
// for, in docs/api-surface.md. Exporting a name without documenting it there (or leaving a name
// documented after it stopped being exported) fails here, naming it.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { documentedSurface, entryPoints, exportsOf, root, SURFACE_FILE } from './surface.js'

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }
const entries = entryPoints()
const actual = exportsOf(entries)
const documented = documentedSurface(readFileSync(join(root, SURFACE_FILE), 'utf8'))

describe('public API surface', () => {
  it("tsconfig paths name exactly package.json's subpath exports", () => {
    const subpaths = Object.keys(pkg.exports)
      .filter((key) => key !== './package.json')
      .map((key) => `ratekeeper${key.slice(1)}`)
    expect([...entries.keys()].sort()).toEqual(subpaths.sort())
  })

  it(`${SURFACE_FILE} has one section per entry point`, () => {
    expect([...documented.keys()].sort()).toEqual([...entries.keys()].sort())
  })

  it.each([...entries.keys()])('%s: every export is documented, and nothing else', (entry) => {
    const exported = actual.get(entry) ?? []
    const listed = documented.get(entry) ?? []
    const undocumented = exported.filter(({ name }) => !listed.includes(name))
    const stale = listed.filter((name) => !exported.some((e) => e.name === name))
    const duplicated = listed.filter((name, i) => listed.indexOf(name) !== i)
    const problems = [
      ...undocumented.map(
        ({ name, kind, summary }) =>
          `${name} (${kind}) is exported by ${entry} but not documented: add "- \`${name}\` ${summary || '…'}" under ## \`${entry}\` in ${SURFACE_FILE} (or stop exporting it)`,
      ),
      ...stale.map((name) => `${name} is documented under ## \`${entry}\` in ${SURFACE_FILE} but ${entry} does not export it`),
      ...duplicated.map((name) => `${name} is listed twice under ## \`${entry}\``),
    ]
    expect(problems).toEqual([])
  })

  it('the root export stays small: at most 40 names', () => {
    expect(actual.get('ratekeeper')?.length).toBeLessThanOrEqual(40)
  })
})
