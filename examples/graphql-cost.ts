// A GraphQL-style endpoint charged by query cost, as GitHub's and Shopify's GraphQL APIs do: each
// key has 1,000 points a minute; a query is charged its computed worst case when it arrives (one
// point per field, times the `first:` of every list around it), and settled at the fields it
// really resolved when the response is sent. No GraphQL library: a toy parser and executor over
// an in-memory graph, enough to show the limiting.
//
//   node --import tsx examples/graphql-cost.ts
//   curl -H 'x-api-key: k1' -H 'content-type: application/json' \
//     -d '{"query":"{ users(first: 10) { name posts(first: 5) { title } } }"}' http://127.0.0.1:3000/graphql

import { pathToFileURL } from 'node:url'
import express from 'express'
import { tokenBucket } from 'ratekeeper'
import { rateLimit, setActualCost } from 'ratekeeper/express'

/** One field of a selection: its name, its `first:` argument, and its own selection. */
export interface Field {
  readonly name: string
  readonly first: number | undefined
  readonly fields: readonly Field[]
}

/** The `first:` assumed for a list that doesn't say (and the most a query may ask for). */
const MAX_FIRST = 100

/** Parses `{ a(first: 2) { b } c }` (an optional `query Name` before it); throws on anything else. */
export function parseQuery(query: string): Field[] {
  const tokens = query.match(/[A-Za-z_][A-Za-z0-9_]*|\d+|[{}():,]/g) ?? []
  let i = 0
  if (tokens[i] === 'query') i += tokens[i + 1] === '{' ? 1 : 2
  const expect = (token: string) => {
    if (tokens[i++] !== token) throw new Error(`expected ${token} at token ${i}`)
  }
  const selection = (depth: number): Field[] => {
    if (depth > 10) throw new Error('query too deep')
    expect('{')
    const fields: Field[] = []
    while (tokens[i] !== '}') {
      const name = tokens[i++]
      if (name === undefined || !/^[A-Za-z_]/.test(name)) throw new Error(`expected a field at token ${i}`)
      let first: number | undefined
      if (tokens[i] === '(') {
        i++
        while (tokens[i] !== ')') {
          const arg = tokens[i++]
          expect(':')
          const value = Number(tokens[i++])
          if (arg === 'first') first = Math.min(value, MAX_FIRST)
          if (tokens[i] === ',') i++
        }
        i++
      }
      fields.push({ name, first, fields: tokens[i] === '{' ? selection(depth + 1) : [] })
    }
    i++
    return fields
  }
  const fields = selection(0)
  if (i !== tokens.length) throw new Error('unexpected text after the query')
  return fields
}

/** The worst case: one point per field, times the `first:` of each list field around it (and its own). */
export function queryCost(fields: readonly Field[], times = 1): number {
  let cost = 0
  for (const f of fields) {
    const n = f.fields.length > 0 ? (f.first ?? MAX_FIRST) : 1
    cost += times + queryCost(f.fields, times * n)
  }
  return cost
}

type Node = { readonly [name: string]: string | number | Node | readonly Node[] }

/** Resolves `fields` on `node`; `count.fields` gets one per field value resolved (the actual cost). */
function execute(fields: readonly Field[], node: Node, count: { fields: number }): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of fields) {
    count.fields++
    const value = node[f.name]
    if (Array.isArray(value)) out[f.name] = value.slice(0, f.first ?? MAX_FIRST).map((item: Node) => execute(f.fields, item, count))
    else if (typeof value === 'object') out[f.name] = execute(f.fields, value as Node, count)
    else out[f.name] = value ?? null
  }
  return out
}

/** The graph: three users with a few posts each. */
const ROOT: Node = {
  users: [
    { name: 'ada', posts: [{ title: 'Engines' }, { title: 'Notes' }] },
    { name: 'grace', posts: [{ title: 'Compilers' }] },
    { name: 'linus', posts: [] },
  ],
}

/** Each request's parsed query, parsed once for the cost and the handler. */
const parsed = new WeakMap<object, Field[] | Error>()
function fieldsOf(req: express.Request): Field[] | Error {
  let fields = parsed.get(req)
  if (fields === undefined) {
    try {
      fields = parseQuery(String((req.body as { query?: unknown } | undefined)?.query ?? ''))
    } catch (error) {
      fields = error as Error
    }
    parsed.set(req, fields)
  }
  return fields
}

export function createApp(options: { now?: () => number } = {}) {
  const app = express()
  app.use(express.json())
  const limit = rateLimit({
    policies: [tokenBucket({ name: 'points', limit: 1000, window: '1m' })],
    key: (req) => req.get('x-api-key'),
    // The estimate: the query's worst case (a query that doesn't parse costs 1 and gets its 400).
    cost: (req) => {
      const fields = fieldsOf(req)
      return fields instanceof Error ? 1 : queryCost(fields)
    },
    // Settled at what the handler reports: the fields really resolved.
    actualCost: true,
    now: options.now,
  })
  app.post('/graphql', limit, (req, res) => {
    const fields = fieldsOf(req)
    if (fields instanceof Error) {
      res.status(400).json({ errors: [{ message: fields.message }] })
      return
    }
    const count = { fields: 0 }
    const data = execute(fields, ROOT, count)
    setActualCost(res, count.fields)
    res.json({ data, extensions: { cost: { requested: queryCost(fields), actual: count.fields } } })
  })
  return { app, close: () => limit.close() }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  createApp().app.listen(port, '127.0.0.1', () => console.log(`GraphQL example on http://127.0.0.1:${port}/graphql`))
}
