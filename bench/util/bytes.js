'use strict'
// Bytes and result checks: every benchmark checks its contenders' results before (and
// while) it times them; a wrong result throws an Error whose message starts `wrong result:`.

/** A Buffer view (no copy) over an ArrayBuffer, SharedArrayBuffer or any view. */
function bytesOf(x) {
  if (Buffer.isBuffer(x)) return x
  if (x instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && x instanceof SharedArrayBuffer)) {
    return Buffer.from(x)
  }
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength)
  if (typeof x === 'string') return Buffer.from(x, 'utf8')
  throw new TypeError(`not bytes: ${Object.prototype.toString.call(x)}`)
}

function sameBytes(a, b) {
  const x = bytesOf(a)
  const y = bytesOf(b)
  return x.length === y.length && Buffer.compare(x, y) === 0
}

/** Throws (with the first differing offset) unless `actual` holds exactly the bytes of `expected`. */
function assertSameBytes(actual, expected, what) {
  const x = bytesOf(actual)
  const y = bytesOf(expected)
  if (x.length === y.length && Buffer.compare(x, y) === 0) return
  let i = 0
  const n = Math.min(x.length, y.length)
  while (i < n && x[i] === y[i]) i++
  throw new Error(
    `wrong result: ${what}: got ${x.length} bytes, expected ${y.length}; ` +
      (i < n ? `first difference at byte ${i} (got ${x[i]}, expected ${y[i]})` : `equal up to byte ${n}`),
  )
}

/** Throws unless `x` is an ArrayBuffer of exactly `byteLength` bytes. */
function assertArrayBuffer(x, byteLength, what) {
  if (!(x instanceof ArrayBuffer)) {
    throw new Error(`wrong result: ${what}: expected an ArrayBuffer, got ${Object.prototype.toString.call(x)}`)
  }
  if (byteLength !== undefined && x.byteLength !== byteLength) {
    throw new Error(`wrong result: ${what}: expected byteLength ${byteLength}, got ${x.byteLength}`)
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so contents differ file to file. */
function fillPattern(buf, seed) {
  const u8 = bytesOf(buf)
  let s = seed >>> 0 || 0x9e3779b9
  const words = u8.length >>> 2
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength)
  for (let i = 0; i < words; i++) {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    dv.setUint32(i * 4, s, true)
  }
  for (let i = words * 4; i < u8.length; i++) u8[i] = (i * 131 + seed) & 0xff
  return buf
}

/** Throws `wrong result: ${what}` unless `cond`. */
function check(cond, what) {
  if (!cond) throw new Error(`wrong result: ${what}`)
}

module.exports = { bytesOf, sameBytes, assertSameBytes, assertArrayBuffer, fillPattern, check }
