'use strict'
// Tests for abio's packing API (design.md section 5, docs/FORMAT.md): records, savePacked and
// loadPacked, and bad arguments.
// The expected bytes of every pack come from `refPack` in helpers/pack.js, never from dumps.

const fs = require('fs')
const path = require('path')

const abio = require('..')
const { ab, sab, detachedArrayBuffer } = require('./helpers/inputs')
const { bufferOver: viewOf, expectBytes } = require('./helpers/bytes')
const { syncThrowOf: thrownBy, rejectionOf, expectInvalidArg, tag } = require('./helpers/throws')
const { useTempDir, tmpDir, tmp } = require('./helpers/tmpdir')
const { BAD_FORMAT, CHECKSUM, INVALID_ARG, prng, HEADER, ENTRY, H, FLAG_NAMED, at, refPack } = require('./helpers/pack')
const { own, typed, everyKind, emptyOfEveryKind, expectPart, expectInside, expectShared } = require('./helpers/pack')

jest.setTimeout(20000)

useTempDir('abio-pack-', 'p')

let seq = 0

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
    const d = path.join(tmpDir(), `nested-${++seq}`, 'x', 'y')
    const p = path.join(d, 'pack.bin')
    expect(await abio.savePacked(p, rec, { mkdirs: true })).toBe(expected.length)
    expectBytes(fs.readFileSync(p), expected)
    // Atomic replace of an existing file; no temporary file is left behind.
    fs.writeFileSync(p, 'old contents that are longer than nothing at all')
    const list = [typed(Int16Array, 9)]
    expect(await abio.savePacked(p, list, { atomic: true })).toBe(refPack(list).length)
    expectBytes(fs.readFileSync(p), refPack(list))
    expect(fs.readdirSync(d)).toEqual(['pack.bin'])
    const q = path.join(tmpDir(), `nested-${++seq}`, 'z', 'pack.bin')
    await abio.savePacked(q, rec, { atomic: true, mkdirs: true, align: 64 })
    expectBytes(fs.readFileSync(q), refPack(rec, { align: 64 }))
    const u = await abio.loadPacked(q, { mmap: true })
    expectPart(u.a, rec.a)
    expectPart(u.b, rec.b)
    // Without mkdirs, a missing directory is ENOENT.
    const e = await rejectionOf(abio.savePacked(path.join(tmpDir(), `missing-${++seq}`, 'p.bin'), rec))
    expect(e.code).toBe('ENOENT')
  })

  test('a missing file is ENOENT, with and without mmap', async () => {
    for (const mmap of [false, true]) {
      const e = await rejectionOf(abio.loadPacked(path.join(tmpDir(), 'no-such-file'), { mmap }))
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
