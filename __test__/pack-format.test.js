'use strict'
// Tests for abio's packing API (design.md section 5, docs/FORMAT.md): the format, unpack
// (views of the right kind over the packed memory) and packInto.
// The expected bytes of every pack come from `refPack` in helpers/pack.js, never from dumps.

const abio = require('..')
const { ab } = require('./helpers/inputs')
const { bufferOver: viewOf, expectBytes } = require('./helpers/bytes')
const { syncThrowOf: thrownBy, tag } = require('./helpers/throws')
const { BAD_FORMAT, INVALID_ARG, prng, randomBytes, bytesOf, crc32c, HEADER, ENTRY, H } = require('./helpers/pack')
const { FLAG_CHECKSUMS, at, alignUp, refPack, own, shifted, typed, everyKind } = require('./helpers/pack')
const { emptyOfEveryKind, expectPart, expectInside, expectShared } = require('./helpers/pack')

jest.setTimeout(20000)

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
