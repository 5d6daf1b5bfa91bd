'use strict'
// Tests for abio's file API (design.md sections 2-4): open and FileHandle, toArrayBuffer
// and toBuffer.
// Inputs, checks and how expected bytes are computed: helpers/fs.js.

const fs = require('fs')
const path = require('path')

const abio = require('..')
const { ab, sab, poolSlice, detachedArrayBuffer } = require('./helpers/inputs')
const { bufferOver: view, expectBytes, bytesOf } = require('./helpers/bytes')
const { rejectionOf, expectInvalidArg } = require('./helpers/throws')
const { useTempDir, tmpDir, tmp } = require('./helpers/tmpdir')
const { rnd, fileWith, expectArrayBuffer, expectFile, modeOf, expectLikeNode, nodeErrorOf } = require('./helpers/fs')
const { withUmaskAsync, KINDS, allKinds, BAD_PATHS, BAD_DATA, NUM } = require('./helpers/fs')

jest.setTimeout(20000)

useTempDir('abio-')

describe('open and FileHandle', () => {
  /** Opens, runs fn(fh), closes whatever happens. */
  async function withHandle(p, flags, fn, mode) {
    const fh = mode === undefined ? await abio.open(p, flags) : await abio.open(p, flags, mode)
    try {
      return await fn(fh)
    } finally {
      await fh.close()
    }
  }

  describe('flags', () => {
    test("default 'r' reads; writing rejects with EBADF", async () => {
      const whole = rnd(100)
      const p = fileWith(whole)
      const fh = await abio.open(p)
      try {
        expectArrayBuffer(await fh.read(0, 100), whole)
        expect((await rejectionOf(fh.write('x', 0))).code).toBe('EBADF')
      } finally {
        await fh.close()
      }
      expectFile(p, whole)
    })

    test("'r' on a missing file rejects with ENOENT exactly like Node", async () => {
      const p = path.join(tmpDir(), 'missing-open')
      expectLikeNode(
        await rejectionOf(abio.open(p, 'r')),
        nodeErrorOf(() => fs.openSync(p, 'r')),
      )
    })

    test("'r+' reads and writes in place without truncating; missing file is ENOENT", async () => {
      const whole = rnd(100)
      const p = fileWith(whole)
      await withHandle(p, 'r+', async (fh) => {
        expectArrayBuffer(await fh.read(0, 10), whole.subarray(0, 10))
        expect(await fh.write('XYZ', 50)).toBe(3)
        expectArrayBuffer(
          await fh.read(49, 5),
          Buffer.concat([whole.subarray(49, 50), Buffer.from('XYZ'), whole.subarray(53, 54)]),
        )
      })
      const expected = Buffer.from(whole)
      expected.write('XYZ', 50)
      expectFile(p, expected)
      expect((await rejectionOf(abio.open(path.join(tmpDir(), 'missing-rplus'), 'r+'))).code).toBe('ENOENT')
    })

    test("'w' truncates an existing file, creates a missing one, and cannot read", async () => {
      const p = fileWith(rnd(1000))
      await withHandle(p, 'w', async (fh) => {
        expect(fs.statSync(p).size).toBe(0)
        expect(await fh.size()).toBe(0)
        expect(await fh.write('abc')).toBe(3)
        expect((await rejectionOf(fh.read(0, 3))).code).toBe('EBADF')
      })
      expectFile(p, Buffer.from('abc'))
      const q = tmp()
      await withHandle(q, 'w', async (fh) => fh.write('new'))
      expectFile(q, Buffer.from('new'))
    })

    test("'w+' truncates and reads back what it wrote", async () => {
      const p = fileWith(rnd(1000))
      await withHandle(p, 'w+', async (fh) => {
        expect(await fh.size()).toBe(0)
        const data = rnd(64)
        expect(await fh.write(data, 0)).toBe(64)
        expectArrayBuffer(await fh.read(0, 64), data)
      })
      expect(fs.statSync(p).size).toBe(64)
    })

    test("'a' appends to an existing file and creates a missing one", async () => {
      const first = rnd(20)
      const p = fileWith(first)
      await withHandle(p, 'a', async (fh) => {
        expect(await fh.write('one')).toBe(3)
        expect(await fh.writev(['two', new Uint8Array([1, 2])])).toBe(5)
      })
      expectFile(p, Buffer.concat([first, Buffer.from('onetwo'), Buffer.from([1, 2])]))
      const q = tmp()
      await withHandle(q, 'a', async (fh) => fh.write('created'))
      expectFile(q, Buffer.from('created'))
    })

    test("'a+' reads the existing content and appends", async () => {
      const first = rnd(30)
      const p = fileWith(first)
      await withHandle(p, 'a+', async (fh) => {
        expectArrayBuffer(await fh.read(0, 30), first)
        await fh.write('end')
        expectArrayBuffer(await fh.read(28, 10), Buffer.concat([first.subarray(28), Buffer.from('end')]))
      })
      expectFile(p, Buffer.concat([first, Buffer.from('end')]))
    })

    test("'wx' creates a new file and rejects an existing one with EEXIST like Node", async () => {
      const p = tmp()
      await withHandle(p, 'wx', async (fh) => fh.write('fresh'))
      expectFile(p, Buffer.from('fresh'))
      expectLikeNode(
        await rejectionOf(abio.open(p, 'wx')),
        nodeErrorOf(() => fs.openSync(p, 'wx')),
      )
      expectFile(p, Buffer.from('fresh'))
    })

    test('a created file defaults to 0o666 & ~umask', async () => {
      await withUmaskAsync(0o027, async () => {
        const p = tmp()
        await withHandle(p, 'w', async () => {})
        expect(modeOf(p)).toBe(0o640)
      })
    })

    test('mode applies to a created file through the umask', async () => {
      await withUmaskAsync(0o022, async () => {
        const p = tmp()
        await withHandle(p, 'w', async () => {}, 0o600)
        expect(modeOf(p)).toBe(0o600)
        const q = tmp()
        await withHandle(q, 'wx', async () => {}, 0o777)
        expect(modeOf(q)).toBe(0o755)
      })
    })

    test.each([['rw'], ['z'], ['R'], [''], [5], [{}]])(
      'bad flags %p throw ABIO_ERR_INVALID_ARG synchronously',
      (flags) => {
        const p = fileWith('x')
        expectInvalidArg(() => abio.open(p, flags))
      },
    )

    test.each(BAD_PATHS)('bad path (%s) throws ABIO_ERR_INVALID_ARG synchronously', (_n, make) => {
      expectInvalidArg(() => abio.open(make(), 'r'))
    })
  })

  describe('read', () => {
    test.each([
      ['the whole file', 0, 1000],
      ['a middle slice', 123, 456],
      ['zero bytes', 10, 0],
      ['past EOF (short)', 990, 100],
      ['at EOF (empty)', 1000, 10],
      ['beyond EOF (empty)', 5000, 10],
    ])('%s', async (_n, position, length) => {
      const whole = rnd(1000)
      const p = fileWith(whole)
      await withHandle(p, 'r', async (fh) => {
        expectArrayBuffer(await fh.read(position, length), whole.subarray(position, position + length))
      })
    })

    test('a large read is never short before EOF', async () => {
      const whole = rnd((8 << 20) + 5)
      const p = fileWith(whole)
      await withHandle(p, 'r', async (fh) => {
        expectArrayBuffer(await fh.read(0, whole.length), whole)
        expectArrayBuffer(await fh.read(7, whole.length), whole.subarray(7))
      })
    })

    test('reads concurrently at many positions', async () => {
      const whole = rnd(100000)
      const p = fileWith(whole)
      await withHandle(p, 'r', async (fh) => {
        const pos = Array.from({ length: 100 }, (_, i) => i * 997)
        const out = await Promise.all(pos.map((x) => fh.read(x, 500)))
        out.forEach((x, i) => expectArrayBuffer(x, whole.subarray(pos[i], pos[i] + 500)))
      })
    })

    test.each([
      ['negative position', -1, 1, NUM],
      ['non-integer position', 1.5, 1, NUM],
      ['negative length', 0, -1, NUM],
      ['string length', 0, '4', ['TypeError']],
    ])('%s throws ABIO_ERR_INVALID_ARG synchronously', async (_n, position, length, names) => {
      await withHandle(fileWith('abc'), 'r', async (fh) => {
        expectInvalidArg(() => fh.read(position, length), names)
      })
    })
  })

  describe('readInto', () => {
    test('fills a view at a non-zero byteOffset from a position; bytes outside stay', async () => {
      const whole = rnd(300)
      const p = fileWith(whole)
      const backing = Buffer.alloc(100, 0xee)
      const target = new Int32Array(backing.buffer, backing.byteOffset + 20, 10)
      await withHandle(p, 'r', async (fh) => {
        expect(await fh.readInto(target, 17)).toBe(40)
      })
      expectBytes(backing.subarray(20, 60), whole.subarray(17, 57))
      expectBytes(backing.subarray(0, 20), Buffer.alloc(20, 0xee))
      expectBytes(backing.subarray(60), Buffer.alloc(40, 0xee))
    })

    test('reads short at EOF and 0 beyond it', async () => {
      const whole = rnd(50)
      const p = fileWith(whole)
      const target = Buffer.alloc(20, 1)
      await withHandle(p, 'r', async (fh) => {
        expect(await fh.readInto(target, 40)).toBe(10)
        expectBytes(target.subarray(0, 10), whole.subarray(40))
        expectBytes(target.subarray(10), Buffer.alloc(10, 1))
        expect(await fh.readInto(target, 80)).toBe(0)
      })
    })

    test('a bad target throws ABIO_ERR_INVALID_ARG synchronously', async () => {
      await withHandle(fileWith('abc'), 'r', async (fh) => {
        expectInvalidArg(() => fh.readInto('abc', 0))
        expectInvalidArg(() => fh.readInto(null, 0))
        expectInvalidArg(() => fh.readInto(new Uint8Array(2), -1), NUM)
      })
    })
  })

  describe('write', () => {
    test.each(KINDS)('writes %s at a position in place', async (_name, make) => {
      const original = rnd(64)
      const p = fileWith(original)
      const data = make()
      const bytes = bytesOf(data)
      await withHandle(p, 'r+', async (fh) => {
        expect(await fh.write(data, 3)).toBe(bytes.length)
      })
      const expected = Buffer.alloc(Math.max(64, 3 + bytes.length))
      original.copy(expected)
      bytes.copy(expected, 3)
      expectFile(p, expected)
    })

    test('without a position, writes follow each other from the start', async () => {
      const p = tmp()
      const parts = [rnd(10), 'abc', new Float32Array(ab(16)), '']
      await withHandle(p, 'w', async (fh) => {
        for (const part of parts) expect(await fh.write(part)).toBe(bytesOf(part).length)
      })
      expectFile(p, bytesOf(parts))
    })

    test('writing past EOF leaves a hole of zeros', async () => {
      const p = tmp()
      const data = rnd(10)
      await withHandle(p, 'w', async (fh) => {
        expect(await fh.write(data, 100)).toBe(10)
        expect(await fh.size()).toBe(110)
      })
      expectFile(p, Buffer.concat([Buffer.alloc(100), data]))
    })

    test('100 concurrent positional writes all land', async () => {
      const p = tmp()
      const chunks = Array.from({ length: 100 }, () => rnd(1000))
      await withHandle(p, 'w', async (fh) => {
        const n = await Promise.all(chunks.map((c, i) => fh.write(c, i * 1000)))
        expect(n).toEqual(chunks.map(() => 1000))
      })
      expectFile(p, Buffer.concat(chunks))
    })

    test('bad data throws ABIO_ERR_INVALID_ARG synchronously', async () => {
      await withHandle(tmp(), 'w', async (fh) => {
        for (const [, make] of BAD_DATA.filter(([n]) => !n.startsWith('an array')))
          expectInvalidArg(() => fh.write(make(), 0))
        expectInvalidArg(() => fh.write('x', -1), NUM)
      })
    })
  })

  describe('writev', () => {
    test('writes every kind of part in order at a position and returns the total', async () => {
      const original = rnd(20)
      const p = fileWith(original)
      const parts = allKinds()
      const bytes = bytesOf(parts)
      await withHandle(p, 'r+', async (fh) => {
        expect(await fh.writev(parts, 5)).toBe(bytes.length)
      })
      expectFile(p, Buffer.concat([original.subarray(0, 5), bytes]))
    })

    test('without a position, continues at the current file position', async () => {
      const p = tmp()
      await withHandle(p, 'w', async (fh) => {
        expect(await fh.writev(['ab', 'cd'])).toBe(4)
        expect(await fh.writev([new Uint8Array([1]), 'e'])).toBe(2)
        expect(await fh.writev([])).toBe(0)
      })
      expectFile(p, Buffer.concat([Buffer.from('abcd'), Buffer.from([1]), Buffer.from('e')]))
    })

    test('bad parts throw ABIO_ERR_INVALID_ARG synchronously', async () => {
      await withHandle(tmp(), 'w', async (fh) => {
        expectInvalidArg(() => fh.writev('abc'))
        expectInvalidArg(() => fh.writev(['a', 1]))
        expectInvalidArg(() => fh.writev([detachedArrayBuffer()]))
      })
    })
  })

  describe('size, truncate, sync', () => {
    test('size follows writes and matches fs.statSync', async () => {
      const p = fileWith(rnd(123))
      await withHandle(p, 'r+', async (fh) => {
        expect(await fh.size()).toBe(123)
        await fh.write(rnd(10), 200)
        expect(await fh.size()).toBe(210)
        expect(fs.statSync(p).size).toBe(210)
      })
    })

    test('truncate shrinks and extends with zeros', async () => {
      const whole = rnd(100)
      const p = fileWith(whole)
      await withHandle(p, 'r+', async (fh) => {
        expect(await fh.truncate(40)).toBeUndefined()
        expect(await fh.size()).toBe(40)
        expectFile(p, whole.subarray(0, 40))
        await fh.truncate(60)
        expectFile(p, Buffer.concat([whole.subarray(0, 40), Buffer.alloc(20)]))
        await fh.truncate(0)
        expect(fs.statSync(p).size).toBe(0)
        expectInvalidArg(() => fh.truncate(-1), NUM)
      })
    })

    test('sync resolves to undefined and the data is there', async () => {
      const p = tmp()
      await withHandle(p, 'w', async (fh) => {
        await fh.write('synced')
        expect(await fh.sync()).toBeUndefined()
        expectFile(p, Buffer.from('synced'))
      })
    })
  })

  describe('close', () => {
    test('is idempotent', async () => {
      const fh = await abio.open(fileWith('x'), 'r')
      expect(await fh.close()).toBeUndefined()
      expect(await fh.close()).toBeUndefined()
    })

    test('concurrent closes both resolve', async () => {
      const fh = await abio.open(fileWith('x'), 'r')
      await expect(Promise.all([fh.close(), fh.close()])).resolves.toEqual([undefined, undefined])
    })

    test.each([
      ['read', (fh) => fh.read(0, 1)],
      ['readInto', (fh) => fh.readInto(new Uint8Array(1), 0)],
      ['write', (fh) => fh.write('x', 0)],
      ['writev', (fh) => fh.writev(['x'], 0)],
      ['size', (fh) => fh.size()],
      ['truncate', (fh) => fh.truncate(0)],
      ['sync', (fh) => fh.sync()],
    ])('%s after close rejects with ABIO_ERR_CLOSED', async (_n, call) => {
      const p = fileWith('content')
      const fh = await abio.open(p, 'r+')
      await fh.close()
      const err = await rejectionOf(call(fh))
      expect(err.code).toBe('ABIO_ERR_CLOSED')
      expectFile(p, Buffer.from('content'))
    })

    test('closing does not close a file descriptor reused by a later open', async () => {
      const a = await abio.open(fileWith('aaa'), 'r')
      await a.close()
      const bWhole = rnd(10)
      const b = await abio.open(fileWith(bWhole), 'r')
      try {
        await a.close()
        expectArrayBuffer(await b.read(0, 10), bWhole)
      } finally {
        await b.close()
      }
    })
  })
})

describe('toArrayBuffer', () => {
  test('returns the same ArrayBuffer for an ArrayBuffer', () => {
    const a = ab(10)
    expect(abio.toArrayBuffer(a)).toBe(a)
  })

  test.each([
    ['a Uint8Array', (a) => new Uint8Array(a)],
    ['a Float64Array', (a) => new Float64Array(a)],
    ['a DataView', (a) => new DataView(a)],
    ['a Buffer', (a) => Buffer.from(a)],
  ])('returns the underlying ArrayBuffer for %s spanning it whole', (_n, make) => {
    const a = ab(32)
    expect(abio.toArrayBuffer(make(a))).toBe(a)
  })

  test.each([
    ['a Buffer slice of the shared pool', () => poolSlice('pool bytes ' + rnd(4).toString('hex'))],
    ['a Uint16Array at an offset', () => new Uint16Array(ab(64), 6, 10)],
    ['a DataView at an offset', () => new DataView(ab(64), 5, 7)],
    ['a view of the start of a buffer', () => new Uint8Array(ab(64), 0, 10)],
    ['a zero-length view at an offset', () => new Uint8Array(ab(16), 4, 0)],
  ])('copies exactly the bytes of %s', (_n, make) => {
    const v = make()
    const expected = bytesOf(v)
    const out = abio.toArrayBuffer(v)
    expectArrayBuffer(out, expected)
    expect(out).not.toBe(v.buffer)
    // a copy: changing the source does not change the result
    if (v.byteLength > 0) {
      view(v)[0] ^= 0xff
      expectBytes(out, expected)
    }
  })

  test.each([
    ['a SharedArrayBuffer', () => sab(24)],
    ['a Uint8Array over a whole SharedArrayBuffer', () => new Uint8Array(sab(24))],
  ])('turns %s into an ArrayBuffer with its bytes', (_n, make) => {
    const s = make()
    expectArrayBuffer(abio.toArrayBuffer(s), bytesOf(s))
  })

  test.each([
    ['a string', () => 'abc'],
    ['a number', () => 1],
    ['null', () => null],
    ['undefined', () => undefined],
    ['a plain object', () => ({})],
    ['a detached ArrayBuffer', () => detachedArrayBuffer()],
  ])('throws ABIO_ERR_INVALID_ARG for %s', (_n, make) => {
    expectInvalidArg(() => abio.toArrayBuffer(make()))
  })
})

describe('toBuffer', () => {
  function expectSameMemory(buf, src) {
    expect(Buffer.isBuffer(buf)).toBe(true)
    const s = view(src)
    expect(buf.length).toBe(s.length)
    expect(buf.buffer).toBe(ArrayBuffer.isView(src) ? src.buffer : src)
    expect(buf.byteOffset).toBe(ArrayBuffer.isView(src) ? src.byteOffset : 0)
    expectBytes(buf, s)
    if (s.length > 1) {
      buf[0] ^= 0xff
      expect(s[0]).toBe(buf[0])
      s[s.length - 1] ^= 0x0f
      expect(buf[s.length - 1]).toBe(s[s.length - 1])
    }
  }

  test.each([
    ['an ArrayBuffer', () => ab(20)],
    ['a SharedArrayBuffer', () => sab(20)],
    ['a Float32Array at an offset', () => new Float32Array(ab(64), 8, 6)],
    ['a DataView at an odd offset', () => new DataView(ab(64), 3, 17)],
    ['a Uint8Array over a SharedArrayBuffer at an offset', () => new Uint8Array(sab(40), 10, 20)],
    ['a Buffer slice of the shared pool', () => poolSlice('pool me ' + rnd(4).toString('hex'))],
    ['a BigInt64Array', () => new BigInt64Array(ab(32))],
    ['an empty ArrayBuffer', () => new ArrayBuffer(0)],
    ['a zero-length view at an offset', () => new Uint8Array(ab(8), 4, 0)],
  ])('is a zero-copy Buffer over %s', (_n, make) => {
    const src = make()
    expectSameMemory(abio.toBuffer(src), src)
  })

  test.each([
    ['a string', () => 'abc'],
    ['a number', () => 1],
    ['null', () => null],
    ['a plain object', () => ({})],
    ['a detached ArrayBuffer', () => detachedArrayBuffer()],
  ])('throws ABIO_ERR_INVALID_ARG for %s', (_n, make) => {
    expectInvalidArg(() => abio.toBuffer(make()))
  })
})
