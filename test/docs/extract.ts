import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

/** A fenced code block of a Markdown file that the docs test compiles (and maybe runs). */
export interface CodeBlock {
  /** The Markdown file, relative to the repository root (`docs/concepts.md`). */
  readonly file: string
  /** 1-based index among the file's TypeScript/JavaScript blocks. */
  readonly index: number
  /** 1-based line of the block's first code line in the Markdown file. */
  readonly line: number
  readonly lang: 'ts' | 'js'
  /** Marked ```ts ignore: a fragment, neither compiled nor run. */
  readonly ignore: boolean
  /** Marked ```ts run: compiled, then executed (self-contained, memory store only). */
  readonly run: boolean
  readonly code: string
}

const LANGS: Record<string, 'ts' | 'js'> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' }
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)(.*)$/

/**
 * Extracts the ```ts / ```js blocks of a Markdown text. Other languages are skipped; a fence
 * nested in a longer fence (a ```md block showing a ```ts block) is part of the outer block's
 * text, as in CommonMark. Words after the language are flags: `ignore`, `run`.
 */
export function extractBlocks(file: string, markdown: string): CodeBlock[] {
  const lines = markdown.split(/\r?\n/)
  const blocks: CodeBlock[] = []
  let open: { fence: string; lang: string; flags: string[]; start: number; body: string[] } | undefined
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]
    const match = FENCE.exec(text)
    if (open === undefined) {
      if (match === null) continue
      const flags = match[3].trim().split(/\s+/).filter(Boolean)
      open = { fence: match[1], lang: match[2].toLowerCase(), flags, start: i + 2, body: [] }
      continue
    }
    const closes =
      match !== null && match[1][0] === open.fence[0] && match[1].length >= open.fence.length && match[2] === '' && match[3].trim() === ''
    if (!closes) {
      open.body.push(text)
      continue
    }
    const lang = LANGS[open.lang]
    if (lang !== undefined) {
      const unknown = open.flags.filter((f) => f !== 'ignore' && f !== 'run' && !/^[\w-]+=/.test(f))
      if (unknown.length > 0)
        throw new Error(`${file}:${open.start - 1}: unknown code block flag(s) ${unknown.join(', ')} (known: ignore, run)`)
      blocks.push({
        file,
        index: blocks.length + 1,
        line: open.start,
        lang,
        ignore: open.flags.includes('ignore'),
        run: open.flags.includes('run'),
        code: open.body.join('\n'),
      })
    }
    open = undefined
  }
  if (open !== undefined) throw new Error(`${file}:${open.start - 1}: code fence never closed`)
  return blocks
}

/** README.md, examples/README.md and every docs/**\/*.md except the generated API reference (docs/api). */
export function markdownFiles(root: string): string[] {
  const files: string[] = []
  if (existsSync(join(root, 'README.md'))) files.push('README.md')
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      const rel = relative(root, path).split('\\').join('/')
      if (entry.isDirectory()) {
        if (rel !== 'docs/api') walk(path)
      } else if (entry.name.endsWith('.md')) {
        files.push(rel)
      }
    }
  }
  if (existsSync(join(root, 'docs'))) walk(join(root, 'docs'))
  if (existsSync(join(root, 'examples', 'README.md'))) files.push('examples/README.md')
  return files.sort()
}

export function readBlocks(root: string): CodeBlock[] {
  return markdownFiles(root).flatMap((file) => extractBlocks(file, readFileSync(join(root, file), 'utf8')))
}

/** The expected outputs of a run block: the text after `// →` on each line, in order. */
export function expectedOutputs(code: string): string[] {
  const out: string[] = []
  for (const line of code.split('\n')) {
    const at = line.indexOf('// → ')
    if (at >= 0) out.push(line.slice(at + 5).trim())
  }
  return out
}

/** A relative link of a Markdown file, outside code: `[text](target)` or `![alt](target)`. */
export interface MarkdownLink {
  readonly line: number
  readonly target: string
}

/** The Markdown text with fenced blocks blanked out and inline code removed or unwrapped (line numbers kept). */
function proseOnly(markdown: string, keepInlineCode = false): string[] {
  const lines = markdown.split(/\r?\n/)
  let fence: string | undefined
  return lines.map((line) => {
    const m = /^ {0,3}(`{3,}|~{3,})/.exec(line)
    if (fence === undefined && m !== null) {
      fence = m[1]
      return ''
    }
    if (fence !== undefined) {
      if (m !== null && m[1][0] === fence[0] && m[1].length >= fence.length && line.trim() === m[1]) fence = undefined
      return ''
    }
    return line.replace(/(`+)([^`]*?)\1/g, keepInlineCode ? '$2' : '')
  })
}

/** Relative links (not http(s), mailto or pure in-page anchors handled separately). */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = []
  proseOnly(markdown).forEach((line, i) => {
    for (const m of line.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(m[1])) continue
      links.push({ line: i + 1, target: m[1] })
    }
  })
  return links
}

/** GitHub's heading anchors of a Markdown text (`## Costs and refunds` → `costs-and-refunds`). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  for (const line of proseOnly(markdown, true)) {
    const m = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (m === null) continue
    const text = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    anchors.add(n === 0 ? base : `${base}-${n}`)
  }
  return anchors
}
