'use strict'
// Tests for abio's packing API (design.md section 5, docs/FORMAT.md): hostile input. Hostile
// inputs are made by editing a valid pack field by field; when the edit is meant to reach a rule
// after the header CRC check, the header CRC is recomputed (`reseal`) so the structural rule, not
// the checksum, is what fails.
// The expected bytes of every pack come from `refPack` in helpers/pack.js, never from dumps.

const abio = require('..')
const { ab } = require('./helpers/inputs')
const { bufferOver: viewOf } = require('./helpers/bytes')
const { tag } = require('./helpers/throws')
const { BAD_FORMAT, CHECKSUM, prng, expectCode, HEADER, ENTRY, H, at, KIND, alignUp } = require('./helpers/pack')
const { reseal, own, typed, expectPart, expectInside, partsOf } = require('./helpers/pack')

jest.setTimeout(20000)

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
