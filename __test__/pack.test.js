'use strict'

// Tests for abio's packing API (design.md section 5, docs/FORMAT.md): pack, packedSize,
// packInto, unpack, savePacked, loadPacked.
//
// The expected bytes of every pack come from `refPack` below, an independent JS encoder of
// docs/FORMAT.md (with its own CRC32C), never from hard-coded dumps. Hostile inputs are
// made by editing a valid pack field by field; when the edit is meant to reach a rule after
// the header CRC check, the header CRC is recomputed (`reseal`) so the structural rule, not
// the checksum, is what fails. Jest runs this file in its own realm, so values made by the
// addon are recognised by their tag or constructor name, not by `instanceof`.

const fs = require('fs')
const os = require('os')
const path = require('path')

const abio = require('..')
const { ab, sab, poolSlice, detachedArrayBuffer } = require('./helpers/inputs')
const { bufferOver: viewOf, expectBytes } = require('./helpers/bytes')
const { syncThrowOf: thrownBy, rejectionOf, expectInvalidArg, tag } = require('./helpers/throws')

jest.setTimeout(20000)

// ---------------------------------------------------------------------------
// helpers

const BAD_FORMAT = 'ABIO_ERR_BAD_FORMAT'
const CHECKSUM = 'ABIO_ERR_CHECKSUM'
const INVALID_ARG = 'ABIO_ERR_INVALID_ARG'

let dir
let seq = 0
const tmp = (name = 'p') => path.join(dir, `${name}-${++seq}`)
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-pack-'))
})
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

/** A seeded PRNG (mulberry32): the same inputs on every run. */
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

// ---------------------------------------------------------------------------
// the format

describe('format', () => {
  test('the CRC32C of the test helpers matches its check value', () => {
    // The check value of docs/FORMAT.md and of every CRC-32C catalogue.
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
    expect(crc32c(Buffer.alloc(0))).toBe(0)
  })

  test('pack is byte for byte the format (every kind, list and record, every option)', () => {
    const parts = everyKind()
    const list = parts.map((p) => p[1])
    const record = Object.fromEntries(parts)
    for (const align of [8, 16, 64, 256, 4096]) {
      for (const checksum of [true, false]) {
        for (const input of [list, record]) {
          const p = abio.pack(input, { align, checksum })
          expect(Buffer.isBuffer(p)).toBe(true)
          expectBytes(p, refPack(input, { align, checksum }))
          expect(abio.packedSize(input, { align, checksum })).toBe(p.length)
          expect(abio.packedSize(input, { align })).toBe(p.length)
        }
      }
    }
  })

  test('defaults are align 8 with checksums', () => {
    const parts = [typed(Uint8Array, 3), typed(Float64Array, 2)]
    expectBytes(abio.pack(parts), refPack(parts, { align: 8, checksum: true }))
    expectBytes(abio.pack(parts, {}), refPack(parts))
    expectBytes(abio.pack(parts, null), refPack(parts))
    expectBytes(abio.pack(parts, { align: undefined, checksum: undefined }), refPack(parts))
    expect(abio.packedSize(parts)).toBe(refPack(parts).length)
  })

  test('zero parts: the header alone, padded to the alignment', () => {
    for (const align of [8, 64, 4096]) {
      for (const parts of [[], {}]) {
        const p = abio.pack(parts, { align })
        expectBytes(p, refPack(parts, { align }))
        expect(p.length).toBe(alignUp(HEADER, align))
        expect(abio.packedSize(parts, { align })).toBe(p.length)
        const u = abio.unpack(p)
        if (Array.isArray(parts)) {
          expect(Array.isArray(u)).toBe(true)
          expect(u).toHaveLength(0)
        } else {
          expect(Array.isArray(u)).toBe(false)
          expect(Object.keys(u)).toEqual([])
        }
      }
    }
  })

  test('empty parts of every kind take no room and come back empty', () => {
    const empties = emptyOfEveryKind()
    const mixed = [typed(Uint16Array, 3), ...empties, typed(Float64Array, 1), new Uint8Array(0)]
    for (const align of [8, 64]) {
      const p = abio.pack(mixed, { align })
      expectBytes(p, refPack(mixed, { align }))
      const u = abio.unpack(p)
      expect(u).toHaveLength(mixed.length)
      u.forEach((v, i) => expectPart(v, mixed[i], `part ${i}`))
    }
    const onlyEmpty = abio.pack(empties)
    expect(onlyEmpty.length).toBe(alignUp(HEADER + ENTRY * empties.length, 8))
    abio.unpack(onlyEmpty).forEach((v, i) => expectPart(v, empties[i], `empty ${i}`))
  })

  test('a large pack (split across threads) is still exactly the format', () => {
    const r = prng(7)
    const big = [typed(Float64Array, (5 << 20) / 8, r), typed(Uint8Array, 3, r), typed(Int32Array, (4 << 20) / 4, r)]
    const expected = refPack(big, { align: 64 })
    expectBytes(abio.pack(big, { align: 64 }), expected)
    const target = Buffer.alloc(expected.length + 100, 0xee)
    expect(abio.packInto(target, big, { align: 64 })).toBe(expected.length)
    expectBytes(target.subarray(0, expected.length), expected)
    expect(target.subarray(expected.length).every((x) => x === 0xee)).toBe(true)
    abio.unpack(target.subarray(0, expected.length)).forEach((v, i) => expectPart(v, big[i], `big ${i}`))
  })
})

// ---------------------------------------------------------------------------
// unpack: views of the right kind over the packed memory

describe('unpack', () => {
  test('every kind round trips as a view into the packed memory', () => {
    const parts = everyKind()
    const list = parts.map((p) => p[1])
    const packed = abio.pack(list)
    const u = abio.unpack(packed)
    expect(Array.isArray(u)).toBe(true)
    expect(u).toHaveLength(list.length)
    u.forEach((v, i) => {
      expectPart(v, list[i], parts[i][0])
      expectInside(v, packed)
      expectShared(v, packed)
    })
    // Typed values read back equal (not just their bytes).
    u.forEach((v, i) => {
      if (tag(v) === '[object DataView]') return
      const orig = ArrayBuffer.isView(list[i]) ? list[i] : new Uint8Array(list[i])
      expect({ i, values: Array.from(v) }).toEqual({ i, values: Array.from(orig) })
    })
    // A view does not alias the input parts: the pack holds copies of them.
    const before = bytesOf(list[0])
    u[0][0] ^= 0xff
    expectBytes(list[0], before)
  })

  test('a Buffer part comes back as a plain Uint8Array', () => {
    const b = Buffer.from('hello, pack')
    const [v] = abio.unpack(abio.pack([b]))
    expect(v.constructor.name).toBe('Uint8Array')
    expect(Buffer.isBuffer(v)).toBe(false)
    expectBytes(v, b)
  })

  test('verify: false gives the same views', () => {
    const list = everyKind().map((p) => p[1])
    const packed = abio.pack(list)
    const u = abio.unpack(packed, { verify: false })
    u.forEach((v, i) => {
      expectPart(v, list[i], `part ${i}`)
      expectInside(v, packed)
    })
    abio.unpack(packed, { verify: true }).forEach((v, i) => expectPart(v, list[i]))
  })

  test('checksum: false packs round trip, with zero CRC fields', () => {
    const list = everyKind().map((p) => p[1])
    const packed = abio.pack(list, { checksum: false })
    expect(packed.readUInt16LE(H.flags) & FLAG_CHECKSUMS).toBe(0)
    expect(packed.readUInt32LE(H.crc)).toBe(0)
    list.forEach((_, i) => expect(packed.readUInt32LE(at(i, 'crc'))).toBe(0))
    for (const verify of [true, false]) {
      const u = abio.unpack(packed, { verify })
      u.forEach((v, i) => {
        expectPart(v, list[i], `part ${i}`)
        expectShared(v, packed)
      })
    }
    const rec = { x: typed(Float32Array, 4), y: new DataView(ab(5)) }
    const u = abio.unpack(abio.pack(rec, { checksum: false }))
    expectPart(u.x, rec.x)
    expectPart(u.y, rec.y)
  })

  test('packed as ArrayBuffer, SharedArrayBuffer, DataView, Uint8Array or Float64Array: views over its memory', () => {
    const list = [typed(Float64Array, 3), typed(Uint8Array, 5), typed(Int16Array, 3), new DataView(ab(7))]
    const bytes = abio.pack(list)
    const n = bytes.length
    const abuf = new ArrayBuffer(n)
    new Uint8Array(abuf).set(bytes)
    const sbuf = new SharedArrayBuffer(n)
    new Uint8Array(sbuf).set(bytes)
    const big = new ArrayBuffer(n + 64)
    new Uint8Array(big, 16, n).set(bytes)
    const f64 = new Float64Array(alignUp(n, 8) / 8)
    viewOf(f64).set(bytes)
    const inputs = {
      ArrayBuffer: abuf,
      SharedArrayBuffer: sbuf,
      'DataView at 16': new DataView(big, 16, n),
      'Uint8Array at 16': new Uint8Array(big, 16, n),
      'Float64Array (padded to 8)': f64,
      Buffer: bytes,
    }
    for (const [label, packed] of Object.entries(inputs)) {
      const u = abio.unpack(packed)
      expect({ label, n: u.length }).toEqual({ label, n: list.length })
      u.forEach((v, i) => {
        expectPart(v, list[i], `${label} part ${i}`)
        expectInside(v, packed)
        expectShared(v, packed)
      })
      if (label === 'SharedArrayBuffer') expect(tag(u[0].buffer)).toBe('[object SharedArrayBuffer]')
    }
  })

  test('every part offset is a multiple of align, relative to the packed start', () => {
    const list = [
      typed(Uint8Array, 3),
      typed(Float64Array, 5),
      new ArrayBuffer(0),
      typed(Int16Array, 7),
      new DataView(ab(1)),
      typed(BigInt64Array, 2),
      typed(Uint8ClampedArray, 65),
    ]
    for (const align of [8, 64, 4096]) {
      const p = abio.pack(list, { align })
      // A pack inside a larger buffer at an aligned offset, as packInto would leave it.
      const host = new Uint8Array(p.length + align * 2)
      const inner = host.subarray(align, align + p.length)
      inner.set(p)
      for (const packed of [p, inner, own(p)]) {
        const u = abio.unpack(packed)
        u.forEach((v, i) => {
          expect({ align, i, rem: (v.byteOffset - packed.byteOffset) % align }).toEqual({ align, i, rem: 0 })
          expectPart(v, list[i], `align ${align} part ${i}`)
          expectInside(v, packed)
        })
      }
    }
  })

  test('a misaligned pack (Buffer.concat(...).subarray(1)) still unpacks the right values', () => {
    const list = [
      typed(Float64Array, 4),
      typed(Uint8Array, 3),
      typed(BigUint64Array, 2),
      typed(Int32Array, 3),
      typed(Uint16Array, 5),
      new DataView(ab(10)),
      ab(6),
    ]
    const packed = abio.pack(list)
    const mis = Buffer.concat([Buffer.alloc(1), packed]).subarray(1)
    const u = abio.unpack(mis)
    u.forEach((v, i) => expectPart(v, list[i], `part ${i}`))
    // 1-byte kinds and DataViews are still views of the input.
    for (const i of [1, 5, 6]) expectShared(u[i], mis)
  })

  test('at every shift 1..7, each part is a view when aligned for its element, else a correct copy', () => {
    const list = [typed(Float64Array, 3), typed(Float32Array, 3), typed(Int16Array, 3), typed(Int8Array, 3)]
    const packed = abio.pack(list)
    for (let shift = 1; shift < 8; shift++) {
      const mis = shifted(packed, shift)
      const u = abio.unpack(mis)
      u.forEach((v, i) => {
        expectPart(v, list[i], `shift ${shift} part ${i}`)
        expect(v.byteOffset % list[i].BYTES_PER_ELEMENT).toBe(0)
        if ((mis.byteOffset + packed.readUInt32LE(at(i, 'offset'))) % list[i].BYTES_PER_ELEMENT === 0) {
          expectInside(v, mis)
          expectShared(v, mis)
        } else {
          // A copy: its own memory, not the input's.
          expect(v.buffer).not.toBe(mis.buffer)
          const before = viewOf(v)[0]
          viewOf(mis)[packed.readUInt32LE(at(i, 'offset'))] ^= 0xff
          expect(viewOf(v)[0]).toBe(before)
        }
      })
    }
  })

  test('resizable ArrayBuffer and growable SharedArrayBuffer memory: packed as JS sees it, unpacked from', () => {
    const rab = new ArrayBuffer(24, { maxByteLength: 64 })
    viewOf(rab).set(randomBytes(24))
    const tracking = new Float64Array(rab)
    const fixed = new Uint16Array(rab, 8, 4)
    const dv = new DataView(rab, 4)
    const check = (label) => {
      const parts = [tracking, fixed, dv, rab]
      expect({ label, size: abio.packedSize(parts) }).toEqual({ label, size: refPack(parts).length })
      expectBytes(abio.pack(parts), refPack(parts))
      abio.unpack(abio.pack(parts)).forEach((v, i) => expectPart(v, parts[i], `${label} part ${i}`))
    }
    check('as made')
    rab.resize(64)
    viewOf(rab).set(randomBytes(64))
    check('grown')
    rab.resize(8) // `fixed` is now out of bounds (byteLength 0)
    check('shrunk')
    // A pack held in resizable or growable memory unpacks to views over it.
    const list = [typed(Float64Array, 2), typed(Uint8Array, 3)]
    const p = abio.pack(list)
    const r = new ArrayBuffer(p.length, { maxByteLength: p.length * 2 })
    const g = new SharedArrayBuffer(p.length, { maxByteLength: p.length * 2 })
    for (const mem of [r, g]) {
      viewOf(mem).set(p)
      abio.unpack(mem).forEach((v, i) => {
        expectPart(v, list[i])
        expectInside(v, mem)
      })
    }
  })

  test('trailing bytes after total_len are ignored', () => {
    const list = [typed(Uint32Array, 3)]
    const p = abio.pack(list)
    const u = abio.unpack(Buffer.concat([p, randomBytes(13)]))
    expectPart(u[0], list[0])
  })
})

// ---------------------------------------------------------------------------
// records

describe('records', () => {
  test('unicode, empty and awkward names round trip in Object.keys order', () => {
    const rec = {
      b: typed(Float64Array, 2),
      10: typed(Uint8Array, 3),
      '': typed(Int16Array, 1),
      日本語: typed(Uint32Array, 2),
      '🎉 emoji': new DataView(ab(3)),
      2: typed(Int8Array, 4),
      café: ab(5),
      'e\u0301': typed(Uint8Array, 1), // not normalised: differs from 'é'
      é: typed(Uint8Array, 2),
      constructor: typed(Uint16Array, 1),
      hasOwnProperty: typed(BigInt64Array, 1),
      a: sab(4),
      '-1': typed(Uint8Array, 1),
      '01': typed(Uint8Array, 1),
      4294967295: typed(Uint8Array, 1),
      1: typed(Float32Array, 1),
    }
    for (const checksum of [true, false]) {
      const packed = abio.pack(rec, { checksum })
      expectBytes(packed, refPack(rec, { checksum }))
      expect(packed.readUInt16LE(H.flags) & FLAG_NAMED).toBe(FLAG_NAMED)
      const u = abio.unpack(packed)
      expect(Array.isArray(u)).toBe(false)
      expect(Object.keys(u)).toEqual(Object.keys(rec))
      for (const k of Object.keys(rec)) {
        expect(Object.getOwnPropertyDescriptor(u, k)).toMatchObject({ enumerable: true })
        expectPart(u[k], rec[k], `name ${JSON.stringify(k)}`)
        expectInside(u[k], packed)
        expectShared(u[k], packed)
      }
    }
  })

  test("'__proto__' becomes an own property and leaves the prototype alone", () => {
    const evil = typed(Float64Array, 2)
    const rec = { ['__proto__']: evil, x: typed(Uint8Array, 2) }
    expect(Object.keys(rec)).toEqual(['__proto__', 'x'])
    const packed = abio.pack(rec)
    expectBytes(packed, refPack(rec))
    const u = abio.unpack(packed)
    expect(Object.keys(u)).toEqual(['__proto__', 'x'])
    expect(Object.prototype.hasOwnProperty.call(u, '__proto__')).toBe(true)
    const proto = Object.getPrototypeOf(u)
    expect(tag(proto)).toBe('[object Object]')
    expect(Object.getPrototypeOf(proto)).toBe(null) // an Object.prototype, not the view
    expectPart(Object.getOwnPropertyDescriptor(u, '__proto__').value, evil)
    expectPart(u.x, rec.x)
    expect(typeof u.hasOwnProperty).toBe('function')
    // The global Object.prototype is untouched.
    expect({}.x).toBeUndefined()
  })

  test('the names are stored in Object.keys order, back to back after the directory', () => {
    const rec = { z: new Uint8Array(1), 3: new Uint8Array(1), é: new Uint8Array(1), 1: new Uint8Array(1) }
    const p = abio.pack(rec, { checksum: false })
    const keys = Object.keys(rec)
    const namesAt = HEADER + ENTRY * keys.length
    let off = 0
    keys.forEach((k, i) => {
      const len = p.readUInt16LE(at(i, 'nameLen'))
      expect(p.readUInt32LE(at(i, 'nameOff'))).toBe(off)
      expect(p.toString('utf8', namesAt + off, namesAt + off + len)).toBe(k)
      off += len
    })
    expect(p.readUInt32LE(H.namesLen)).toBe(off)
  })

  // '\uD800' and '\uDC00' are different keys, but both encode to U+FFFD in UTF-8. A pack
  // that cannot tell them apart must not be produced: refuse the name, or keep it exactly.
  test('two lone-surrogate names: refused, or both round trip', () => {
    const rec = { '\uD800': new Uint8Array([1]), '\uDC00': new Uint8Array([2]) }
    let packed
    try {
      packed = abio.pack(rec)
    } catch (e) {
      expect(e.code).toBe(INVALID_ARG)
      return
    }
    const u = abio.unpack(packed)
    expect(Object.keys(u).map((k) => k.charCodeAt(0))).toEqual([0xd800, 0xdc00])
  })

  test('a lone-surrogate name: refused, or round tripped unchanged', () => {
    let packed
    try {
      packed = abio.pack({ 'a\uD800': new Uint8Array([1]) })
    } catch (e) {
      expect(e.code).toBe(INVALID_ARG)
      return
    }
    const codes = (k) => Array.from(k, (c) => c.codePointAt(0).toString(16))
    expect(Object.keys(abio.unpack(packed)).map(codes)).toEqual([codes('a\uD800')])
  })

  test('a name over 65535 UTF-8 bytes is refused with a code, and the process goes on', () => {
    const e = thrownBy(() => abio.pack({ ['é'.repeat(32768)]: new Uint8Array(1) }))
    expect([INVALID_ARG, BAD_FORMAT]).toContain(e.code)
    const ok = { ['x'.repeat(65535)]: new Uint8Array([7]) }
    const u = abio.unpack(abio.pack(ok))
    expect(Object.keys(u)).toEqual(Object.keys(ok))
    expectPart(u['x'.repeat(65535)], ok['x'.repeat(65535)])
  })
})

// ---------------------------------------------------------------------------
// packInto

describe('packInto', () => {
  test('writes exactly packedSize bytes at the target and leaves the rest untouched', () => {
    const list = everyKind().map((p) => p[1])
    for (const align of [8, 64, 4096]) {
      for (const checksum of [true, false]) {
        const size = abio.packedSize(list, { align })
        const expected = refPack(list, { align, checksum })
        expect(size).toBe(expected.length)
        const host = Buffer.alloc(size + 3 * align + 77, 0xab)
        const target = host.subarray(align, align + size + 50)
        const n = abio.packInto(target, list, { align, checksum })
        expect(n).toBe(size)
        expectBytes(host.subarray(align, align + n), expected)
        expect(host.subarray(0, align).every((x) => x === 0xab)).toBe(true)
        expect(host.subarray(align + n).every((x) => x === 0xab)).toBe(true)
        const u = abio.unpack(host.subarray(align, align + n))
        u.forEach((v, i) => {
          expectPart(v, list[i], `align ${align} part ${i}`)
          expect((v.byteOffset - align) % align).toBe(0)
        })
      }
    }
  })

  test('targets of other view kinds: Float64Array, DataView, Uint8Array over a SharedArrayBuffer', () => {
    const rec = { a: typed(Int32Array, 5), b: typed(Uint8Array, 3) }
    const expected = refPack(rec)
    const n = expected.length
    const targets = {
      Float64Array: new Float64Array(alignUp(n, 8) / 8 + 2),
      'DataView at 8': new DataView(new ArrayBuffer(n + 40), 8),
      'SharedArrayBuffer view': new Uint8Array(new SharedArrayBuffer(n + 8)),
      'exact Buffer': Buffer.alloc(n),
    }
    for (const [label, t] of Object.entries(targets)) {
      const before = bytesOf(t)
      expect({ label, n: abio.packInto(t, rec) }).toEqual({ label, n })
      expectBytes(viewOf(t).subarray(0, n), expected)
      expectBytes(viewOf(t).subarray(n), before.subarray(n))
      const u = abio.unpack(t)
      expectPart(u.a, rec.a)
      expectPart(u.b, rec.b)
    }
  })

  test('a target too small is refused with a code, untouched, and the process goes on', () => {
    const list = [typed(Float64Array, 4)]
    const size = abio.packedSize(list)
    for (const len of [0, 1, HEADER - 1, HEADER, size - 1]) {
      const t = Buffer.alloc(len, 0xcd)
      const e = thrownBy(() => abio.packInto(t, list))
      expect(typeof e.code).toBe('string')
      expect([BAD_FORMAT, INVALID_ARG]).toContain(e.code)
      expect(t.every((x) => x === 0xcd)).toBe(true)
    }
    expect(abio.packInto(Buffer.alloc(size), list)).toBe(size)
  })

  test('a part that lies inside the target: refused, or packed as if it had been read first', () => {
    const host = Buffer.alloc(512)
    for (let i = 0; i < host.length; i++) host[i] = i & 0xff
    const part = host.subarray(0, 100) // where the header goes
    const expected = refPack([bytesOf(part)])
    let n
    try {
      n = abio.packInto(host, [part])
    } catch (e) {
      expect(e.code).toBe(INVALID_ARG)
      return
    }
    expect(n).toBe(expected.length)
    expectBytes(host.subarray(0, n), expected)
  })
})

// ---------------------------------------------------------------------------
// hostile input

describe('hostile input', () => {
  const list = () => [typed(Float64Array, 4), typed(Uint8Array, 5), typed(Uint32Array, 3)]
  const base = (opts) => abio.pack(list(), opts)
  /** Edits a copy of a valid pack; with `seal`, recomputes the header CRC afterwards. */
  function edited(opts, edit, seal = true) {
    const b = own(base(opts))
    edit(b)
    return seal ? reseal(b) : b
  }
  /** The edit is refused with `code`, with and without verification, with and without checksums. */
  function refused(edit, code = BAD_FORMAT) {
    for (const checksum of [true, false]) {
      const b = edited({ checksum }, edit)
      for (const verify of [true, false]) expectCode(() => abio.unpack(b, { verify }), code)
    }
  }

  test('too short for a header', () => {
    for (const n of [0, 1, 7, 8, 39]) expectCode(() => abio.unpack(base().subarray(0, n)), BAD_FORMAT)
    expectCode(() => abio.unpack(new ArrayBuffer(0)), BAD_FORMAT)
  })

  test('wrong magic', () => {
    for (let i = 0; i < 8; i++) refused((b) => (b[i] ^= 0x20))
    refused((b) => b.write('ABIOPAK!', 0, 'latin1'))
  })

  test('version 0 and newer versions', () => {
    refused((b) => b.writeUInt16LE(2, H.version))
    refused((b) => b.writeUInt16LE(0xffff, H.version))
    refused((b) => b.writeUInt16LE(0, H.version))
  })

  test('unknown flag bits', () => {
    for (let bit = 2; bit < 16; bit++) refused((b) => b.writeUInt16LE(b.readUInt16LE(H.flags) | (1 << bit), H.flags))
  })

  test('align not a power of two from 8 to 4096', () => {
    for (const a of [0, 1, 4, 12, 24, 8192, 0xffffffff]) refused((b) => b.writeUInt32LE(a, H.align))
  })

  test('count larger than the input can hold', () => {
    refused((b) => b.writeUInt32LE(0xffffffff, H.count))
    refused((b) => b.writeUInt32LE(b.length, H.count))
  })

  test('total_len larger than the input', () => {
    refused((b) => b.writeBigUInt64LE(BigInt(b.length + 1), H.total))
    refused((b) => b.writeBigUInt64LE(2n ** 64n - 1n, H.total))
    refused((b) => b.writeBigUInt64LE(2n ** 53n, H.total))
  })

  test('total_len too small for the directory, or for the parts', () => {
    refused((b) => b.writeBigUInt64LE(BigInt(HEADER), H.total))
    refused((b) => b.writeBigUInt64LE(BigInt(b.length - 1), H.total))
  })

  test('names in an unnamed pack, or names_len past the end', () => {
    refused((b) => b.writeUInt32LE(1, H.namesLen))
    for (const checksum of [true, false]) {
      const b = own(abio.pack({ a: new Uint8Array(1) }, { checksum }))
      b.writeUInt32LE(0xffffffff, H.namesLen)
      expectCode(() => abio.unpack(b, { verify: false }), BAD_FORMAT)
      expectCode(() => abio.unpack(b), BAD_FORMAT)
    }
  })

  test('truncated input at several cut points', () => {
    for (const checksum of [true, false]) {
      const p = base({ checksum })
      const cuts = [
        0,
        1,
        8,
        HEADER - 1,
        HEADER,
        HEADER + 1,
        HEADER + ENTRY,
        HEADER + ENTRY * 3 - 1,
        p.readUInt32LE(at(0, 'offset')),
        p.readUInt32LE(at(1, 'offset')) + 2,
        p.length - 1,
      ]
      for (const cut of cuts) {
        for (const verify of [true, false])
          expectCode(() => abio.unpack(own(p.subarray(0, cut)), { verify }), BAD_FORMAT)
      }
    }
  })

  test('offsets and lengths past the end', () => {
    refused((b) => b.writeBigUInt64LE(BigInt(alignUp(b.length, 8)), at(2, 'offset')))
    refused((b) => b.writeBigUInt64LE(BigInt(alignUp(b.length, 8) + 8), at(2, 'offset')))
    refused((b) => b.writeBigUInt64LE(2n ** 64n - 8n, at(2, 'offset')))
    refused((b) => b.writeBigUInt64LE(2n ** 64n - 8n, at(0, 'offset')))
    refused((b) => b.writeBigUInt64LE(2n ** 64n - 8n, at(1, 'length')))
    refused((b) => b.writeBigUInt64LE(2n ** 64n - 1n, at(1, 'length')))
    refused((b) => b.writeBigUInt64LE(BigInt(b.length), at(2, 'length')))
    refused((b) => b.writeBigUInt64LE(b.readBigUInt64LE(at(2, 'length')) + 4n, at(2, 'length')))
  })

  test('overlapping and out-of-order parts', () => {
    refused((b) => b.writeBigUInt64LE(b.readBigUInt64LE(at(0, 'offset')), at(1, 'offset')))
    refused((b) => b.writeBigUInt64LE(b.readBigUInt64LE(at(1, 'offset')), at(2, 'offset')))
    refused((b) => b.writeBigUInt64LE(b.readBigUInt64LE(at(0, 'offset')) + 8n, at(1, 'offset'))) // inside part 0
    // Parts 1 and 2 swapped: every entry's structure is checked before any part's CRC
    // (docs/FORMAT.md, rules 10 and 11), so part 2 is found out of order either way.
    for (const checksum of [true, false]) {
      const b = edited({ checksum }, (b) => {
        const o1 = b.readBigUInt64LE(at(1, 'offset'))
        b.writeBigUInt64LE(b.readBigUInt64LE(at(2, 'offset')), at(1, 'offset'))
        b.writeBigUInt64LE(o1, at(2, 'offset'))
      })
      expectCode(() => abio.unpack(b, { verify: false }), BAD_FORMAT)
      expectCode(() => abio.unpack(b), BAD_FORMAT)
    }
    // Part 0 inside the header, directory or names.
    for (const o of [0n, 8n, BigInt(HEADER), BigInt(HEADER + ENTRY * 3 - 8)])
      refused((b) => b.writeBigUInt64LE(o, at(0, 'offset')))
  })

  test('an offset that is not a multiple of align', () => {
    refused((b) => b.writeBigUInt64LE(b.readBigUInt64LE(at(0, 'offset')) + 4n, at(0, 'offset')))
    refused((b) => b.writeBigUInt64LE(b.readBigUInt64LE(at(2, 'offset')) + 1n, at(2, 'offset')))
    for (const checksum of [true, false]) {
      const b = own(abio.pack(list(), { align: 64, checksum }))
      b.writeBigUInt64LE(b.readBigUInt64LE(at(1, 'offset')) + 8n, at(1, 'offset'))
      reseal(b)
      for (const verify of [true, false]) expectCode(() => abio.unpack(b, { verify }), BAD_FORMAT)
    }
  })

  test('a length that is not a whole number of elements', () => {
    refused((b) => b.writeBigUInt64LE(12n, at(0, 'length'))) // Float64: 12 bytes
    refused((b) => b.writeBigUInt64LE(1n, at(0, 'length')))
    refused((b) => b.writeBigUInt64LE(6n, at(2, 'length'))) // Uint32: 6 bytes
    // The same bytes under a kind with a larger element: Uint8 (5 bytes) as Int16.
    refused((b) => (b[at(1, 'kind')] = KIND.Int16Array))
  })

  test('unknown kind codes', () => {
    for (const k of [13, 14, 100, 255]) refused((b) => (b[at(1, 'kind')] = k))
  })

  test('duplicate names, names outside the names area, names that are not UTF-8', () => {
    const rec = () => ({ ab: typed(Uint8Array, 3), cd: typed(Float64Array, 1), ef: typed(Uint8Array, 2) })
    const named = (checksum, edit) => {
      const b = own(abio.pack(rec(), { checksum }))
      edit(b)
      return reseal(b)
    }
    const edits = [
      (b) => b.writeUInt32LE(0, at(1, 'nameOff')), // 'cd' -> 'ab'
      (b) => b.writeUInt32LE(b.readUInt32LE(at(2, 'nameOff')), at(0, 'nameOff')), // 'ab' -> 'ef'
      (b) => b.writeUInt32LE(b.readUInt32LE(H.namesLen), at(1, 'nameOff')), // past the area
      (b) => b.writeUInt32LE(b.readUInt32LE(H.namesLen) - 1, at(2, 'nameOff')), // straddles the end
      (b) => b.writeUInt32LE(0xffffffff, at(0, 'nameOff')),
      (b) => b.writeUInt16LE(0xffff, at(0, 'nameLen')),
      (b) => b.writeUInt16LE(7, at(2, 'nameLen')),
      (b) => (b[HEADER + ENTRY * 3 + 2] = 0xff), // 'cd' -> '\xffd': not UTF-8
      (b) => (b[HEADER + ENTRY * 3] = 0xc3), // 'ab' -> '\xc3b': a broken sequence
    ]
    for (const checksum of [true, false]) {
      for (const edit of edits) {
        const b = named(checksum, edit)
        for (const verify of [true, false]) expectCode(() => abio.unpack(b, { verify }), BAD_FORMAT)
      }
    }
  })

  test('a flipped data byte: CHECKSUM with verify, accepted (and visible) without', () => {
    for (const [i, delta] of [
      [0, 0],
      [0, 31],
      [1, 4],
      [2, 11],
    ]) {
      const p = own(base())
      const pos = Number(p.readBigUInt64LE(at(i, 'offset'))) + delta
      p[pos] ^= 0x01
      expectCode(() => abio.unpack(p), CHECKSUM)
      expectCode(() => abio.unpack(p, { verify: true }), CHECKSUM)
      const u = abio.unpack(p, { verify: false })
      expect(viewOf(u[i])[delta]).toBe(p[pos])
      expectInside(u[i], p)
    }
    // Without checksums there is nothing to catch it, verify or not.
    const q = own(base({ checksum: false }))
    q[q.length - 1] ^= 0x80
    expect(abio.unpack(q)).toHaveLength(3)
  })

  test('a flipped header, directory, names or CRC byte: CHECKSUM when checksums are on', () => {
    const rec = { ab: typed(Uint8Array, 3), cd: typed(Float64Array, 1) }
    const p = abio.pack(rec)
    const headEnd = HEADER + ENTRY * 2 + p.readUInt32LE(H.namesLen)
    // Bytes that still pass the structural checks before the CRC one: reserved bytes, CRC
    // fields, names, and so on.
    const positions = [
      H.crc,
      H.crc + 3,
      36,
      39,
      at(0, 'kind') + 1,
      at(0, 'crc'),
      at(1, 'crc') + 2,
      at(1, 'crc') + 4,
      at(1, 'kind'),
      headEnd - 1,
      HEADER + ENTRY * 2,
    ]
    for (const pos of positions) {
      const b = own(p)
      b[pos] ^= 0x01
      expectCode(() => abio.unpack(b), CHECKSUM)
    }
    // Without verify, reserved bytes and CRC fields are not looked at.
    for (const pos of [H.crc, 36, at(0, 'kind') + 1, at(0, 'crc'), at(1, 'crc') + 4]) {
      const b = own(p)
      b[pos] ^= 0x01
      const u = abio.unpack(b, { verify: false })
      expectPart(u.ab, rec.ab)
      expectPart(u.cd, rec.cd)
    }
    // Without checksums a reserved byte is not looked at either.
    const q = own(abio.pack(rec, { checksum: false }))
    q[36] ^= 0x01
    expectPart(abio.unpack(q).cd, rec.cd)
  })

  test('randomized: flipped bytes and truncations give views inside the input, or a format/checksum error', () => {
    const r = prng(0x5eed)
    const bases = [
      abio.pack(list()),
      abio.pack(list(), { checksum: false }),
      abio.pack({ ab: typed(Uint8Array, 3, r), '': typed(Int16Array, 2, r), é: typed(BigInt64Array, 1, r) }),
      abio.pack({ x: typed(Float32Array, 5, r), y: new DataView(ab(3)) }, { checksum: false, align: 64 }),
      abio.pack([new Uint8Array(0), typed(Float64Array, 1, r), new ArrayBuffer(0)]),
      abio.pack([]),
    ]
    const outcomes = { ok: 0, [BAD_FORMAT]: 0, [CHECKSUM]: 0 }
    for (let iter = 0; iter < 2000; iter++) {
      const src = bases[Math.floor(r() * bases.length)]
      let b = own(src)
      const edits = 1 + Math.floor(r() * 4)
      for (let k = 0; k < edits; k++) {
        // Mostly the header and directory, where the damage is interesting.
        const limit = r() < 0.7 ? Math.min(b.length, HEADER + ENTRY * 4) : b.length
        const pos = Math.floor(r() * limit)
        if (r() < 0.5) b[pos] ^= 1 << Math.floor(r() * 8)
        else b[pos] = Math.floor(r() * 256)
      }
      if (r() < 0.3) b = own(b.subarray(0, Math.floor(r() * (b.length + 1))))
      if (r() < 0.3) reseal(b)
      const verify = r() < 0.5
      let u
      try {
        u = abio.unpack(b, { verify })
      } catch (e) {
        if (!(tag(e) === '[object Error]' && (e.code === BAD_FORMAT || e.code === CHECKSUM))) {
          throw new Error(`iteration ${iter}: unexpected ${tag(e)} ${e && e.code} ${e && e.message}`)
        }
        outcomes[e.code]++
        continue
      }
      outcomes.ok++
      // (A record's integer-like names come first in Object.keys, hence the sort.)
      const views = partsOf(u).sort((x, y) => x.byteOffset - y.byteOffset)
      let end = 0
      for (const v of views) {
        expect(ArrayBuffer.isView(v)).toBe(true)
        expectInside(v, b) // b starts at byteOffset 0: no part needs a copy
        expect(v.byteOffset).toBeGreaterThanOrEqual(end) // no overlap
        end = v.byteOffset + v.byteLength
      }
    }
    // The loop exercised every outcome.
    expect(outcomes.ok).toBeGreaterThan(0)
    expect(outcomes[BAD_FORMAT]).toBeGreaterThan(0)
    expect(outcomes[CHECKSUM]).toBeGreaterThan(0)
  })
})

// ---------------------------------------------------------------------------
// savePacked / loadPacked

describe('savePacked and loadPacked', () => {
  test('the file is byte for byte pack(parts) with the same options', async () => {
    const list = everyKind().map((p) => p[1])
    const rec = Object.fromEntries(everyKind())
    for (const [parts, opts] of [
      [list, undefined],
      [list, { align: 64, checksum: false }],
      [rec, { align: 4096 }],
      [rec, { checksum: false }],
      [[], undefined],
      [{}, { align: 4096 }],
      [emptyOfEveryKind(), undefined],
    ]) {
      const p = tmp('save')
      const expected = abio.pack(parts, opts)
      expectBytes(expected, refPack(parts, opts))
      expect(await abio.savePacked(p, parts, opts)).toBe(expected.length)
      expectBytes(fs.readFileSync(p), expected)
    }
  })

  test('more parts than one writev takes (IOV_MAX)', async () => {
    const parts = Array.from({ length: 1500 }, (_, i) => typed(i % 2 ? Uint8Array : Float64Array, (i % 5) + 1))
    const p = tmp('many')
    const expected = refPack(parts)
    expect(await abio.savePacked(p, parts)).toBe(expected.length)
    expectBytes(fs.readFileSync(p), expected)
    const u = await abio.loadPacked(p)
    expect(u).toHaveLength(parts.length)
    u.forEach((v, i) => expectPart(v, parts[i], `part ${i}`))
  })

  test('a large pack saved and loaded, with and without mmap', async () => {
    const r = prng(99)
    const parts = {
      a: typed(Float64Array, (6 << 20) / 8, r),
      b: typed(Uint16Array, 3, r),
      c: typed(Uint8Array, 3 << 20, r),
    }
    const p = tmp('large')
    const expected = refPack(parts, { align: 4096 })
    expect(await abio.savePacked(p, parts, { align: 4096 })).toBe(expected.length)
    expectBytes(fs.readFileSync(p), expected)
    for (const mmap of [false, true]) {
      const u = await abio.loadPacked(p, { mmap })
      for (const k of Object.keys(parts)) expectPart(u[k], parts[k], `${k} mmap ${mmap}`)
    }
  })

  test('round trip with and without mmap and verify: views of one buffer, private', async () => {
    const rec = Object.fromEntries(everyKind())
    const p = tmp('rt')
    await abio.savePacked(p, rec)
    const onDisk = fs.readFileSync(p)
    for (const mmap of [false, true, undefined]) {
      for (const verify of [true, false, undefined]) {
        const u = await abio.loadPacked(p, { mmap, verify })
        expect(Object.keys(u)).toEqual(Object.keys(rec))
        const views = Object.keys(rec).map((k) => u[k])
        views.forEach((v, i) => expectPart(v, rec[Object.keys(rec)[i]], `mmap ${mmap} ${Object.keys(rec)[i]}`))
        // All parts are views of the one loaded buffer.
        const first = views.find((v) => v.byteLength > 0)
        expect(tag(first.buffer)).toBe('[object ArrayBuffer]')
        for (const v of views) expect(v.buffer).toBe(first.buffer)
        // Writing to a view changes neither the file nor another load (a private mapping).
        viewOf(first)[0] ^= 0xff
        expectBytes(fs.readFileSync(p), onDisk)
      }
    }
    const u = await abio.loadPacked(p)
    expectPart(u.Float64Array, rec.Float64Array)
    const list = [typed(Float32Array, 3), typed(Uint8Array, 2)]
    const q = tmp('list')
    await abio.savePacked(q, list, { checksum: false })
    for (const mmap of [false, true]) {
      const v = await abio.loadPacked(q, { mmap })
      expect(Array.isArray(v)).toBe(true)
      v.forEach((x, i) => expectPart(x, list[i]))
    }
  })

  test('atomic and mkdirs options', async () => {
    const rec = { a: typed(Float64Array, 3), b: ab(5) }
    const expected = refPack(rec)
    const d = path.join(dir, `nested-${++seq}`, 'x', 'y')
    const p = path.join(d, 'pack.bin')
    expect(await abio.savePacked(p, rec, { mkdirs: true })).toBe(expected.length)
    expectBytes(fs.readFileSync(p), expected)
    // Atomic replace of an existing file; no temporary file is left behind.
    fs.writeFileSync(p, 'old contents that are longer than nothing at all')
    const list = [typed(Int16Array, 9)]
    expect(await abio.savePacked(p, list, { atomic: true })).toBe(refPack(list).length)
    expectBytes(fs.readFileSync(p), refPack(list))
    expect(fs.readdirSync(d)).toEqual(['pack.bin'])
    const q = path.join(dir, `nested-${++seq}`, 'z', 'pack.bin')
    await abio.savePacked(q, rec, { atomic: true, mkdirs: true, align: 64 })
    expectBytes(fs.readFileSync(q), refPack(rec, { align: 64 }))
    const u = await abio.loadPacked(q, { mmap: true })
    expectPart(u.a, rec.a)
    expectPart(u.b, rec.b)
    // Without mkdirs, a missing directory is ENOENT.
    const e = await rejectionOf(abio.savePacked(path.join(dir, `missing-${++seq}`, 'p.bin'), rec))
    expect(e.code).toBe('ENOENT')
  })

  test('a missing file is ENOENT, with and without mmap', async () => {
    for (const mmap of [false, true]) {
      const e = await rejectionOf(abio.loadPacked(path.join(dir, 'no-such-file'), { mmap }))
      expect(e.code).toBe('ENOENT')
    }
  })

  test('corrupt, truncated and empty files: CHECKSUM / BAD_FORMAT, with and without mmap', async () => {
    const list = [typed(Float64Array, 3), typed(Uint8Array, 4)]
    const good = abio.pack(list)
    const flipped = own(good)
    flipped[flipped.length - 1] ^= 1
    const pf = tmp('flipped')
    fs.writeFileSync(pf, flipped)
    const pt = tmp('truncated')
    fs.writeFileSync(pt, good.subarray(0, good.length - 3))
    const pe = tmp('empty')
    fs.writeFileSync(pe, '')
    const pm = tmp('magic')
    fs.writeFileSync(pm, Buffer.concat([Buffer.from('NOTAPACK'), good.subarray(8)]))
    for (const mmap of [false, true]) {
      expect((await rejectionOf(abio.loadPacked(pf, { mmap }))).code).toBe(CHECKSUM)
      const u = await abio.loadPacked(pf, { mmap, verify: false })
      expect(viewOf(u[1])[3]).toBe(flipped[flipped.length - 1])
      expect((await rejectionOf(abio.loadPacked(pt, { mmap }))).code).toBe(BAD_FORMAT)
      expect((await rejectionOf(abio.loadPacked(pe, { mmap }))).code).toBe(BAD_FORMAT)
      expect((await rejectionOf(abio.loadPacked(pm, { mmap, verify: false }))).code).toBe(BAD_FORMAT)
    }
  })
})

// ---------------------------------------------------------------------------
// bad arguments

describe('bad arguments', () => {
  const ok = [new Uint8Array(4)]

  test('parts that are not an array or record of Bytes', () => {
    for (const fn of [abio.pack, abio.packedSize]) {
      for (const parts of [42, null, undefined, 'str', true, Symbol('s'), () => {}]) expectInvalidArg(() => fn(parts))
      for (const parts of [new Uint8Array(4), new ArrayBuffer(4), new DataView(new ArrayBuffer(4))]) {
        expectInvalidArg(() => fn(parts))
      }
      for (const parts of [[1], ['str'], [null], [undefined], [{}], [[new Uint8Array(1)]], [ok[0], 7]]) {
        expectInvalidArg(() => fn(parts))
      }
      for (const parts of [{ a: 1 }, { a: 'str' }, { a: null }, { a: ok[0], b: {} }]) expectInvalidArg(() => fn(parts))
      // eslint-disable-next-line no-sparse-arrays
      expectInvalidArg(() => fn([, ok[0]]))
    }
    expectInvalidArg(() => abio.packInto(Buffer.alloc(100), 42))
    expectInvalidArg(() => abio.packInto(Buffer.alloc(100), [1]))
  })

  test('align and checksum options', () => {
    for (const fn of [
      (o) => abio.pack(ok, o),
      (o) => abio.packedSize(ok, o),
      (o) => abio.packInto(Buffer.alloc(64), ok, o),
    ]) {
      for (const align of [0, 1, 3, 4, 12, 24, 100, 8192, 1 << 20, -8, 8.5, NaN, Infinity]) {
        expectInvalidArg(() => fn({ align }), ['RangeError'])
      }
      for (const align of ['8', null, 8n, {}, true]) expectInvalidArg(() => fn({ align }), ['TypeError'])
      for (const checksum of ['yes', 1, 0, null, {}]) expectInvalidArg(() => fn({ checksum }), ['TypeError'])
      for (const options of [5, 'x', true, []]) expectInvalidArg(() => fn(options))
    }
    expectInvalidArg(() => abio.pack(ok, { checksum: 'yes' }))
    expectInvalidArg(() => abio.packedSize(ok, { checksum: 'yes' }))
  })

  test('unpack of something that is not Bytes, or with a bad verify option', () => {
    const packed = abio.pack(ok)
    for (const x of [123, null, undefined, 'str', [], [packed], {}, true]) expectInvalidArg(() => abio.unpack(x))
    for (const verify of ['no', 1, null, {}]) expectInvalidArg(() => abio.unpack(packed, { verify }))
    for (const options of [5, 'x', true]) expectInvalidArg(() => abio.unpack(packed, options))
  })

  test('packInto targets that are not views', () => {
    for (const t of ['x', 42, null, undefined, {}, [], new ArrayBuffer(128), new SharedArrayBuffer(128)]) {
      expectInvalidArg(() => abio.packInto(t, ok))
    }
  })

  test('detached memory: parts, packed and targets', () => {
    expectInvalidArg(() => abio.pack([detachedArrayBuffer()]))
    expectInvalidArg(() => abio.pack({ a: detachedArrayBuffer() }))
    expectInvalidArg(() => abio.packedSize([detachedArrayBuffer()]))
    const buf = new ArrayBuffer(32)
    const f = new Float64Array(buf)
    const dv = new DataView(buf)
    structuredClone(buf, { transfer: [buf] })
    expectInvalidArg(() => abio.pack([f]))
    expectInvalidArg(() => abio.pack([new Uint8Array(4), dv]))
    expectInvalidArg(() => abio.unpack(f))
    expectInvalidArg(() => abio.unpack(detachedArrayBuffer()))
    expectInvalidArg(() => abio.packInto(f, ok))
    expectInvalidArg(() => abio.packInto(Buffer.alloc(100), [f]))
  })

  test('savePacked and loadPacked throw synchronously', () => {
    const p = tmp('never')
    expectInvalidArg(() => abio.savePacked(42, ok))
    expectInvalidArg(() => abio.savePacked(null, ok))
    expectInvalidArg(() => abio.savePacked('a\0b', ok))
    expectInvalidArg(() => abio.savePacked(p, 42))
    expectInvalidArg(() => abio.savePacked(p, [1]))
    expectInvalidArg(() => abio.savePacked(p, { a: 'x' }))
    expectInvalidArg(() => abio.savePacked(p, [detachedArrayBuffer()]))
    expectInvalidArg(() => abio.savePacked(p, ok, { align: 3 }), ['RangeError'])
    expectInvalidArg(() => abio.savePacked(p, ok, { align: '8' }))
    expectInvalidArg(() => abio.savePacked(p, ok, { checksum: 'yes' }))
    expectInvalidArg(() => abio.savePacked(p, ok, { atomic: 'yes' }))
    expectInvalidArg(() => abio.savePacked(p, ok, { mkdirs: 1 }))
    expectInvalidArg(() => abio.savePacked(p, ok, 5))
    expect(fs.existsSync(p)).toBe(false)
    expectInvalidArg(() => abio.loadPacked(42))
    expectInvalidArg(() => abio.loadPacked(undefined))
    expectInvalidArg(() => abio.loadPacked(p, { mmap: 'yes' }))
    expectInvalidArg(() => abio.loadPacked(p, { verify: 1 }))
    expectInvalidArg(() => abio.loadPacked(p, 5))
  })

  test('after all those errors, the addon still works', () => {
    const list = [typed(Float64Array, 2)]
    expectPart(abio.unpack(abio.pack(list))[0], list[0])
  })
})
