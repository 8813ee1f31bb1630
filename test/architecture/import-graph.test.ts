// The graph reader the architecture tests and scripts/gen-architecture.ts rely on, checked on small
// made-up graphs, so a green layering test means the arrows are right, not that none were read.
import { describe, expect, it } from 'vitest'
import {
  breaches,
  findCycles,
  type ImportGraph,
  isBuiltin,
  LAYER_RULES,
  layerGraph,
  layerOf,
  readImportGraph,
} from '../../scripts/import-graph.js'

function graphOf(arrows: Record<string, string[]>): ImportGraph {
  const files = [...new Set([...Object.keys(arrows), ...Object.values(arrows).flat()])].sort()
  const edges = Object.entries(arrows).flatMap(([from, tos]) => tos.map((to) => ({ from, to, specifier: to, typeOnly: false })))
  return { files, lines: new Map(files.map((f) => [f, 1])), edges }
}

describe('import graph (scripts/import-graph.ts)', () => {
  it('names the layer of every kind of file', () => {
    expect(layerOf('src/limiter/algorithms/token-bucket.ts')).toBe('src/limiter')
    expect(layerOf('src/stores/memory.ts')).toBe('src/stores/memory')
    expect(layerOf('src/stores/memory/heap.ts')).toBe('src/stores/memory')
    expect(layerOf('src/stores/redis/script.ts')).toBe('src/stores/redis')
    expect(layerOf('src/create-limiter.ts')).toBe('src/create-limiter')
    expect(layerOf('src/index.ts')).toBe('src/index')
    expect(layerOf('adapters/koa.ts')).toBe('adapters/koa')
  })

  it('finds each cycle once, as a path back to its first file, self-imports included', () => {
    const cycles = findCycles(
      graphOf({
        'a.ts': ['b.ts'],
        'b.ts': ['c.ts', 'd.ts'],
        'c.ts': ['a.ts'],
        'd.ts': [],
        'e.ts': ['e.ts'],
        'f.ts': ['a.ts'],
      }),
    )
    expect(cycles).toEqual([
      ['a.ts', 'b.ts', 'c.ts', 'a.ts'],
      ['e.ts', 'e.ts'],
    ])
    expect(findCycles(graphOf({ 'a.ts': ['b.ts'], 'b.ts': ['c.ts'] }))).toEqual([])
  })

  it('counts imports between layers once per pair of files, and none inside a layer', () => {
    const { edges } = layerGraph(
      graphOf({
        'src/http/a.ts': ['src/limiter/x.ts', 'src/limiter/y.ts', 'src/http/b.ts'],
        'src/http/b.ts': ['src/limiter/x.ts', 'src/limiter/x.ts'],
      }),
    )
    expect(edges).toEqual(new Map([['src/http', new Map([['src/limiter', 3]])]]))
  })

  it('a rule catches imports of the layers above, and packages where it forbids them', () => {
    const kernel = LAYER_RULES.find((rule) => rule.files === 'src/limiter/')
    if (kernel === undefined) throw new Error('no rule for src/limiter/')
    const arrows = graphOf({
      'src/limiter/limiter.ts': ['src/stores/memory.ts', 'src/create-limiter.ts', 'src/limiter/policy.ts'],
      'src/stores/memory.ts': ['src/limiter/policy.ts'],
    })
    const packages = ['lru-cache', 'node:crypto'].map((specifier) => ({
      from: 'src/limiter/limiter.ts',
      to: undefined,
      specifier,
      typeOnly: false,
    }))
    const graph: ImportGraph = { ...arrows, edges: [...arrows.edges, ...packages] }
    expect(breaches(graph, kernel).map((e) => e.to ?? e.specifier)).toEqual(['src/stores/memory.ts', 'src/create-limiter.ts', 'lru-cache'])
  })

  it('reads imports, re-exports and import() of the real sources', () => {
    const { edges } = readImportGraph()
    // A dynamic import: the Redis store loads ioredis on demand (its only import of it).
    expect(edges.some((e) => e.from.startsWith('src/stores/redis/') && e.specifier === 'ioredis' && !e.typeOnly)).toBe(true)
    // The root entry re-exports the layers.
    expect(edges.some((e) => e.from === 'src/index.ts' && e.to?.startsWith('src/limiter/'))).toBe(true)
    expect(isBuiltin('node:crypto')).toBe(true)
    expect(isBuiltin('ioredis')).toBe(false)
  })
})
