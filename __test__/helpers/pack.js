'use strict'
// What the packing suites (pack-*.test.js) share: a seeded PRNG, `refPack` (an independent JS
// encoder of docs/FORMAT.md, with its own CRC32C) and the field offsets, `reseal` for hostile
// edits, typed inputs of every kind and the checks on unpacked views.
//
// The expected bytes of every pack come from `refPack`, never from hard-coded dumps. Jest runs
// each suite in its own realm, so values made by the addon are recognised by their tag or
// constructor name, not by `instanceof`.

const abio = require('../..')
const { ab, sab, poolSlice, TYPED } = require('./inputs')
const { bufferOver: viewOf, expectBytes } = require('./bytes')
const { syncThrowOf: thrownBy, tag } = require('./throws')

const BAD_FORMAT = 'ABIO_ERR_BAD_FORMAT'
const CHECKSUM = 'ABIO_ERR_CHECKSUM'
const INVALID_ARG = 'ABIO_ERR_INVALID_ARG'

function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const rand = prng(0xab10)
/** `n` seeded pseudo-random bytes (xorshift32 seeded from `r`: no global lookups per byte,
 * which are slow in jest's realm). */
function randomBytes(n, r = rand) {
  const b = Buffer.alloc(n)
  let s = (r() * 4294967296) | 1
  for (let i = 0; i < n; i++) {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    b[i] = s & 0xff
  }
  return b
}

/** A copy of the bytes of any Bytes value. */
const bytesOf = (x) => Buffer.from(viewOf(x))

/** `fn` throws an Error with `code` (a format or checksum error). */
function expectCode(fn, code) {
  const e = thrownBy(fn)
  expect(tag(e)).toBe('[object Error]')
  expect({ code: e.code, message: typeof e.message }).toEqual({ code, message: 'string' })
  return e
}

// --- CRC32C (Castagnoli, reflected 0x82F63B78), as docs/FORMAT.md specifies it

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()
function crc32c(bytes) {
  const b = viewOf(bytes)
  let c = 0xffffffff
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

// --- the format, field by field (docs/FORMAT.md)

const HEADER = 40
const ENTRY = 32
const H = { version: 8, flags: 10, count: 12, align: 16, namesLen: 20, total: 24, crc: 32 }
const E = { kind: 0, nameLen: 2, nameOff: 4, offset: 8, length: 16, crc: 24 }
const FLAG_CHECKSUMS = 1
const FLAG_NAMED = 2
const at = (i, field) => HEADER + ENTRY * i + E[field]
const KIND = {
  ArrayBuffer: 0,
  SharedArrayBuffer: 0,
  Uint8Array: 1,
  Int8Array: 2,
  Uint8ClampedArray: 3,
  Int16Array: 4,
  Uint16Array: 5,
  Int32Array: 6,
  Uint32Array: 7,
  Float32Array: 8,
  Float64Array: 9,
  BigInt64Array: 10,
  BigUint64Array: 11,
  DataView: 12,
}
const kindOf = (x) => KIND[tag(x).slice(8, -1)]
/** The constructor name a part comes back as. */
function unpackedName(x) {
  const t = tag(x).slice(8, -1)
  return t === 'ArrayBuffer' || t === 'SharedArrayBuffer' ? 'Uint8Array' : t
}
const alignUp = (n, a) => Math.ceil(n / a) * a

/** An independent encoder of docs/FORMAT.md: the pack `abio.pack(parts, options)` must equal. */
function refPack(parts, { align = 8, checksum = true } = {}) {
  const named = !Array.isArray(parts)
  const keys = named ? Object.keys(parts) : null
  const list = named ? keys.map((k) => parts[k]) : parts
  const names = named ? keys.map((k) => Buffer.from(k, 'utf8')) : []
  const namesLen = names.reduce((s, n) => s + n.length, 0)
  const namesAt = HEADER + ENTRY * list.length
  const headEnd = namesAt + namesLen
  let end = alignUp(headEnd, align)
  const offsets = list.map((p) => {
    const o = alignUp(end, align)
    end = o + viewOf(p).length
    return o
  })
  const out = Buffer.alloc(end)
  out.write('ABIOPAK\0', 0, 'latin1')
  out.writeUInt16LE(1, H.version)
  out.writeUInt16LE((checksum ? FLAG_CHECKSUMS : 0) | (named ? FLAG_NAMED : 0), H.flags)
  out.writeUInt32LE(list.length, H.count)
  out.writeUInt32LE(align, H.align)
  out.writeUInt32LE(namesLen, H.namesLen)
  out.writeBigUInt64LE(BigInt(end), H.total)
  let nameOff = 0
  list.forEach((p, i) => {
    const data = viewOf(p)
    out[at(i, 'kind')] = kindOf(p)
    if (named) {
      out.writeUInt16LE(names[i].length, at(i, 'nameLen'))
      out.writeUInt32LE(nameOff, at(i, 'nameOff'))
      names[i].copy(out, namesAt + nameOff)
      nameOff += names[i].length
    }
    out.writeBigUInt64LE(BigInt(offsets[i]), at(i, 'offset'))
    out.writeBigUInt64LE(BigInt(data.length), at(i, 'length'))
    if (checksum) out.writeUInt32LE(crc32c(data), at(i, 'crc'))
    data.copy(out, offsets[i])
  })
  if (checksum) out.writeUInt32LE(crc32c(out.subarray(0, headEnd)), H.crc)
  return out
}

/** Recomputes the header CRC of an edited pack (when it has checksums and its head fits). */
function reseal(b) {
  if (b.length < HEADER || !(b.readUInt16LE(H.flags) & FLAG_CHECKSUMS)) return b
  const headEnd = HEADER + ENTRY * b.readUInt32LE(H.count) + b.readUInt32LE(H.namesLen)
  if (headEnd > b.length) return b
  const head = Buffer.from(b.subarray(0, headEnd))
  head.writeUInt32LE(0, H.crc)
  b.writeUInt32LE(crc32c(head), H.crc)
  return b
}

/** A fresh copy of `b` at byteOffset 0 of its own ArrayBuffer (so every part is aligned). */
function own(b) {
  const c = Buffer.alloc(b.length)
  viewOf(b).copy(c)
  return c
}
/** A copy of `b` at `shift` bytes into a fresh ArrayBuffer. */
function shifted(b, shift) {
  const ab = new ArrayBuffer(b.length + shift + 8)
  const u = new Uint8Array(ab, shift, b.length)
  u.set(viewOf(b))
  return u
}

// --- inputs

/** A TypedArray of `n` elements with varied bytes (floats include NaN, -0 and Infinity). */
function typed(Ctor, n, r = rand) {
  const a = new Ctor(n)
  viewOf(a).set(randomBytes(a.byteLength, r))
  if (Ctor === Float64Array || Ctor === Float32Array) {
    const specials = [NaN, -0, Infinity, -Infinity, 1.5, Number.MIN_VALUE]
    for (let i = 0; i < Math.min(n, specials.length); i++) a[i] = specials[i]
  }
  return a
}
/** A TypedArray over a larger buffer at a non-zero byteOffset (a multiple of its element size). */
function offsetTyped(Ctor, n) {
  const el = Ctor.BYTES_PER_ELEMENT
  const buf = new ArrayBuffer(el * (n + 7))
  new Uint8Array(buf).set(randomBytes(buf.byteLength))
  return new Ctor(buf, el * 3, n)
}

/** One part of every kind abio takes, with a label for failures. */
function everyKind() {
  const parts = []
  for (const C of TYPED) parts.push([C.name, typed(C, 5)])
  for (const C of TYPED) parts.push([`${C.name} at an offset`, offsetTyped(C, 3)])
  const dvBuf = ab(40)
  parts.push(['DataView', new DataView(ab(13))])
  parts.push(['DataView at an offset', new DataView(dvBuf, 5, 11)])
  parts.push(['ArrayBuffer', ab(9)])
  parts.push(['SharedArrayBuffer', sab(11)])
  const s = sab(64)
  parts.push(['Uint8Array over a SharedArrayBuffer', new Uint8Array(s, 3, 7)])
  parts.push(['Float64Array over a SharedArrayBuffer', new Float64Array(s, 16, 3)])
  parts.push(['DataView over a SharedArrayBuffer', new DataView(s, 1, 9)])
  parts.push(['Buffer', Buffer.from(randomBytes(21))])
  parts.push(['Buffer pool slice', poolSlice('a pool slice, ünïcode')])
  parts.push(['Buffer subarray', Buffer.from(randomBytes(50)).subarray(7, 30)])
  return parts
}
/** One empty part of every kind. */
function emptyOfEveryKind() {
  return [
    ...TYPED.map((C) => new C(0)),
    new DataView(new ArrayBuffer(0)),
    new DataView(ab(16), 16, 0),
    new ArrayBuffer(0),
    new SharedArrayBuffer(0),
    Buffer.alloc(0),
    new Float64Array(ab(64), 32, 0),
  ]
}

/** Checks one unpacked view against the part it was packed from. */
function expectPart(v, original, label = '') {
  expect({ label, isView: ArrayBuffer.isView(v) }).toEqual({ label, isView: true })
  expect({ label, ctor: v.constructor.name, tag: tag(v) }).toEqual({
    label,
    ctor: unpackedName(original),
    tag: `[object ${unpackedName(original)}]`,
  })
  expect({ label, byteLength: v.byteLength }).toEqual({ label, byteLength: viewOf(original).length })
  expectBytes(v, original)
}
/** `v` is a view into `packed`'s memory (no copy): same buffer, inside its range. */
function expectInside(v, packed) {
  expect(v.buffer).toBe(packed.buffer ?? packed)
  const base = packed.byteOffset ?? 0
  const len = packed.byteLength
  expect(v.byteOffset).toBeGreaterThanOrEqual(base)
  expect(v.byteOffset + v.byteLength).toBeLessThanOrEqual(base + len)
}
/** Mutating `packed` at `v`'s bytes shows in `v`, and the other way round. */
function expectShared(v, packed) {
  if (v.byteLength === 0) return
  const pv = viewOf(packed)
  const vv = viewOf(v)
  const at0 = v.byteOffset - (packed.byteOffset ?? 0)
  const last = vv.length - 1
  const before = [pv[at0], pv[at0 + last]]
  pv[at0] ^= 0xff
  expect(vv[0]).toBe(pv[at0])
  vv[last] ^= 0x5a
  expect(pv[at0 + last]).toBe(vv[last])
  pv[at0] = before[0]
  if (last > 0) pv[at0 + last] = before[1]
  else pv[at0] = before[0]
}
const partsOf = (u) => (Array.isArray(u) ? u : Object.keys(u).map((k) => u[k]))

module.exports = {
  BAD_FORMAT,
  CHECKSUM,
  INVALID_ARG,
  prng,
  rand,
  randomBytes,
  bytesOf,
  expectCode,
  CRC_TABLE,
  crc32c,
  HEADER,
  ENTRY,
  H,
  E,
  FLAG_CHECKSUMS,
  FLAG_NAMED,
  at,
  KIND,
  kindOf,
  unpackedName,
  alignUp,
  refPack,
  reseal,
  own,
  shifted,
  typed,
  offsetTyped,
  everyKind,
  emptyOfEveryKind,
  expectPart,
  expectInside,
  expectShared,
  partsOf,
}
