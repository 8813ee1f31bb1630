/**
 * A small, strict implementation of the RFC 9651 Structured Field Values that the rate-limit
 * headers use: serialisers for the two bare items we emit (sf-string, sf-integer) and parsers for
 * Lists and Dictionaries, so tests and the client can read `RateLimit` / `RateLimit-Policy`
 * exactly as a conforming recipient would (any syntax error fails the whole field).
 */

/** A bare item with its RFC 9651 type. */
export type SfBareItem =
  | { readonly type: 'integer'; readonly value: number }
  | { readonly type: 'decimal'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'token'; readonly value: string }
  | { readonly type: 'binary'; readonly value: Uint8Array }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'date'; readonly value: number }
  | { readonly type: 'display-string'; readonly value: string }

/** Parameters in field order; a repeated key keeps its last value (RFC 9651 §4.2.3.2). */
export type SfParameters = ReadonlyMap<string, SfBareItem>

/** An Item: a bare item with parameters. */
export interface SfItem {
  readonly kind: 'item'
  readonly value: SfBareItem
  readonly params: SfParameters
}

/** An Inner List: `(a b c);p=1`. */
export interface SfInnerList {
  readonly kind: 'inner-list'
  readonly items: readonly SfItem[]
  readonly params: SfParameters
}

/** A member of a List or a value of a Dictionary. */
export type SfMember = SfItem | SfInnerList

/** Largest magnitude of an sf-integer (15 digits). */
export const SF_INTEGER_MAX = 999_999_999_999_999

/**
 * Serialises an sf-string: `"` + text with `\` and `"` escaped + `"`. Only printable ASCII
 * (0x20-0x7E) can be carried; anything else throws a `RangeError` (never emit CR/LF).
 */
export function sfString(value: string): string {
  let out = '"'
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 0x20 || c > 0x7e) throw new RangeError(`sf-string cannot carry character code ${c}`)
    if (c === 0x22 || c === 0x5c) out += '\\'
    out += value[i]
  }
  return out + '"'
}

/** Serialises an sf-integer; throws a `RangeError` for non-integers and values beyond 15 digits. */
export function sfInteger(value: number): string {
  if (!Number.isInteger(value) || Math.abs(value) > SF_INTEGER_MAX) throw new RangeError(`not an sf-integer: ${value}`)
  return String(value)
}

/** Parses a List field value (RFC 9651 §4.2.1). Throws `SyntaxError` on any deviation. */
export function parseList(input: string): SfMember[] {
  const p = new Parser(input)
  p.skipSP()
  const members: SfMember[] = []
  while (!p.done()) {
    members.push(p.member())
    p.skipOWS()
    if (p.done()) break
    p.expect(',')
    p.skipOWS()
    if (p.done()) p.fail('trailing comma')
  }
  return members
}

/** Parses a Dictionary field value (RFC 9651 §4.2.2). Throws `SyntaxError` on any deviation. */
export function parseDictionary(input: string): Map<string, SfMember> {
  const p = new Parser(input)
  p.skipSP()
  const dict = new Map<string, SfMember>()
  while (!p.done()) {
    const key = p.key()
    let member: SfMember
    if (p.peek() === '=') {
      p.pos++
      member = p.member()
    } else {
      member = { kind: 'item', value: { type: 'boolean', value: true }, params: p.params() }
    }
    // A repeated key overwrites the value but keeps its first position.
    dict.set(key, member)
    p.skipOWS()
    if (p.done()) break
    p.expect(',')
    p.skipOWS()
    if (p.done()) p.fail('trailing comma')
  }
  return dict
}

/** Parses an Item field value (RFC 9651 §4.2.3). Throws `SyntaxError` on any deviation. */
export function parseItem(input: string): SfItem {
  const p = new Parser(input)
  p.skipSP()
  const value = p.bareItem()
  const item: SfItem = { kind: 'item', value, params: p.params() }
  p.skipSP()
  if (!p.done()) p.fail('unexpected characters after the item')
  return item
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9'
const isAlpha = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
const isLcAlpha = (c: string): boolean => c >= 'a' && c <= 'z'
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z:/]$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

class Parser {
  pos = 0
  constructor(readonly input: string) {}

  done(): boolean {
    return this.pos >= this.input.length
  }
  peek(): string {
    return this.input[this.pos] ?? ''
  }
  fail(why: string): never {
    throw new SyntaxError(`structured field: ${why} at offset ${this.pos} in ${JSON.stringify(this.input)}`)
  }
  expect(c: string): void {
    if (this.peek() !== c) this.fail(`expected ${JSON.stringify(c)}`)
    this.pos++
  }
  skipSP(): void {
    while (this.peek() === ' ') this.pos++
  }
  skipOWS(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++
  }

  member(): SfMember {
    if (this.peek() === '(') return this.innerList()
    const value = this.bareItem()
    return { kind: 'item', value, params: this.params() }
  }

  innerList(): SfInnerList {
    this.expect('(')
    const items: SfItem[] = []
    for (;;) {
      this.skipSP()
      if (this.peek() === ')') {
        this.pos++
        return { kind: 'inner-list', items, params: this.params() }
      }
      const value = this.bareItem()
      items.push({ kind: 'item', value, params: this.params() })
      const c = this.peek()
      if (c !== ' ' && c !== ')') this.fail('expected a space or ")" in an inner list')
    }
  }

  params(): Map<string, SfBareItem> {
    const params = new Map<string, SfBareItem>()
    while (this.peek() === ';') {
      this.pos++
      this.skipSP()
      const key = this.key()
      let value: SfBareItem = { type: 'boolean', value: true }
      if (this.peek() === '=') {
        this.pos++
        value = this.bareItem()
      }
      params.set(key, value)
    }
    return params
  }

  key(): string {
    const first = this.peek()
    if (!isLcAlpha(first) && first !== '*') this.fail('a key must start with a lowercase letter or "*"')
    const start = this.pos
    for (;;) {
      const c = this.peek()
      if (isLcAlpha(c) || isDigit(c) || c === '_' || c === '-' || c === '.' || c === '*') this.pos++
      else break
    }
    return this.input.slice(start, this.pos)
  }

  bareItem(): SfBareItem {
    const c = this.peek()
    if (c === '-' || isDigit(c)) return this.number()
    if (c === '"') return { type: 'string', value: this.string() }
    if (c === '*' || isAlpha(c)) return { type: 'token', value: this.token() }
    if (c === ':') return { type: 'binary', value: this.binary() }
    if (c === '?') return { type: 'boolean', value: this.boolean() }
    if (c === '@') {
      this.pos++
      const n = this.number()
      if (n.type !== 'integer') this.fail('a date must be an integer')
      return { type: 'date', value: n.value }
    }
    if (c === '%') return { type: 'display-string', value: this.displayString() }
    return this.fail('expected a bare item')
  }

  number(): SfBareItem {
    const start = this.pos
    if (this.peek() === '-') this.pos++
    if (!isDigit(this.peek())) this.fail('expected a digit')
    let decimalAt = -1
    while (!this.done()) {
      const c = this.peek()
      if (isDigit(c)) this.pos++
      else if (c === '.' && decimalAt < 0) {
        decimalAt = this.pos
        this.pos++
      } else break
    }
    const text = this.input.slice(start, this.pos)
    const digits = text.replace('-', '')
    if (decimalAt < 0) {
      if (digits.length > 15) this.fail('an integer has at most 15 digits')
      return { type: 'integer', value: Number(text) }
    }
    const [int, frac] = digits.split('.')
    if (int.length > 12) this.fail('a decimal has at most 12 integer digits')
    if (frac.length < 1 || frac.length > 3) this.fail('a decimal has 1 to 3 fractional digits')
    return { type: 'decimal', value: Number(text) }
  }

  string(): string {
    this.expect('"')
    let out = ''
    for (;;) {
      if (this.done()) this.fail('unterminated string')
      const c = this.input[this.pos++]
      if (c === '\\') {
        const next = this.input[this.pos++]
        if (next !== '"' && next !== '\\') this.fail('only \\" and \\\\ escapes are allowed')
        out += next
      } else if (c === '"') {
        return out
      } else {
        const code = c.charCodeAt(0)
        if (code < 0x20 || code > 0x7e) this.fail(`character code ${code} is not allowed in a string`)
        out += c
      }
    }
  }

  token(): string {
    const start = this.pos
    this.pos++
    while (!this.done() && TCHAR.test(this.peek())) this.pos++
    return this.input.slice(start, this.pos)
  }

  binary(): Uint8Array {
    this.expect(':')
    const end = this.input.indexOf(':', this.pos)
    if (end < 0) this.fail('unterminated byte sequence')
    const text = this.input.slice(this.pos, end)
    if (!BASE64.test(text)) this.fail('invalid base64 in a byte sequence')
    this.pos = end + 1
    let raw: string
    try {
      raw = atob(text)
    } catch {
      return this.fail('invalid base64 in a byte sequence')
    }
    const bytes = new Uint8Array(raw.length)
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i)
    return bytes
  }

  boolean(): boolean {
    this.expect('?')
    const c = this.peek()
    if (c !== '0' && c !== '1') this.fail('a boolean is ?0 or ?1')
    this.pos++
    return c === '1'
  }

  displayString(): string {
    this.expect('%')
    this.expect('"')
    const bytes: number[] = []
    for (;;) {
      if (this.done()) this.fail('unterminated display string')
      const c = this.input[this.pos++]
      const code = c.charCodeAt(0)
      if (code < 0x20 || code > 0x7e) this.fail(`character code ${code} is not allowed in a display string`)
      if (c === '"') break
      if (c === '%') {
        const hex = this.input.slice(this.pos, this.pos + 2)
        if (!/^[0-9a-f]{2}$/.test(hex)) this.fail('a display string escape is % and two lowercase hex digits')
        bytes.push(Number.parseInt(hex, 16))
        this.pos += 2
      } else {
        bytes.push(code)
      }
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes))
    } catch {
      return this.fail('a display string must be valid UTF-8')
    }
  }
}
