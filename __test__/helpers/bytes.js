'use strict'
// Byte comparisons shared by the test suites (they use jest's global `expect`).

const { tag } = require('./throws')

/** A Buffer over the bytes of any Bytes value (no copy). */
function bufferOver(x) {
  if (Buffer.isBuffer(x)) return x
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength)
  return Buffer.from(x)
}

/** A copy of the bytes of any Bytes value, taken now. */
const copyOf = (x) => Buffer.from(bufferOver(x))

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

/** Byte-for-byte equality with a readable failure (hex for small inputs, first differing byte for large). */
function expectBytes(actual, expected) {
  const a = bufferOver(actual)
  const e = bufferOver(expected)
  if (a.length <= 512 && e.length <= 512) {
    expect(a.toString('hex')).toBe(e.toString('hex'))
  } else {
    expect(a.length).toBe(e.length)
    expect({ firstDifferentByte: firstDifference(a, e) }).toEqual({ firstDifferentByte: -1 })
  }
}

/** A copy of exactly the bytes of any Data (or array of Data), as a Buffer. */
function bytesOf(d) {
  if (typeof d === 'string') return Buffer.from(d, 'utf8')
  if (Array.isArray(d)) return Buffer.concat(d.map(bytesOf))
  if (ArrayBuffer.isView(d)) return Buffer.from(Buffer.from(d.buffer, d.byteOffset, d.byteLength))
  const t = tag(d)
  if (t === '[object ArrayBuffer]' || t === '[object SharedArrayBuffer]') return Buffer.from(Buffer.from(d))
  throw new Error('bytesOf: not Data: ' + t)
}

module.exports = { bufferOver, copyOf, expectBytes, bytesOf }
