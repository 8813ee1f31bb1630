// The layering of docs/architecture.md (LAYER_RULES in scripts/import-graph.ts), held to the real
// imports of src/ and adapters/, type-only imports included: a type arrow is still an arrow a
// reader follows. A failure names each offending import as `file → file`.
import { describe, expect, it } from 'vitest'
import { breaches, findCycles, type ImportEdge, LAYER_RULES, readImportGraph } from '../../scripts/import-graph.js'

const graph = readImportGraph()

const show = (edge: ImportEdge) => `${edge.from} → ${edge.to ?? edge.specifier}${edge.typeOnly ? ' (type)' : ''}`

describe('import layering (src/ and adapters/)', () => {
  it('reads a graph: every source folder has files, every relative import names a source file', () => {
    for (const folder of ['src/limiter/', 'src/stores/', 'src/http/', 'src/provider/', 'src/client/', 'src/metrics/', 'adapters/'])
      expect(
        graph.files.some((f) => f.startsWith(folder)),
        folder,
      ).toBe(true)
    const files = new Set(graph.files)
    const unresolved = graph.edges.filter((e) => e.to !== undefined && !files.has(e.to)).map(show)
    expect(unresolved, 'relative imports that name no .ts file under src/ or adapters/').toEqual([])
  })

  it.each(LAYER_RULES.map((rule) => [rule.files, rule] as const))('%s imports none of the layers above it', (_name, rule) => {
    const offending = breaches(graph, { ...rule, noPackages: false }).map(show)
    expect(offending, `${rule.files} must not import ${rule.mustNotImport.join(', ')}`).toEqual([])
  })

  it.each(LAYER_RULES.filter((rule) => rule.noPackages).map((rule) => [rule.files, rule] as const))(
    '%s imports no package (Node built-ins only)',
    (_name, rule) => {
      const offending = breaches(graph, { ...rule, mustNotImport: [] }).map(show)
      expect(offending, `${rule.files} may import node: built-ins only`).toEqual([])
    },
  )

  it('has no import cycle among files', () => {
    const cycles = findCycles(graph).map((cycle) => cycle.join(' → '))
    expect(cycles, 'import cycles (one per group of files that reach each other)').toEqual([])
  })
})
