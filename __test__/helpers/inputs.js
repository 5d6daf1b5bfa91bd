'use strict'
// Inputs shared by the test suites: random bytes in every kind of JS memory, a Buffer that
// is a slice of the pool, a detached ArrayBuffer, every TypedArray constructor.

const { randomBytes } = require('node:crypto')

/** An ArrayBuffer of `n` random bytes. */
function ab(n) {
  const a = new ArrayBuffer(n)
  new Uint8Array(a).set(randomBytes(n))
  return a
}

/** A SharedArrayBuffer of `n` random bytes. */
function sab(n) {
  const s = new SharedArrayBuffer(n)
  new Uint8Array(s).set(randomBytes(n))
  return s
}

/**
 * A Buffer of `str` that is a slice of Node's Buffer pool (non-zero byteOffset). Tried twice:
 * when the pool is nearly full, the first `str` can start a fresh pool at offset 0.
 */
function poolSlice(str) {
  for (let attempt = 0; attempt < 2; attempt++) {
    Buffer.from('push the pool offset') // so the slice does not start the pool
    const b = Buffer.from(str)
    if (b.buffer.byteLength > b.byteLength && b.byteOffset > 0) return b
  }
  throw new Error('not a slice of the Buffer pool')
}

/** An ArrayBuffer whose memory was transferred away. */
function detachedArrayBuffer() {
  const a = new ArrayBuffer(16)
  structuredClone(a, { transfer: [a] })
  if (a.byteLength !== 0) throw new Error('could not detach')
  return a
}

/** Every TypedArray constructor. */
const TYPED = [
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
]

module.exports = { ab, sab, poolSlice, detachedArrayBuffer, TYPED }
