// Every ```ts / ```js block of README.md and docs/**/*.md is type-checked against the sources
// (tsconfig `paths` map `ratekeeper`, `ratekeeper/express`, … to them), and the blocks marked
// ```ts run are executed, so the documentation cannot rot. Fragments are marked ```ts ignore.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { format } from 'node:util'
import ts from 'typescript'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { type CodeBlock, expectedOutputs, extractBlocks, headingAnchors, markdownFiles, markdownLinks, readBlocks } from './extract.js'

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const outDir = join(root, '.tmp', 'docs-blocks')

const blocks = readBlocks(root)
const checked = blocks.filter((b) => !b.ignore)
const ignored = blocks.filter((b) => b.ignore)
const runnable = checked.filter((b) => b.run)

/** `docs/guide/x.md` block 3 → `.tmp/docs-blocks/docs__guide__x-3.ts`. */
function pathOf(block: CodeBlock): string {
  const base = block.file.replace(/\.md$/, '').replace(/[/\\]/g, '__')
  return join(outDir, `${base}-${block.index}.${block.lang}`)
}

function label(block: CodeBlock): string {
  return `${block.file} block ${block.index} (line ${block.line})`
}

rmSync(outDir, { recursive: true, force: true })
mkdirSync(outDir, { recursive: true })
const fileOf = new Map<string, CodeBlock>()
for (const block of checked) {
  const path = pathOf(block)
  fileOf.set(resolve(path), block)
  // A block without import/export would be a global script, sharing its names with every other
  // block: appending `export {}` (after the last line, so line numbers hold) makes it a module.
  const isModule = /^\s*(import|export)\s/m.test(block.code)
  writeFileSync(path, isModule ? `${block.code}\n` : `${block.code}\nexport {}\n`)
}

/** One Program over every block, with the repository's compiler options plus checkJs. */
function typeCheck(): string[] {
  const configPath = join(root, 'tsconfig.json')
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
      },
    },
  )
  if (parsed === undefined) throw new Error('tsconfig.json could not be read')
  const options: ts.CompilerOptions = { ...parsed.options, noEmit: true, allowJs: true, checkJs: true, incremental: false }
  const program = ts.createProgram({ rootNames: [...fileOf.keys()], options })
  const problems: string[] = []
  for (const d of program.getOptionsDiagnostics()) problems.push(`tsconfig: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)
  for (const [path, block] of fileOf) {
    const source = program.getSourceFile(path)
    if (source === undefined) {
      problems.push(`${label(block)}: not part of the program`)
      continue
    }
    const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]
    for (const d of diagnostics) {
      const where =
        d.start === undefined
          ? ''
          : (() => {
              const { line, character } = source.getLineAndCharacterOfPosition(d.start)
              return ` → ${block.file}:${block.line + line}:${character + 1}`
            })()
      problems.push(`${label(block)}${where}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)
    }
  }
  return problems
}

describe('docs code blocks', () => {
  afterAll(() => {
    const files = new Set(blocks.map((b) => b.file)).size
    console.info(
      `docs code blocks: ${blocks.length} in ${files} files; ${checked.length} type-checked, ${runnable.length} run, ${ignored.length} ignored` +
        (ignored.length > 0 ? ` (${ignored.map(label).join('; ')})` : ''),
    )
  })

  it('finds the blocks of README.md and docs/', () => {
    expect(blocks.length).toBeGreaterThan(0)
  })

  // One TypeScript program over every block: about 15 s alone, past 30 s on a busy machine.
  it('type-checks every block against the real API', () => {
    const problems = typeCheck()
    expect(problems, `\n${problems.join('\n')}\n`).toEqual([])
  }, 120_000)

  describe.runIf(runnable.length > 0)('runs the blocks marked `run`', () => {
    it.each(runnable.map((b) => [label(b), b] as const))('%s', async (_name, block) => {
      const logs: string[] = []
      const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        logs.push(format(...args))
      })
      try {
        await import(pathToFileURL(pathOf(block)).href)
      } finally {
        spy.mockRestore()
      }
      // Each `// → text` comment must match a printed line, in order.
      let at = 0
      for (const expected of expectedOutputs(block.code)) {
        const found = logs.indexOf(expected, at)
        expect(
          found,
          `${label(block)}: expected a line "${expected}" after line ${at} of the output:\n${logs.join('\n')}`,
        ).toBeGreaterThanOrEqual(0)
        at = found + 1
      }
    })
  })
})

describe('docs links', () => {
  it('every relative link of README.md and docs/ points at a file (and heading) that exists', () => {
    const broken: string[] = []
    const anchorsOf = new Map<string, Set<string>>()
    const anchors = (file: string) => {
      let set = anchorsOf.get(file)
      if (set === undefined) {
        set = headingAnchors(readFileSync(join(root, file), 'utf8'))
        anchorsOf.set(file, set)
      }
      return set
    }
    for (const file of markdownFiles(root)) {
      for (const link of markdownLinks(readFileSync(join(root, file), 'utf8'))) {
        const [path, anchor] = link.target.split('#', 2)
        const target =
          path === ''
            ? file
            : relative(root, resolve(root, dirname(file), decodeURI(path)))
                .split('\\')
                .join('/')
        // The API reference is generated (node scripts/gen-api.mjs), not committed.
        if (target.startsWith('docs/api/') || target === 'docs/api') continue
        if (!existsSync(join(root, target))) broken.push(`${file}:${link.line}: ${link.target} (no such file)`)
        else if (anchor !== undefined && target.endsWith('.md') && !anchors(target).has(anchor)) {
          broken.push(`${file}:${link.line}: ${link.target} (no heading #${anchor} in ${target})`)
        }
      }
    }
    expect(broken, `\n${broken.join('\n')}\n`).toEqual([])
  })

  it('computes GitHub heading anchors', () => {
    expect([...headingAnchors('# A b\n## `code` & more!\n## A b\n```\n# not\n```')]).toEqual(['a-b', 'code--more', 'a-b-1'])
  })
})

describe('the block extractor', () => {
  it('reads languages, flags and line numbers, and skips nested fences', () => {
    const md = [
      '# t', // 1
      '```ts', // 2
      'const a = 1', // 3
      '```', // 4
      '````md', // 5
      '```ts', // 6
      'not a block', // 7
      '```', // 8
      '````', // 9
      '```js run', // 10
      "console.log('x') // → x", // 11
      '```', // 12
      '```ts ignore', // 13
      '…', // 14
      '```', // 15
      '```sh', // 16
      'npm i', // 17
      '```', // 18
    ].join('\n')
    const found = extractBlocks('x.md', md)
    expect(found.map((b) => [b.index, b.line, b.lang, b.run, b.ignore, b.code])).toEqual([
      [1, 3, 'ts', false, false, 'const a = 1'],
      [2, 11, 'js', true, false, "console.log('x') // → x"],
      [3, 14, 'ts', false, true, '…'],
    ])
    expect(expectedOutputs(found[1].code)).toEqual(['x'])
  })

  it('rejects an unknown flag and an unclosed fence', () => {
    expect(() => extractBlocks('x.md', '```ts runn\nx\n```')).toThrow(/unknown code block flag/)
    expect(() => extractBlocks('x.md', '```ts\nx\n')).toThrow(/never closed/)
  })
})
