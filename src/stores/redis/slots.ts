/** CRC-16/XMODEM lookup table (polynomial 0x1021), the checksum Redis Cluster hashes keys with. */
const TABLE = (() => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[i] = crc
  }
  return table
})()

const encoder = new TextEncoder()

/**
 * The Redis Cluster slot (0–16383) of a key: CRC-16 of the text between the first `{` and the
 * next `}` when that text is not empty, else of the whole key, modulo 16384.
 */
export function keySlot(key: string): number {
  let text = key
  const open = key.indexOf('{')
  if (open >= 0) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) text = key.slice(open + 1, close)
  }
  // ASCII (the usual key) needs no encoding: its characters are its bytes.
  let crc = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c > 0x7f) return crcOf(encoder.encode(text)) & 0x3fff
    crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ c) & 0xff]
  }
  return crc & 0x3fff
}

function crcOf(bytes: Uint8Array): number {
  let crc = 0
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]) & 0xff]
  return crc
}
