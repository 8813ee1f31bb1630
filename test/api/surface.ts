// What each entry point of the package exports, read by the TypeScript checker from the sources
// (values and types alike), and what docs/api-surface.md says it exports.

import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

export const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
export const SURFACE_FILE = 'docs/api-surface.md'

/** One exported name: a value (function, class, constant) or a type only. */
export interface ExportedName {
  readonly name: string
  readonly kind: 'value' | 'type'
  /** The first sentence of its TSDoc, if any. */
  readonly summary: string
}

/**
 * Entry point (`ratekeeper`, `ratekeeper/http`, …) → source file, from tsconfig.json `paths`,
 * which the type-checker, the docs and the tests resolve the package's names through. The test
 * checks that these are exactly package.json's subpath exports.
 */
export function entryPoints(): Map<string, string> {
  const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as {
    compilerOptions: { paths: Record<string, string[]> }
  }
  const entries = new Map<string, string>()
  for (const [name, [file]] of Object.entries(tsconfig.compilerOptions.paths)) {
    if (name === 'ratekeeper' || name.startsWith('ratekeeper/')) entries.set(name, join(root, file))
  }
  return entries
}

/** Every name each entry point exports (sorted), as a consumer of the package sees them. */
export function exportsOf(entries: Map<string, string>): Map<string, ExportedName[]> {
  const program = ts.createProgram([...entries.values()], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  })
  const checker = program.getTypeChecker()
  const result = new Map<string, ExportedName[]>()
  for (const [entry, file] of entries) {
    const source = program.getSourceFile(file)
    const module = source === undefined ? undefined : checker.getSymbolAtLocation(source)
    if (module === undefined) throw new Error(`${entry}: ${file} is not a module the compiler can read`)
    const names = checker.getExportsOfModule(module).map((symbol): ExportedName => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
      const doc = ts.displayPartsToString(target.getDocumentationComment(checker)).replace(/\s+/g, ' ').trim()
      const summary = /^.*?[.!?](?=\s|$)/.exec(doc)?.[0] ?? doc
      return { name: symbol.name, kind: target.flags & ts.SymbolFlags.Value ? 'value' : 'type', summary }
    })
    result.set(
      entry,
      names.sort((a, b) => a.name.localeCompare(b.name)),
    )
  }
  return result
}

/**
 * The names docs/api-surface.md documents, per entry point: under a heading `` ## `ratekeeper/x` ``,
 * one list item per name, `` - `name` ``, then what it is for.
 */
export function documentedSurface(markdown: string): Map<string, string[]> {
  const surface = new Map<string, string[]>()
  let current: string[] | undefined
  for (const line of markdown.split(/\r?\n/)) {
    const heading = /^##\s+`(ratekeeper(?:\/[\w-]+)?)`\s*$/.exec(line)
    if (heading !== null) {
      current = []
      surface.set(heading[1], current)
      continue
    }
    if (/^#{1,2}\s/.test(line)) current = undefined
    const item = /^- `([\w$]+)`/.exec(line)
    if (item !== null && current !== undefined) current.push(item[1])
  }
  return surface
}
