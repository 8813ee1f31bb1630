// The real import graph of the library's sources (src/ and adapters/), read with the TypeScript
// parser: every import, re-export, `import()` call and `import('…')` type. Shared by the layering
// test (test/architecture/imports.test.ts) and the picture of the layers
// (scripts/gen-architecture.ts), so both read the same arrows.

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, posix, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The folders whose files make up the library. */
export const SOURCE_DIRS = ['src', 'adapters'] as const

/** One import of one source file. */
export interface ImportEdge {
  /** The importing file, relative to the root, with `/` separators (`src/http/pipeline.ts`). */
  readonly from: string
  /** The imported file when the specifier is relative (`src/limiter/limiter.ts`), else undefined. */
  readonly to: string | undefined
  /** The specifier as written (`../limiter/limiter.js`, `ioredis`, `node:crypto`). */
  readonly specifier: string
  /** `import type` / `export type`, or an `import('…')` type: gone at run time. */
  readonly typeOnly: boolean
}

export interface ImportGraph {
  /** Every source file, sorted. */
  readonly files: readonly string[]
  /** Line count of each file. */
  readonly lines: ReadonlyMap<string, number>
  /** Every import, in file order. */
  readonly edges: readonly ImportEdge[]
}

/** Every `.ts` file under `dir` (relative to the root), sorted. */
function listTs(dir: string): string[] {
  const out: string[] = []
  const walk = (rel: string) => {
    for (const name of readdirSync(join(ROOT, rel))) {
      const child = posix.join(rel, name)
      if (statSync(join(ROOT, child)).isDirectory()) walk(child)
      else if (name.endsWith('.ts')) out.push(child)
    }
  }
  walk(dir)
  return out.sort()
}

/** The specifiers a file imports, with whether each is type-only. */
function importsOf(file: string, text: string): { specifier: string; typeOnly: boolean }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  const found: { specifier: string; typeOnly: boolean }[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.importClause?.isTypeOnly === true })
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly })
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push({ specifier: node.moduleReference.expression.text, typeOnly: node.isTypeOnly })
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments.length > 0 &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push({ specifier: node.arguments[0].text, typeOnly: false })
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ specifier: node.argument.literal.text, typeOnly: true })
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** The source file a relative specifier names (`./x.js` → `x.ts`, `./dir` → `dir/index.ts`). */
function resolveRelative(from: string, specifier: string, known: ReadonlySet<string>): string {
  const base = posix.normalize(posix.join(posix.dirname(from), specifier))
  const stem = base.replace(/\.(js|mjs|cjs|ts)$/, '')
  for (const candidate of [`${stem}.ts`, `${base}/index.ts`, base]) if (known.has(candidate)) return candidate
  // Unresolved: keep the path so the failure names it (the compiler reports it too).
  return `${stem}.ts`
}

/** Reads every source file and its imports. */
export function readImportGraph(): ImportGraph {
  const files = SOURCE_DIRS.flatMap(listTs)
  const known = new Set(files)
  const lines = new Map<string, number>()
  const edges: ImportEdge[] = []
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8')
    lines.set(file, text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length)
    for (const { specifier, typeOnly } of importsOf(file, text)) {
      const to = specifier.startsWith('.') ? resolveRelative(file, specifier, known) : undefined
      edges.push({ from: file, to, specifier, typeOnly })
    }
  }
  return { files, lines, edges }
}

const BUILTINS = new Set(builtinModules)

/** Whether a non-relative specifier is a Node built-in (`node:fs`, `fs`). */
export function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || BUILTINS.has(specifier)
}

/**
 * The layer a file belongs to, as the architecture names it: `src/limiter`, `src/stores/memory`,
 * `src/stores/redis`, `src/stores/cas`, `src/http`, `src/provider`, `src/create-limiter`,
 * `src/client`, `adapters/express` (one per adapter), `src/index` (the root entry). A file
 * directly in src/ other than those is a layer of its own, named after it.
 */
export function layerOf(file: string): string {
  const parts = file.replace(/\.ts$/, '').split('/')
  if (parts[0] === 'adapters') return `adapters/${parts[1]}`
  if (parts[1] === 'stores' && parts.length > 2) return `src/stores/${parts[2]}`
  return `src/${parts[1]}`
}

/** Import counts between layers: `from → to → number of file-to-file imports`. */
export type LayerGraph = ReadonlyMap<string, ReadonlyMap<string, number>>

/** The graph of layers: one arrow per pair of layers with at least one import between them. */
export function layerGraph(graph: ImportGraph): { layers: readonly string[]; edges: LayerGraph } {
  const layers = new Set(graph.files.map(layerOf))
  const edges = new Map<string, Map<string, number>>()
  const seen = new Set<string>()
  for (const edge of graph.edges) {
    if (edge.to === undefined) continue
    const from = layerOf(edge.from)
    const to = layerOf(edge.to)
    // A file importing another twice (a value and a type import) counts once.
    const pair = `${edge.from}\n${edge.to}`
    if (from === to || seen.has(pair)) continue
    seen.add(pair)
    let out = edges.get(from)
    if (out === undefined) edges.set(from, (out = new Map()))
    out.set(to, (out.get(to) ?? 0) + 1)
  }
  return { layers: [...layers].sort(), edges }
}

/**
 * The import cycles among files: one per strongly connected component of the file graph (a file
 * importing itself included), each as a path that starts and ends at the same file.
 */
export function findCycles(graph: ImportGraph): string[][] {
  const next = new Map<string, string[]>()
  for (const file of graph.files) next.set(file, [])
  for (const edge of graph.edges) {
    const out = edge.to === undefined ? undefined : next.get(edge.from)
    if (out !== undefined && edge.to !== undefined && next.has(edge.to) && !out.includes(edge.to)) out.push(edge.to)
  }
  for (const out of next.values()) out.sort()

  // Tarjan's algorithm: each component with more than one file, or a self-import, holds a cycle.
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const components: string[][] = []
  let counter = 0
  const connect = (v: string): void => {
    index.set(v, counter)
    low.set(v, counter)
    counter++
    stack.push(v)
    onStack.add(v)
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0))
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string | undefined
      do {
        w = stack.pop()
        if (w === undefined) break
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) components.push(component.sort())
    }
  }
  for (const file of graph.files) if (!index.has(file)) connect(file)

  // One concrete cycle per component: the shortest way back to its first file (breadth-first).
  return components
    .map((component) => {
      const inside = new Set(component)
      const start = component[0]
      const parent = new Map<string, string>()
      const queue = [start]
      while (queue.length > 0) {
        const v = queue.shift() as string
        for (const w of next.get(v) ?? []) {
          if (!inside.has(w)) continue
          if (w === start) {
            const path = [start]
            for (let u: string | undefined = v; u !== undefined && u !== start; u = parent.get(u)) path.splice(1, 0, u)
            return [...path, start]
          }
          if (!parent.has(w)) {
            parent.set(w, v)
            queue.push(w)
          }
        }
      }
      return [...component, start]
    })
    .sort((a, b) => a[0].localeCompare(b[0]))
}

/** One rule of the layering: files in `files` must not import anything in `mustNotImport`. */
export interface LayerRule {
  /** The files the rule is about: a folder (ending in `/`) or one file. */
  readonly files: string
  /** What they must not import, same notation. */
  readonly mustNotImport: readonly string[]
  /** Whether packages other than Node's built-ins are forbidden too. */
  readonly noPackages?: boolean
}

/**
 * The layering of docs/architecture.md; every arrow points one way:
 *
 *   adapters/ → src/provider → src/http → src/limiter ← src/stores
 *   src/client → src/limiter;  src/http and src/client → src/create-limiter.ts → limiter + stores/memory
 *   src/metrics → src/limiter
 */
export const LAYER_RULES: readonly LayerRule[] = [
  {
    // The kernel: policies, the Store contract, decisions, the limiter. Its default store is joined
    // to it one level up, in src/create-limiter.ts.
    files: 'src/limiter/',
    mustNotImport: ['src/stores/', 'src/http/', 'src/provider/', 'src/client/', 'src/metrics/', 'src/create-limiter.ts', 'adapters/'],
    noPackages: true,
  },
  // Stores keep state for the kernel and know nothing of requests or frameworks.
  { files: 'src/stores/', mustNotImport: ['src/http/', 'src/provider/', 'src/client/', 'src/metrics/', 'adapters/'] },
  // The request pipeline reaches the kernel (and createLimiter), never what is built on it.
  { files: 'src/http/', mustNotImport: ['src/provider/', 'src/client/', 'adapters/', 'src/stores/'] },
  { files: 'src/provider/', mustNotImport: ['adapters/', 'src/client/'] },
  // The outgoing side uses the kernel (and createLimiter) for its queue, nothing of the server side.
  { files: 'src/client/', mustNotImport: ['src/http/', 'src/provider/', 'src/stores/', 'adapters/'] },
  // Metrics listen to a limiter's events: the kernel only, no store, no request, no package (the caller hands in its registry or meter).
  {
    files: 'src/metrics/',
    mustNotImport: ['src/stores/', 'src/http/', 'src/provider/', 'src/client/', 'src/create-limiter.ts', 'adapters/'],
    noPackages: true,
  },
]

/** Whether `file` is in `area` (a folder ending in `/`, or one file). */
export function within(file: string, area: string): boolean {
  return area.endsWith('/') ? file.startsWith(area) : file === area
}

/** The imports of source files that `rule` forbids (packages included when the rule says so). */
export function breaches(graph: ImportGraph, rule: LayerRule): ImportEdge[] {
  return graph.edges.filter((e) => {
    if (!within(e.from, rule.files)) return false
    if (e.to === undefined) return rule.noPackages === true && !isBuiltin(e.specifier)
    return rule.mustNotImport.some((area) => within(e.to as string, area))
  })
}
