// The layering of docs/architecture.md, held to the real imports of src/ and adapters/ (type-only
// imports included: a type arrow is still an arrow a reader follows). Every arrow points one way:
//
//   adapters/ → src/provider → src/http → src/limiter ← src/stores
//   src/client → src/limiter;  src/http and src/client → src/create-limiter.ts → limiter + stores/memory
//
// A failure names each offending import as `file → file`.
import { describe, expect, it } from 'vitest'
import { findCycles, type ImportEdge, isBuiltin, readImportGraph } from '../../scripts/import-graph.js'

const graph = readImportGraph()

interface Rule {
  /** The files the rule is about: a folder (ending in `/`) or one file. */
  readonly files: string
  /** What they must not import, same notation. */
  readonly mustNotImport: readonly string[]
  /** Whether packages other than Node's built-ins are forbidden too. */
  readonly noPackages?: boolean
}

const RULES: readonly Rule[] = [
  {
    // The kernel: policies, the Store contract, decisions, the limiter. Its default store is joined
    // to it one level up, in src/create-limiter.ts.
    files: 'src/limiter/',
    mustNotImport: ['src/stores/', 'src/http/', 'src/provider/', 'src/client/', 'src/create-limiter.ts', 'adapters/'],
    noPackages: true,
  },
  // Stores keep state for the kernel and know nothing of requests or frameworks.
  { files: 'src/stores/', mustNotImport: ['src/http/', 'src/provider/', 'src/client/', 'adapters/'] },
  // The request pipeline reaches the kernel (and createLimiter), never what is built on it.
  { files: 'src/http/', mustNotImport: ['src/provider/', 'src/client/', 'adapters/', 'src/stores/'] },
  { files: 'src/provider/', mustNotImport: ['adapters/', 'src/client/'] },
  // The outgoing side uses the kernel (and createLimiter) for its queue, nothing of the server side.
  { files: 'src/client/', mustNotImport: ['src/http/', 'src/provider/', 'src/stores/', 'adapters/'] },
]

const within = (file: string, area: string) => (area.endsWith('/') ? file.startsWith(area) : file === area)
const show = (edge: ImportEdge) => `${edge.from} → ${edge.to ?? edge.specifier}${edge.typeOnly ? ' (type)' : ''}`

describe('import layering (src/ and adapters/)', () => {
  it('reads a graph: every source folder has files, every relative import names a source file', () => {
    for (const folder of ['src/limiter/', 'src/stores/', 'src/http/', 'src/provider/', 'src/client/', 'adapters/'])
      expect(
        graph.files.some((f) => f.startsWith(folder)),
        folder,
      ).toBe(true)
    const files = new Set(graph.files)
    const unresolved = graph.edges.filter((e) => e.to !== undefined && !files.has(e.to)).map(show)
    expect(unresolved, 'relative imports that name no .ts file under src/ or adapters/').toEqual([])
  })

  it.each(RULES.map((rule) => [rule.files, rule] as const))('%s imports none of the layers above it', (_name, rule) => {
    const offending = graph.edges
      .filter((e) => within(e.from, rule.files) && e.to !== undefined && rule.mustNotImport.some((area) => within(e.to as string, area)))
      .map(show)
    expect(offending, `${rule.files} must not import ${rule.mustNotImport.join(', ')}`).toEqual([])
  })

  it.each(RULES.filter((rule) => rule.noPackages).map((rule) => [rule.files] as const))(
    '%s imports no package (Node built-ins only)',
    (files) => {
      const offending = graph.edges.filter((e) => within(e.from, files) && e.to === undefined && !isBuiltin(e.specifier)).map(show)
      expect(offending, `${files} may import node: built-ins only`).toEqual([])
    },
  )

  it('has no import cycle among files', () => {
    const cycles = findCycles(graph).map((cycle) => cycle.join(' → '))
    expect(cycles, 'import cycles (one per group of files that reach each other)').toEqual([])
  })
})
