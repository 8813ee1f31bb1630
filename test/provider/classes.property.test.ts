// Property: whatever the syntax of a route's template and however a path it routes is spelled,
// the request gets the route's class — by template, and by path before routing.
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { requestClasses } from '../../src/provider/index.js'

type Part = { kind: 'literal'; text: string } | { kind: 'param' } | { kind: 'optional' }
type Rest = 'none' | 'any' | 'one'

const literal = fc.stringMatching(/^[a-z][a-z0-9_-]{0,7}$/)
const part: fc.Arbitrary<Part> = fc.oneof(
  literal.map((text) => ({ kind: 'literal' as const, text })),
  fc.constant({ kind: 'param' as const }),
  fc.constant({ kind: 'optional' as const }),
)
const PARAM = [':id', '{id}', '[id]', ':id(\\d+)']
const REST_ANY = ['*', '{*splat}', ':path*', '(.*)', '[[...slug]]']
const REST_ONE = ['*splat', ':path+', '[...slug]']

const template = (parts: readonly Part[], rest: Rest, pick: number) =>
  '/' +
  [
    ...parts.map((p, i) => (p.kind === 'literal' ? p.text : p.kind === 'param' ? PARAM[(pick + i) % PARAM.length] : `:opt${i}?`)),
    ...(rest === 'any' ? [REST_ANY[pick % REST_ANY.length]] : rest === 'one' ? [REST_ONE[pick % REST_ONE.length]] : []),
  ].join('/')

/** Segments of a path the template routes: optional parameters present or not, rest-of-path filled. */
const pathOf = (parts: readonly Part[], rest: Rest, present: readonly boolean[], tail: readonly string[]) => {
  const out: string[] = []
  parts.forEach((p, i) => {
    if (p.kind === 'literal') out.push(p.text)
    else if (p.kind === 'param' || present[i % present.length]) out.push(`v${i}`)
  })
  if (rest === 'any') out.push(...tail)
  if (rest === 'one') out.push(...(tail.length > 0 ? tail : ['x']))
  return out
}

/** A spelling a router maps to the same path: case, repeated and trailing slashes, percent-encoded letters. */
const spell = (segments: readonly string[], how: number) =>
  segments
    .map((s, i) => {
      const upper = (how >> i) & 1 ? s.toUpperCase() : s
      return (how >> (i + 3)) & 1 ? upper.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`) : upper
    })
    .reduce((acc, s, i) => `${acc}${(how >> (i + 5)) & 1 ? '//' : '/'}${s}`, '') + ((how & 1024) !== 0 ? '/' : '')

it('a path a route matches gets its class, however it is spelled, with or without the template', () => {
  fc.assert(
    fc.property(
      fc.array(part, { minLength: 1, maxLength: 4 }),
      fc.constantFrom<Rest>('none', 'any', 'one'),
      fc.nat(),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
      fc.array(literal, { maxLength: 3 }),
      fc.nat(2047),
      (parts, rest, pick, present, tail, how) => {
        const t = template(parts, rest, pick)
        const classes = requestClasses({ routes: { [`POST ${t}`]: 'create' } })
        const path = spell(pathOf(parts, rest, present, tail), how)
        expect(classes.classify({ method: 'POST', route: undefined, path })).toBe('create')
        expect(classes.classify({ method: 'POST', route: t, path })).toBe('create')
      },
    ),
    { numRuns: 500 },
  )
})
