// Every error code has a section in docs/errors.md, and every error's message ends with the link
// to that section.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { RateKeeperError, type RateKeeperErrorCode } from '../../src/index.js'
import { errorDocsUrl } from '../../src/limiter/errors.js'
import { headingAnchors } from '../docs/extract.js'
import { root } from './surface.js'

const source = readFileSync(join(root, 'src/limiter/errors.ts'), 'utf8')
const union = /export type RateKeeperErrorCode =([\s\S]*?)\n\n/.exec(source)?.[1] ?? ''
const codes = [...union.matchAll(/\|\s*'(ERR_RK_\w+)'/g)].map((m) => m[1] as RateKeeperErrorCode)
const page = readFileSync(join(root, 'docs/errors.md'), 'utf8')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { homepage: string; repository: { url: string } }

describe('docs/errors.md', () => {
  it('the RateKeeperErrorCode union was read', () => {
    expect(codes.length).toBeGreaterThanOrEqual(10)
  })

  it.each(codes)('%s has a section, and its errors link to it', (code) => {
    const anchor = code.toLowerCase()
    expect([...headingAnchors(page)]).toContain(anchor)
    expect(errorDocsUrl(code)).toBe(`https://github.com/ratekeeper/ratekeeper/blob/main/docs/errors.md#${anchor}`)
    const error = new RateKeeperError(code, 'something went wrong')
    expect(error.message).toBe(`something went wrong. See ${errorDocsUrl(code)}`)
  })

  it('links into the repository package.json names', () => {
    expect(pkg.repository.url).toContain('github.com/ratekeeper/ratekeeper')
    expect(errorDocsUrl('ERR_RK_STORE').startsWith(pkg.homepage.replace(/#.*$/, ''))).toBe(true)
  })

  it('has no section for a code that does not exist', () => {
    const sections = [...page.matchAll(/^## (ERR_RK_\w+)\s*$/gm)].map((m) => m[1])
    expect(sections.sort()).toEqual([...codes].sort())
  })
})
