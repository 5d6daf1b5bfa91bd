'use strict'
// Tests for abio's file API (design.md sections 2-4): readFileSync, readFile, large and
// sparse files, readFileInto.
// Inputs, checks and how expected bytes are computed: helpers/fs.js.

const fs = require('fs')
const path = require('path')

const abio = require('..')
const { poolSlice } = require('./helpers/inputs')
const { bufferOver: view, expectBytes } = require('./helpers/bytes')
const { syncThrowOf: thrownBy, rejectionOf, expectInvalidArg, tag } = require('./helpers/throws')
const { useTempDir, tmpDir, tmp, freshDir } = require('./helpers/tmpdir')
const { rnd, fileWith, expectArrayBuffer, expectLikeNode, expectLikeNodeWithPath } = require('./helpers/fs')
const { nodeErrorOf, BAD_PATHS, NUM, BAD_READ_OPTIONS } = require('./helpers/fs')

jest.setTimeout(20000)

useTempDir('abio-')

describe('readFileSync', () => {
  test.each([0, 1, 1023, 1024, 1025, 4096, 65537, (1 << 20) + 3])(
    'reads a %i-byte file into an exact ArrayBuffer',
    (n) => {
      const p = fileWith(rnd(n))
      expectArrayBuffer(abio.readFileSync(p), fs.readFileSync(p))
    },
  )

  test('reads a file whose stat size is 0 but has content (/proc) to its end, like Node', () => {
    expectArrayBuffer(abio.readFileSync('/proc/version'), fs.readFileSync('/proc/version'))
  })

  const SLICES = [
    ['offset only', { offset: 100 }],
    ['length only', { length: 100 }],
    ['offset and length', { offset: 10, length: 20 }],
    ['length 0', { offset: 5, length: 0 }],
    ['offset at EOF', { offset: 1000 }],
    ['offset beyond EOF', { offset: 5000 }],
    ['offset beyond EOF with length', { offset: 5000, length: 10 }],
    ['length beyond EOF (short)', { offset: 990, length: 100 }],
    ['length much larger than the file', { length: 1 << 30 }],
  ]
  test.each(SLICES)('%s returns the matching slice', (_n, opts) => {
    const whole = rnd(1000)
    const p = fileWith(whole)
    const start = opts.offset ?? 0
    const end = opts.length === undefined ? whole.length : start + opts.length
    expectArrayBuffer(abio.readFileSync(p, opts), whole.subarray(start, end))
  })

  test('maxSize: a file of exactly maxSize reads, one byte more is ABIO_ERR_FILE_TOO_LARGE', () => {
    const p = fileWith(rnd(100))
    expectArrayBuffer(abio.readFileSync(p, { maxSize: 100 }), fs.readFileSync(p))
    const err = thrownBy(() => abio.readFileSync(p, { maxSize: 99 }))
    expect(err.name).toBe('RangeError')
    expect(err.code).toBe('ABIO_ERR_FILE_TOO_LARGE')
    expect(abio.readFileSync(fileWith(''), { maxSize: 0 }).byteLength).toBe(0)
  })

  test('a missing file fails with ENOENT exactly like Node', () => {
    const p = path.join(tmpDir(), 'missing-file')
    expectLikeNode(
      thrownBy(() => abio.readFileSync(p)),
      nodeErrorOf(() => fs.readFileSync(p)),
    )
  })

  // Node leaves `path` out here (its read happens on an fd); abio names the path, as
  // design.md asks ("path where there is one"). Everything else is Node's.
  test('a directory fails with EISDIR (syscall read) like Node, with the path added', () => {
    const d = freshDir()
    const err = thrownBy(() => abio.readFileSync(d))
    expect(err.syscall).toBe('read')
    expectLikeNodeWithPath(
      err,
      nodeErrorOf(() => fs.readFileSync(d)),
      d,
    )
  })

  describe('invalid arguments throw with code ABIO_ERR_INVALID_ARG', () => {
    test.each(BAD_PATHS)('path: %s', (_n, make) => {
      expectInvalidArg(() => abio.readFileSync(make()))
    })
    test.each(BAD_READ_OPTIONS)('options: %s', (_n, opts, names) => {
      const p = fileWith('abc')
      expectInvalidArg(() => abio.readFileSync(p, opts), names)
    })
  })
})

describe('readFile', () => {
  test.each([0, 1, 1023, 1024, 1025, 4096, 65537, (1 << 20) + 3])(
    'reads a %i-byte file into an exact ArrayBuffer',
    async (n) => {
      const p = fileWith(rnd(n))
      expectArrayBuffer(await abio.readFile(p), fs.readFileSync(p))
    },
  )

  test('returns a promise', async () => {
    const ret = abio.readFile(fileWith('x'))
    expect(typeof ret.then).toBe('function')
    expectArrayBuffer(await ret, Buffer.from('x'))
  })

  test('reads a file whose stat size is 0 but has content (/proc) to its end, like Node', async () => {
    expectArrayBuffer(await abio.readFile('/proc/version'), fs.readFileSync('/proc/version'))
  })

  test('the result is independent memory: two reads of one file are different ArrayBuffers', async () => {
    const p = fileWith(rnd(5000))
    const [a, b] = await Promise.all([abio.readFile(p), abio.readFile(p)])
    expect(a).not.toBe(b)
    new Uint8Array(a)[0] ^= 0xff
    expectBytes(b, fs.readFileSync(p))
  })

  test('200 concurrent reads of different files', async () => {
    const datas = Array.from({ length: 200 }, (_, i) => rnd((i * 997) % 20000))
    const paths = datas.map((d) => fileWith(d, 'c'))
    const out = await Promise.all(paths.map((p) => abio.readFile(p)))
    out.forEach((x, i) => expectArrayBuffer(x, datas[i]))
  })

  test.each([
    ['offset only', { offset: 100 }],
    ['length only', { length: 100 }],
    ['offset and length', { offset: 10, length: 20 }],
    ['length 0', { length: 0 }],
    ['offset at EOF', { offset: 1000 }],
    ['offset beyond EOF', { offset: 5000 }],
    ['length beyond EOF (short)', { offset: 990, length: 100 }],
  ])('%s returns the matching slice', async (_n, opts) => {
    const whole = rnd(1000)
    const p = fileWith(whole)
    const start = opts.offset ?? 0
    const end = opts.length === undefined ? whole.length : start + opts.length
    expectArrayBuffer(await abio.readFile(p, opts), whole.subarray(start, end))
  })

  test('maxSize rejects a larger file with a RangeError ABIO_ERR_FILE_TOO_LARGE', async () => {
    const p = fileWith(rnd(4097))
    const err = await rejectionOf(abio.readFile(p, { maxSize: 4096 }))
    expect(err.name).toBe('RangeError')
    expect(err.code).toBe('ABIO_ERR_FILE_TOO_LARGE')
    expectArrayBuffer(await abio.readFile(p, { maxSize: 4097 }), fs.readFileSync(p))
  })

  test('a missing file rejects with ENOENT exactly like Node', async () => {
    const p = path.join(tmpDir(), 'missing-file')
    expectLikeNode(
      await rejectionOf(abio.readFile(p)),
      nodeErrorOf(() => fs.readFileSync(p)),
    )
  })

  test('a directory rejects with EISDIR (syscall read) like Node, with the path added', async () => {
    const d = freshDir()
    expectLikeNodeWithPath(
      await rejectionOf(abio.readFile(d)),
      nodeErrorOf(() => fs.readFileSync(d)),
      d,
    )
  })

  describe('invalid arguments throw synchronously with code ABIO_ERR_INVALID_ARG', () => {
    test.each(BAD_PATHS)('path: %s', (_n, make) => {
      expectInvalidArg(() => abio.readFile(make()))
    })
    test.each(BAD_READ_OPTIONS)('options: %s', (_n, opts, names) => {
      const p = fileWith('abc')
      expectInvalidArg(() => abio.readFile(p, opts), names)
    })
  })
})

describe('large and sparse files', () => {
  const GiB = 2 ** 30

  // Reading 2 GiB costs 5-10 s on the 2-core machines; ABIO_TEST_SKIP_BIG=1 skips it.
  const bigTest = process.env.ABIO_TEST_SKIP_BIG ? test.skip : test
  bigTest(
    'readFile of a file over 2 GiB returns every byte (sparse file, markers at the edges)',
    async () => {
      const size = 2 * GiB + 4097
      const p = tmp('big')
      const marks = [
        [0, rnd(16)],
        [2 ** 31 - 8, rnd(16)],
        [size - 16, rnd(16)],
      ]
      const fd = fs.openSync(p, 'w')
      try {
        fs.ftruncateSync(fd, size)
        for (const [pos, b] of marks) fs.writeSync(fd, b, 0, b.length, pos)
      } finally {
        fs.closeSync(fd)
      }
      let out = await abio.readFile(p)
      expect(tag(out)).toBe('[object ArrayBuffer]')
      expect(out.byteLength).toBe(size)
      const u8 = new Uint8Array(out)
      for (const [pos, b] of marks) expectBytes(u8.subarray(pos, pos + 16), b)
      expect(u8[GiB]).toBe(0)
      out = null
    },
    60000,
  )

  test('offsets beyond 4 GiB work in readFile, readFileSync, readFileInto and FileHandle.read', async () => {
    const pos = 2 ** 32 + 10
    const mark = rnd(32)
    const p = tmp('sparse')
    const fd = fs.openSync(p, 'w')
    try {
      fs.ftruncateSync(fd, pos + 100)
      fs.writeSync(fd, mark, 0, mark.length, pos)
    } finally {
      fs.closeSync(fd)
    }
    expectArrayBuffer(await abio.readFile(p, { offset: pos, length: 32 }), mark)
    expectArrayBuffer(abio.readFileSync(p, { offset: pos, length: 32 }), mark)
    const target = new Uint8Array(32)
    expect(await abio.readFileInto(p, target, { position: pos })).toBe(32)
    expectBytes(target, mark)
    const fh = await abio.open(p, 'r+')
    try {
      expect(await fh.size()).toBe(pos + 100)
      expectArrayBuffer(await fh.read(pos, 32), mark)
      const w = rnd(8)
      expect(await fh.write(w, pos + 50)).toBe(8)
      expectArrayBuffer(await fh.read(pos + 50, 8), w)
    } finally {
      await fh.close()
    }
  })
})

describe('readFileInto', () => {
  test('reads from position into a view at a non-zero byteOffset; bytes outside the view are untouched', async () => {
    const whole = rnd(200)
    const p = fileWith(whole)
    const backing = Buffer.alloc(64, 0xaa)
    const target = new Uint8Array(backing.buffer, backing.byteOffset + 16, 20)
    const before = Buffer.from(backing)
    expect(await abio.readFileInto(p, target, { position: 5 })).toBe(20)
    expectBytes(backing.subarray(16, 36), whole.subarray(5, 25))
    expectBytes(backing.subarray(0, 16), before.subarray(0, 16))
    expectBytes(backing.subarray(36), before.subarray(36))
  })

  test('position defaults to 0', async () => {
    const whole = rnd(100)
    const p = fileWith(whole)
    const target = new Uint8Array(30)
    expect(await abio.readFileInto(p, target)).toBe(30)
    expectBytes(target, whole.subarray(0, 30))
  })

  test('a target larger than the file gets the whole file and the count', async () => {
    const whole = rnd(100)
    const p = fileWith(whole)
    const target = Buffer.alloc(300, 7)
    expect(await abio.readFileInto(p, target)).toBe(100)
    expectBytes(target.subarray(0, 100), whole)
    expectBytes(target.subarray(100), Buffer.alloc(200, 7))
  })

  test('near EOF it reads short and leaves the rest of the target untouched', async () => {
    const whole = rnd(100)
    const p = fileWith(whole)
    const target = Buffer.alloc(50, 0x55)
    expect(await abio.readFileInto(p, target, { position: 80 })).toBe(20)
    expectBytes(target.subarray(0, 20), whole.subarray(80))
    expectBytes(target.subarray(20), Buffer.alloc(30, 0x55))
  })

  test('at or beyond EOF it reads 0 bytes and leaves the target untouched', async () => {
    const p = fileWith(rnd(100))
    const target = Buffer.alloc(10, 0x33)
    expect(await abio.readFileInto(p, target, { position: 100 })).toBe(0)
    expect(await abio.readFileInto(p, target, { position: 1000 })).toBe(0)
    expectBytes(target, Buffer.alloc(10, 0x33))
  })

  test('a zero-length target reads 0 bytes', async () => {
    const p = fileWith(rnd(100))
    expect(await abio.readFileInto(p, new Uint8Array(0))).toBe(0)
  })

  test.each([
    ['a Float64Array at byteOffset 8', () => new Float64Array(new ArrayBuffer(80), 8, 5)],
    ['a DataView at an odd offset', () => new DataView(new ArrayBuffer(64), 3, 40)],
    ['a Buffer slice of the shared pool', () => poolSlice('x'.repeat(40))],
    ['a Uint8Array over a SharedArrayBuffer at an offset', () => new Uint8Array(new SharedArrayBuffer(64), 9, 40)],
    ['a BigUint64Array', () => new BigUint64Array(5)],
  ])('fills %s exactly', async (_n, make) => {
    const whole = rnd(500)
    const p = fileWith(whole)
    const target = make()
    const all = view(new Uint8Array(target.buffer))
    const before = Buffer.from(all)
    expect(await abio.readFileInto(p, target, { position: 3 })).toBe(target.byteLength)
    expectBytes(view(target), whole.subarray(3, 3 + target.byteLength))
    const end = target.byteOffset + target.byteLength
    expectBytes(all.subarray(0, target.byteOffset), before.subarray(0, target.byteOffset))
    expectBytes(all.subarray(end), before.subarray(end))
  })

  test('a missing file rejects with ENOENT exactly like Node', async () => {
    const p = path.join(tmpDir(), 'missing-into')
    expectLikeNode(
      await rejectionOf(abio.readFileInto(p, new Uint8Array(4))),
      nodeErrorOf(() => fs.readFileSync(p)),
    )
  })

  describe('invalid arguments throw synchronously with code ABIO_ERR_INVALID_ARG', () => {
    test.each(BAD_PATHS)('path: %s', (_n, make) => {
      expectInvalidArg(() => abio.readFileInto(make(), new Uint8Array(4)))
    })
    test.each([
      ['a string', () => 'abc'],
      ['a number', () => 8],
      ['null', () => null],
      ['undefined', () => undefined],
      ['a plain object', () => ({ byteLength: 4 })],
    ])('target: %s', (_n, make) => {
      const p = fileWith('abc')
      expectInvalidArg(() => abio.readFileInto(p, make()))
    })
    test.each([
      ['negative', -1, NUM],
      ['non-integer', 0.5, NUM],
      ['a string', '1', ['TypeError']],
    ])('position: %s', (_n, position, names) => {
      const p = fileWith('abc')
      expectInvalidArg(() => abio.readFileInto(p, new Uint8Array(4), { position }), names)
    })
  })
})
