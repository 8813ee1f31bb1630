// The picture of the layers in the docs is drawn from the real imports (scripts/gen-architecture.ts):
// every docs page that holds the generated block must hold what the generator draws today.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { committedBlock, DEFAULT_FILE, generatedBlock, REGENERATE, renderGraph, START_MARKER } from '../../scripts/gen-architecture.js'
import { type ImportGraph, ROOT } from '../../scripts/import-graph.js'

const pages = readdirSync(join(ROOT, 'docs'))
  .filter((name) => name.endsWith('.md'))
  .map((name) => `docs/${name}`)
  .filter((file) => readFileSync(join(ROOT, file), 'utf8').includes(START_MARKER))

describe('architecture graph (scripts/gen-architecture.ts)', () => {
  it(`${DEFAULT_FILE} holds the generated block`, () => {
    expect(pages).toContain(DEFAULT_FILE)
  })

  it.each(pages)('%s draws the imports as they are today', (file) => {
    const committed = committedBlock(readFileSync(join(ROOT, file), 'utf8'))
    const expected = generatedBlock()
    expect(committed === expected, `${file}: the architecture graph is stale; run \`${REGENERATE}\` and commit the result`).toBe(true)
    // The same comparison again, for the diff in the report.
    expect(committed).toBe(expected)
  })

  it('draws one box per layer and one labelled arrow per pair of layers; arrows against the layering are dashed', () => {
    const edge = (from: string, to: string, typeOnly = false) => ({ from, to, specifier: to, typeOnly })
    const graph: ImportGraph = {
      files: ['adapters/koa.ts', 'src/http/a.ts', 'src/http/b.ts', 'src/limiter/l.ts', 'src/stores/memory.ts'],
      lines: new Map(),
      edges: [
        edge('adapters/koa.ts', 'src/http/a.ts'),
        edge('src/http/a.ts', 'src/limiter/l.ts'),
        edge('src/http/b.ts', 'src/limiter/l.ts', true),
        edge('src/limiter/l.ts', 'src/stores/memory.ts'),
        edge('src/stores/memory.ts', 'src/limiter/l.ts'),
      ],
    }
    expect(renderGraph(graph).split('\n')).toEqual([
      '```mermaid',
      'flowchart TB',
      '  subgraph adapters["adapters/"]',
      '    adapters_koa["koa"]',
      '  end',
      '  src_http["src/http"]',
      '  src_stores_memory["src/stores/memory"]',
      '  src_limiter["src/limiter"]',
      '  adapters_koa -->|1| src_http',
      '  src_http -->|2| src_limiter',
      '  src_stores_memory -->|1| src_limiter',
      '  src_limiter -.->|"1 ✗"| src_stores_memory',
      '```',
    ])
  })
})
