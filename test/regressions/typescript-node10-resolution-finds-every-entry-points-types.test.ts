// A TypeScript project on `"module": "commonjs"` without `moduleResolution` (node10: what many
// CommonJS projects and older `tsc --init` configs use) reads no `exports` map: every subpath
// import (`ratekeeper/express`, `ratekeeper/redis`, …) failed with TS2307 "Cannot find module",
// though Node loads it at run time. `typesVersions` now points each subpath at its types.
// Resolved with TypeScript's own resolver, against package.json, for every entry point.
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { expect, it } from 'vitest'

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { require?: { types: string } }>
}
const subpaths = Object.keys(pkg.exports).filter((k) => k !== '.' && k !== './package.json')
/** The declaration files the build writes (the test does not need a build). */
const declared = new Set(subpaths.map((k) => resolve(root, pkg.exports[k].require?.types ?? '')))

// The project at /app, with the repository installed as /app/node_modules/ratekeeper.
const installed = '/app/node_modules/ratekeeper'
const toRepo = (path: string): string | undefined =>
  path.startsWith(`${installed}/`) ? join(root, path.slice(installed.length + 1)) : undefined
const host: ts.ModuleResolutionHost = {
  fileExists: (path) => {
    const file = toRepo(path)
    return file !== undefined && (declared.has(file) || existsSync(file))
  },
  readFile: (path) => {
    const file = toRepo(path)
    return file !== undefined && existsSync(file) ? readFileSync(file, 'utf8') : undefined
  },
  directoryExists: (path) => path === '/app/node_modules' || path === installed || toRepo(path) !== undefined,
}

it.each(subpaths.map((k) => [`ratekeeper/${k.slice(2)}`, k] as const))('%s resolves to its types under node10', (name, subpath) => {
  const options: ts.CompilerOptions = { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 }
  const { resolvedModule } = ts.resolveModuleName(name, '/app/index.ts', options, host)
  expect(resolvedModule?.resolvedFileName).toBe(`${installed}/${(pkg.exports[subpath].require?.types ?? '').slice(2)}`)
})
