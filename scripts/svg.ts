// The drawing primitives the pictures of the docs share (scripts/gen-pictures.ts,
// scripts/gen-lease-pictures.ts): colours, number formatting, escaping, the document frame.

export const GREEN = '#2e9e5b'
export const RED = '#d64541'
export const BLUE = '#3567c4'
export const GREY = '#8a8f98'
export const INK = '#1d1f23'
export const FAINT = '#eef0f3'

/** A coordinate or number as short text: integers as is, others to one decimal. */
export const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1))

/** Text escaped for SVG. */
export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** The opening of a picture: the svg element, its title, a white background, a heading and the code drawn. */
export function frame(width: number, height: number, left: number, title: string, code: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${esc(`${title}: ${code}`)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="600" fill="${INK}">${esc(title)}</text>`,
    `<text x="${left}" y="44" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" fill="${INK}">${esc(code)}</text>`,
  ]
}

/** An SVG path through samples as a step line (horizontal, then vertical at each change). */
export function stepPath(
  samples: readonly { readonly t: number; readonly v: number }[],
  x: (t: number) => number,
  y: (v: number) => number,
  endT: number,
): string {
  let path = ''
  let prev: number | undefined
  for (const s of samples) {
    const px = fmt(x(s.t))
    if (prev === undefined) path += `M${px} ${fmt(y(s.v))}`
    else if (s.v !== prev) path += `H${px}V${fmt(y(s.v))}`
    prev = s.v
  }
  return `${path}H${fmt(x(endT))}`
}
