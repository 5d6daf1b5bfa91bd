'use strict'

// Tests for abio's file API (design.md sections 2-4): writeFileSync, writeFile,
// writeFiles, readFileSync, readFile, readFileInto, readFiles, open/FileHandle,
// toArrayBuffer, toBuffer, errors and AbortSignal.
//
// Every expected byte sequence is computed from the input (or from Node's own
// fs on the same file), never hard-coded. Jest runs this file in its own realm,
// so ArrayBuffers are recognised by their tag, not by `instanceof`.

const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')

const abio = require('..')
const { ab, sab, poolSlice, detachedArrayBuffer } = require('./helpers/inputs')
const { bufferOver: view, expectBytes } = require('./helpers/bytes')
const { syncThrowOf: thrownBy, rejectionOf, expectInvalidArg, tag } = require('./helpers/throws')

jest.setTimeout(20000)

// ---------------------------------------------------------------------------
// helpers

let dir
let seq = 0
/** A fresh path inside this file's temp directory (the file does not exist). */
const tmp = (name = 'f') => path.join(dir, `${name}-${++seq}`)
/** A fresh, empty sub-directory. */
const freshDir = (name = 'd') => {
  const d = tmp(name)
  fs.mkdirSync(d)
  return d
}

beforeAll(() => {
  dir = fs.mkdtempSync(os.tmpdir() + '/abio-')
})
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

const rnd = (n) => crypto.randomBytes(n)
/** A file with `buf` as content, at a fresh path. */
function fileWith(buf, name = 'src') {
  const p = tmp(name)
  fs.writeFileSync(p, buf)
  return p
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

/** x is a real ArrayBuffer (any realm) holding exactly `expected`. */
function expectArrayBuffer(x, expected) {
  expect(tag(x)).toBe('[object ArrayBuffer]')
  expect(x.byteLength).toBe(view(expected).length)
  expectBytes(x, expected)
}
function expectFile(p, expected) {
  expectBytes(fs.readFileSync(p), expected)
}
const modeOf = (p) => fs.statSync(p).mode & 0o777

const pick = (e) => ({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message })
/** `err` has the code, errno, syscall, path and message Node gives in `nodeErr`. */
function expectLikeNode(err, nodeErr) {
  expect(tag(err)).toBe('[object Error]')
  expect(pick(err)).toEqual(pick(nodeErr))
  expect(err.errno).toBe(-os.constants.errno[err.code])
}
/** Like `expectLikeNode` for errors where Node omits the path: abio adds it, and quotes it in the message. */
function expectLikeNodeWithPath(err, nodeErr, p) {
  expect(nodeErr.path).toBeUndefined()
  expectLikeNode(err, Object.assign(nodeErr, { path: p, message: `${nodeErr.message} '${p}'` }))
}

function nodeErrorOf(fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('Node did not fail')
}
function expectAbortError(e) {
  expect(e.name).toBe('AbortError')
  expect(e.code).toBe('ABORT_ERR')
}
function withUmask(mask, fn) {
  const old = process.umask(mask)
  try {
    return fn()
  } finally {
    process.umask(old)
  }
}
async function withUmaskAsync(mask, fn) {
  const old = process.umask(mask)
  try {
    return await fn()
  } finally {
    process.umask(old)
  }
}
function aborted() {
  const ac = new AbortController()
  ac.abort()
  return ac.signal
}

// ---------------------------------------------------------------------------
// inputs: every kind of Data, each made fresh per use

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
const KINDS = [
  ['an ArrayBuffer', () => ab(37)],
  ['an empty ArrayBuffer', () => new ArrayBuffer(0)],
  ['a SharedArrayBuffer', () => sab(41)],
  ['a Uint8Array over a SharedArrayBuffer at an offset', () => new Uint8Array(sab(64), 5, 30)],
  ['a Buffer', () => rnd(3000)],
  ['a Buffer slice of the shared pool', () => poolSlice('pooled ☃ ' + rnd(8).toString('hex'))],
  ['a Buffer.subarray at an odd offset', () => rnd(100).subarray(13, 77)],
  ...TYPED.flatMap((T) => [
    [`a whole ${T.name}`, () => new T(ab(48))],
    [`a ${T.name} at byteOffset 16`, () => new T(ab(96), 16, 40 / T.BYTES_PER_ELEMENT)],
  ]),
  ['a Uint8Array at an odd byteOffset', () => new Uint8Array(ab(50), 7, 31)],
  ['an Int16Array at byteOffset 2', () => new Int16Array(ab(50), 2, 9)],
  ['a whole DataView', () => new DataView(ab(29))],
  ['a DataView at an offset', () => new DataView(ab(64), 11, 23)],
  ['a zero-length Uint8Array at an offset', () => new Uint8Array(ab(16), 8, 0)],
  ['an ASCII string', () => 'hello, abio\n'],
  ['a string with multibyte characters', () => 'héllo wörld € 日本語 𝄞 🎉'],
  ['a string with lone surrogates', () => 'a\uD800b\uDFFFc\uD83D'],
  ['an empty string', () => ''],
]
const allKinds = () => KINDS.map(([, make]) => make())

const BAD_PATHS = [
  ['a number', () => 1],
  ['null', () => null],
  ['undefined', () => undefined],
  ['a plain object', () => ({})],
  ['a path with a NUL byte', () => path.join(dir, 'a\0b')],
]
const BAD_DATA = [
  ['a number', () => 42],
  ['a boolean', () => true],
  ['null', () => null],
  ['undefined', () => undefined],
  ['a plain object', () => ({ length: 3 })],
  ['a detached ArrayBuffer', () => detachedArrayBuffer()],
  ['an array holding a number', () => ['ok', 5]],
  ['an array holding a detached ArrayBuffer', () => ['ok', detachedArrayBuffer()]],
]
const NUM = ['TypeError', 'RangeError']
const BAD_WRITE_OPTIONS = [
  ['append and atomic together', { append: true, atomic: true }, ['TypeError']],
  ['a string mode', { mode: 'rw' }, ['TypeError']],
  ['a negative mode', { mode: -1 }, NUM],
  ['a non-integer mode', { mode: 1.5 }, NUM],
  ['a signal that is not an AbortSignal', { signal: 5 }, ['TypeError']],
]
const BAD_READ_OPTIONS = [
  ['a negative offset', { offset: -1 }, NUM],
  ['a non-integer offset', { offset: 1.5 }, NUM],
  ['a NaN offset', { offset: NaN }, NUM],
  ['a string offset', { offset: '1' }, ['TypeError']],
  ['a negative length', { length: -1 }, NUM],
  ['a non-integer length', { length: 2.5 }, NUM],
  ['a negative maxSize', { maxSize: -1 }, NUM],
  ['a signal that is not an AbortSignal', { signal: 'stop' }, ['TypeError']],
]

// ---------------------------------------------------------------------------

describe('writeFileSync', () => {
  test.each(KINDS)('writes %s byte for byte and returns the byte count', (_name, make) => {
    const data = make()
    const expected = bytesOf(data)
    const p = tmp()
    expect(abio.writeFileSync(p, data)).toBe(expected.length)
    expectFile(p, expected)
  })

  test('writes an array of parts of every kind, in order', () => {
    const parts = allKinds()
    const expected = bytesOf(parts)
    const p = tmp()
    expect(abio.writeFileSync(p, parts)).toBe(expected.length)
    expectFile(p, expected)
  })

  test('an empty array of parts writes an empty file', () => {
    const p = tmp()
    expect(abio.writeFileSync(p, [])).toBe(0)
    expect(fs.statSync(p).size).toBe(0)
  })

  test('returns the UTF-8 byte count of a string, not its length', () => {
    const s = '€𝄞é'
    const p = tmp()
    expect(abio.writeFileSync(p, s)).toBe(Buffer.byteLength(s))
    expect(Buffer.byteLength(s)).not.toBe(s.length)
  })

  test('overwriting a longer file with shorter data leaves exactly the new data', () => {
    const p = fileWith(rnd(100000))
    for (const data of [rnd(5000), 'short', rnd(4096), new Uint8Array(0), [rnd(10), 'x']]) {
      abio.writeFileSync(p, data)
      expectFile(p, bytesOf(data))
    }
  })

  test('repeated overwrites of one file, growing and shrinking', () => {
    const p = tmp()
    for (const n of [4096, 1, 70000, 4095, 0, 4097, 12, 1 << 20, 3]) {
      const data = rnd(n)
      expect(abio.writeFileSync(p, data)).toBe(n)
      expect(fs.statSync(p).size).toBe(n)
      expectFile(p, data)
    }
  })

  test('a missing parent directory fails with ENOENT exactly like Node', () => {
    const p = path.join(dir, 'no-such-dir', 'f')
    const err = thrownBy(() => abio.writeFileSync(p, 'x'))
    expectLikeNode(
      err,
      nodeErrorOf(() => fs.writeFileSync(p, 'x')),
    )
    expect(fs.existsSync(path.dirname(p))).toBe(false)
  })

  test('writing to a directory fails with EISDIR exactly like Node', () => {
    const d = freshDir()
    const err = thrownBy(() => abio.writeFileSync(d, 'x'))
    expectLikeNode(
      err,
      nodeErrorOf(() => fs.writeFileSync(d, 'x')),
    )
  })

  describe('append', () => {
    test('appends to an existing file and returns the appended byte count', () => {
      const first = rnd(1000)
      const p = fileWith(first)
      const more = new Float64Array(ab(80), 8, 4)
      expect(abio.writeFileSync(p, more, { append: true })).toBe(32)
      expect(abio.writeFileSync(p, ['a', 'bc'], { append: true })).toBe(3)
      expectFile(p, Buffer.concat([first, bytesOf(more), Buffer.from('abc')]))
    })

    test('creates a missing file', () => {
      const p = tmp()
      abio.writeFileSync(p, 'hello', { append: true })
      expectFile(p, Buffer.from('hello'))
    })

    test('append: false overwrites', () => {
      const p = fileWith(rnd(100))
      abio.writeFileSync(p, 'new', { append: false })
      expectFile(p, Buffer.from('new'))
    })
  })

  describe('atomic', () => {
    test('replaces the content, keeps the old mode and leaves no temp file', () => {
      withUmask(0o022, () => {
        const d = freshDir()
        const p = path.join(d, 'target')
        fs.writeFileSync(p, rnd(50000))
        fs.chmodSync(p, 0o640)
        const data = [rnd(100), 'tail']
        expect(abio.writeFileSync(p, data, { atomic: true })).toBe(104)
        expectFile(p, bytesOf(data))
        expect(modeOf(p)).toBe(0o640)
        expect(fs.readdirSync(d)).toEqual(['target'])
      })
    })

    test('replaces the file rather than writing into it: an fd on the old file still reads the old bytes', () => {
      const old = rnd(3000)
      const p = fileWith(old)
      const fd = fs.openSync(p, 'r')
      try {
        const data = rnd(2000)
        abio.writeFileSync(p, data, { atomic: true })
        expectFile(p, data)
        const seen = Buffer.alloc(old.length)
        expect(fs.readSync(fd, seen, 0, old.length, 0)).toBe(old.length)
        expectBytes(seen, old)
      } finally {
        fs.closeSync(fd)
      }
    })

    test('with mode, the new mode replaces the old one', () => {
      withUmask(0o022, () => {
        const p = fileWith('old')
        fs.chmodSync(p, 0o644)
        abio.writeFileSync(p, 'new', { atomic: true, mode: 0o600 })
        expect(modeOf(p)).toBe(0o600)
        expectFile(p, Buffer.from('new'))
      })
    })

    test('a new file gets 0o666 & ~umask, like a plain write', () => {
      withUmask(0o022, () => {
        const d = freshDir()
        const p = path.join(d, 'new')
        abio.writeFileSync(p, 'x', { atomic: true })
        expect(modeOf(p)).toBe(0o644)
        expect(fs.readdirSync(d)).toEqual(['new'])
      })
    })

    test('a failed atomic write (target is a directory) leaves it intact and no temp file', () => {
      const d = freshDir()
      const target = path.join(d, 'sub')
      fs.mkdirSync(target)
      fs.writeFileSync(path.join(target, 'inner'), 'keep')
      const err = thrownBy(() => abio.writeFileSync(target, rnd(100), { atomic: true }))
      expect(typeof err.code).toBe('string')
      expect(err.code.startsWith('E')).toBe(true)
      expect(fs.readdirSync(d)).toEqual(['sub'])
      expect(fs.readFileSync(path.join(target, 'inner'), 'utf8')).toBe('keep')
    })

    test('atomic with a zero-length array of parts empties the file', () => {
      const p = fileWith(rnd(10))
      expect(abio.writeFileSync(p, [], { atomic: true })).toBe(0)
      expect(fs.statSync(p).size).toBe(0)
    })
  })

  test('durable writes the data, alone and with atomic', () => {
    const p = fileWith(rnd(9000))
    const a = rnd(100)
    expect(abio.writeFileSync(p, a, { durable: true })).toBe(100)
    expectFile(p, a)
    const b = new Uint16Array(ab(64), 2, 7)
    expect(abio.writeFileSync(p, b, { durable: true, atomic: true })).toBe(14)
    expectFile(p, bytesOf(b))
    abio.writeFileSync(p, 'z', { durable: true, append: true })
    expectFile(p, Buffer.concat([bytesOf(b), Buffer.from('z')]))
  })

  describe('mode', () => {
    test('applies to a new file through the umask', () => {
      withUmask(0o027, () => {
        const p = tmp()
        abio.writeFileSync(p, 'x', { mode: 0o666 })
        expect(modeOf(p)).toBe(0o640)
      })
      withUmask(0o022, () => {
        const p = tmp()
        abio.writeFileSync(p, 'x', { mode: 0o750 })
        expect(modeOf(p)).toBe(0o750)
      })
    })

    test('defaults to 0o666 & ~umask', () => {
      withUmask(0o077, () => {
        const p = tmp()
        abio.writeFileSync(p, 'x')
        expect(modeOf(p)).toBe(0o600)
      })
      withUmask(0o002, () => {
        const p = tmp()
        abio.writeFileSync(p, 'x')
        expect(modeOf(p)).toBe(0o664)
      })
    })

    test('does not change the mode of an existing file (as Node)', () => {
      const p = fileWith('old')
      fs.chmodSync(p, 0o600)
      const nodeP = fileWith('old')
      fs.chmodSync(nodeP, 0o600)
      abio.writeFileSync(p, 'new', { mode: 0o644 })
      fs.writeFileSync(nodeP, 'new', { mode: 0o644 })
      expect(modeOf(p)).toBe(modeOf(nodeP))
      expectFile(p, Buffer.from('new'))
    })
  })

  describe('mkdirs', () => {
    test('creates missing nested parent directories', () => {
      const p = path.join(tmp('m'), 'a', 'b', 'c', 'file')
      const data = rnd(77)
      expect(abio.writeFileSync(p, data, { mkdirs: true })).toBe(77)
      expectFile(p, data)
    })

    test('is harmless when the parents exist', () => {
      const p = path.join(freshDir(), 'file')
      abio.writeFileSync(p, 'x', { mkdirs: true })
      expectFile(p, Buffer.from('x'))
    })

    test('works together with atomic', () => {
      const p = path.join(tmp('m'), 'x', 'file')
      abio.writeFileSync(p, 'atom', { mkdirs: true, atomic: true })
      expectFile(p, Buffer.from('atom'))
      expect(fs.readdirSync(path.dirname(p))).toEqual(['file'])
    })

    test('without it, a missing parent is ENOENT and nothing is created', () => {
      const top = tmp('m')
      const p = path.join(top, 'a', 'file')
      const err = thrownBy(() => abio.writeFileSync(p, 'x'))
      expect(err.code).toBe('ENOENT')
      expect(err.path).toBe(p)
      expect(fs.existsSync(top)).toBe(false)
    })
  })

  describe('invalid arguments throw with code ABIO_ERR_INVALID_ARG', () => {
    test.each(BAD_PATHS)('path: %s', (_n, make) => {
      expectInvalidArg(() => abio.writeFileSync(make(), 'x'))
    })
    test.each(BAD_DATA)('data: %s', (_n, make) => {
      const p = tmp()
      expectInvalidArg(() => abio.writeFileSync(p, make()))
      expect(fs.existsSync(p)).toBe(false)
    })
    test.each(BAD_WRITE_OPTIONS)('options: %s', (_n, opts, names) => {
      const p = tmp()
      expectInvalidArg(() => abio.writeFileSync(p, 'x', opts), names)
      expect(fs.existsSync(p)).toBe(false)
    })
  })
})

describe('writeFile', () => {
  test('returns a promise of the byte count', async () => {
    const p = tmp()
    const ret = abio.writeFile(p, 'abc')
    expect(typeof ret.then).toBe('function')
    await expect(ret).resolves.toBe(3)
  })

  test.each(KINDS)('writes %s byte for byte', async (_name, make) => {
    const data = make()
    const expected = bytesOf(data)
    const p = tmp()
    expect(await abio.writeFile(p, data)).toBe(expected.length)
    expectFile(p, expected)
  })

  test('writes an array of parts of every kind, in order', async () => {
    const parts = allKinds()
    const expected = bytesOf(parts)
    const p = tmp()
    expect(await abio.writeFile(p, parts)).toBe(expected.length)
    expectFile(p, expected)
  })

  test('an empty array of parts writes an empty file', async () => {
    const p = tmp()
    expect(await abio.writeFile(p, [])).toBe(0)
    expect(fs.statSync(p).size).toBe(0)
  })

  test('writes a 16 MiB Float32Array at an offset', async () => {
    const big = new Float32Array(ab((16 << 20) + 64), 64, 4 << 20)
    const p = tmp()
    expect(await abio.writeFile(p, big)).toBe(16 << 20)
    expectFile(p, bytesOf(big))
  })

  test('overwriting a longer file with shorter data leaves exactly the new data', async () => {
    const p = fileWith(rnd(100000))
    for (const data of [rnd(5000), 'short', new Uint8Array(0), [rnd(10), 'x'], rnd(4096)]) {
      await abio.writeFile(p, data)
      expectFile(p, bytesOf(data))
    }
  })

  test('many concurrent writes to different files all land', async () => {
    const datas = Array.from({ length: 200 }, (_, i) => rnd(i * 37))
    const paths = datas.map(() => tmp('c'))
    const counts = await Promise.all(datas.map((d, i) => abio.writeFile(paths[i], d)))
    expect(counts).toEqual(datas.map((d) => d.length))
    datas.forEach((d, i) => expectFile(paths[i], d))
  })

  test('a missing parent directory rejects with ENOENT exactly like Node', async () => {
    const p = path.join(dir, 'no-such-dir', 'g')
    const err = await rejectionOf(abio.writeFile(p, 'x'))
    expectLikeNode(
      err,
      nodeErrorOf(() => fs.writeFileSync(p, 'x')),
    )
  })

  test('append appends', async () => {
    const first = rnd(10)
    const p = fileWith(first)
    expect(await abio.writeFile(p, 'more', { append: true })).toBe(4)
    expectFile(p, Buffer.concat([first, Buffer.from('more')]))
  })

  test('atomic replaces, keeps the old mode and leaves no temp file', async () => {
    await withUmaskAsync(0o022, async () => {
      const d = freshDir()
      const p = path.join(d, 'target')
      fs.writeFileSync(p, rnd(20000))
      fs.chmodSync(p, 0o604)
      const data = new BigInt64Array(ab(64), 8, 3)
      expect(await abio.writeFile(p, data, { atomic: true, durable: true })).toBe(24)
      expectFile(p, bytesOf(data))
      expect(modeOf(p)).toBe(0o604)
      expect(fs.readdirSync(d)).toEqual(['target'])
    })
  })

  test('atomic with mode sets that mode', async () => {
    await withUmaskAsync(0o022, async () => {
      const p = fileWith('old')
      fs.chmodSync(p, 0o644)
      await abio.writeFile(p, 'new', { atomic: true, mode: 0o600 })
      expect(modeOf(p)).toBe(0o600)
    })
  })

  test('mode on a new file goes through the umask', async () => {
    await withUmaskAsync(0o027, async () => {
      const p = tmp()
      await abio.writeFile(p, 'x', { mode: 0o666 })
      expect(modeOf(p)).toBe(0o640)
    })
  })

  test('durable resolves after writing the data', async () => {
    const p = tmp()
    const data = rnd(5000)
    expect(await abio.writeFile(p, data, { durable: true })).toBe(5000)
    expectFile(p, data)
  })

  test('mkdirs creates nested parents', async () => {
    const p = path.join(tmp('m'), 'a', 'b', 'file')
    await abio.writeFile(p, 'deep', { mkdirs: true })
    expectFile(p, Buffer.from('deep'))
  })

  describe('invalid arguments throw synchronously with code ABIO_ERR_INVALID_ARG', () => {
    test.each(BAD_PATHS)('path: %s', (_n, make) => {
      expectInvalidArg(() => abio.writeFile(make(), 'x'))
    })
    test.each(BAD_DATA)('data: %s', (_n, make) => {
      expectInvalidArg(() => abio.writeFile(tmp(), make()))
    })
    test.each(BAD_WRITE_OPTIONS)('options: %s', (_n, opts, names) => {
      expectInvalidArg(() => abio.writeFile(tmp(), 'x', opts), names)
    })
  })
})

describe('writeFiles', () => {
  test('writes every kind of data, one entry each, and returns the byte counts in order', async () => {
    const d = freshDir()
    const entries = KINDS.map(([, make], i) => ({ path: path.join(d, `k${i}`), data: make() }))
    const expected = entries.map((e) => bytesOf(e.data))
    const counts = await abio.writeFiles(entries)
    expect(counts).toEqual(expected.map((b) => b.length))
    entries.forEach((e, i) => expectFile(e.path, expected[i]))
  })

  test('entries may hold arrays of parts, including empty ones', async () => {
    const d = freshDir()
    const entries = [
      { path: path.join(d, 'a'), data: allKinds() },
      { path: path.join(d, 'b'), data: [] },
      { path: path.join(d, 'c'), data: ['x', new Int32Array(ab(32), 4, 3), ''] },
    ]
    const expected = entries.map((e) => bytesOf(e.data))
    expect(await abio.writeFiles(entries)).toEqual(expected.map((b) => b.length))
    entries.forEach((e, i) => expectFile(e.path, expected[i]))
  })

  test('2000 files in one call, order preserved', async () => {
    const d = freshDir()
    const entries = Array.from({ length: 2000 }, (_, i) => ({
      path: path.join(d, `f${i}`),
      data: i % 3 === 0 ? `entry ${i}\n`.repeat(i % 41) : rnd((i * 131) % 9000),
    }))
    const expected = entries.map((e) => bytesOf(e.data))
    const counts = await abio.writeFiles(entries)
    expect(counts).toEqual(expected.map((b) => b.length))
    entries.forEach((e, i) => expectFile(e.path, expected[i]))
  })

  test('overwrites longer files with exactly the new data', async () => {
    const paths = [fileWith(rnd(10000)), fileWith(rnd(10000)), fileWith(rnd(10000))]
    const datas = [rnd(10), '', [rnd(3), rnd(4)]]
    await abio.writeFiles(paths.map((p, i) => ({ path: p, data: datas[i] })))
    paths.forEach((p, i) => expectFile(p, bytesOf(datas[i])))
  })

  test('an empty list resolves to an empty array', async () => {
    await expect(abio.writeFiles([])).resolves.toEqual([])
  })

  test('a bad path in the middle of 2000 rejects with its ENOENT (and path); the others are written', async () => {
    const d = freshDir()
    const entries = Array.from({ length: 2000 }, (_, i) => ({ path: path.join(d, `f${i}`), data: `n${i}` }))
    const bad = path.join(d, 'missing-dir', 'f1000')
    entries[1000].path = bad
    const err = await rejectionOf(abio.writeFiles(entries))
    expectLikeNode(
      err,
      nodeErrorOf(() => fs.writeFileSync(bad, 'x')),
    )
    entries.forEach((e, i) => {
      if (i !== 1000) expectFile(e.path, Buffer.from(`n${i}`))
    })
  })

  test('with several failures, rejects with the first failing entry in input order', async () => {
    const d = freshDir()
    const sub = path.join(d, 'is-a-dir')
    fs.mkdirSync(sub)
    const entries = Array.from({ length: 300 }, (_, i) => ({ path: path.join(d, `f${i}`), data: rnd(i) }))
    entries[299].path = sub // EISDIR, last in order
    entries[150].path = path.join(d, 'nope', 'x') // ENOENT, first in order
    entries[200].path = path.join(d, 'nope2', 'y')
    const err = await rejectionOf(abio.writeFiles(entries))
    expect(err.code).toBe('ENOENT')
    expect(err.path).toBe(entries[150].path)
    expect(fs.readdirSync(d).length).toBe(298) // 297 written + is-a-dir
  })

  test('options apply to every entry: mkdirs, append, atomic with mode', async () => {
    const base = tmp('m')
    const deep = [path.join(base, 'a', 'x'), path.join(base, 'b', 'c', 'y')]
    await abio.writeFiles(
      deep.map((p) => ({ path: p, data: p })),
      { mkdirs: true },
    )
    deep.forEach((p) => expectFile(p, Buffer.from(p)))

    await abio.writeFiles(
      deep.map((p) => ({ path: p, data: '+' })),
      { append: true },
    )
    deep.forEach((p) => expectFile(p, Buffer.from(p + '+')))

    await withUmaskAsync(0o022, async () => {
      await abio.writeFiles(
        deep.map((p) => ({ path: p, data: 'atomic' })),
        { atomic: true, mode: 0o600, durable: true },
      )
    })
    deep.forEach((p) => {
      expectFile(p, Buffer.from('atomic'))
      expect(modeOf(p)).toBe(0o600)
    })
    expect(fs.readdirSync(path.join(base, 'a'))).toEqual(['x'])
  })

  describe('invalid arguments throw synchronously with code ABIO_ERR_INVALID_ARG', () => {
    test.each([
      ['not an array', () => ({ path: 'x', data: 'y' })],
      ['a string', () => 'x'],
      ['null', () => null],
      ['an entry that is null', () => [null]],
      ['an entry without path', () => [{ data: 'x' }]],
      ['an entry with a number path', () => [{ path: 1, data: 'x' }]],
      ['an entry without data', () => [{ path: tmp() }]],
      ['an entry with a detached ArrayBuffer', () => [{ path: tmp(), data: detachedArrayBuffer() }]],
      [
        'a bad entry after a good one',
        () => [
          { path: tmp(), data: 'ok' },
          { path: tmp(), data: 7 },
        ],
      ],
    ])('entries: %s', (_n, make) => {
      expectInvalidArg(() => abio.writeFiles(make()))
    })
    test('append and atomic together', () => {
      expectInvalidArg(() => abio.writeFiles([{ path: tmp(), data: 'x' }], { append: true, atomic: true }))
    })
  })
})

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
    const p = path.join(dir, 'missing-file')
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
    const p = path.join(dir, 'missing-file')
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
    const p = path.join(dir, 'missing-into')
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

describe('readFiles', () => {
  describe('with 2000 files', () => {
    let datas
    let paths
    beforeAll(() => {
      const d = freshDir()
      datas = Array.from({ length: 2000 }, (_, i) => rnd((i * 211) % 6000))
      paths = datas.map((b, i) => {
        const p = path.join(d, `r${i}`)
        fs.writeFileSync(p, b)
        return p
      })
    })

    test('reads them in one call, in order, each an exact ArrayBuffer', async () => {
      const out = await abio.readFiles(paths)
      expect(out.length).toBe(2000)
      out.forEach((x, i) => expectArrayBuffer(x, datas[i]))
    })

    test('a missing path in the middle rejects with its ENOENT, like Node', async () => {
      const withBad = paths.slice()
      const bad = path.join(path.dirname(paths[0]), 'gone')
      withBad[1000] = bad
      expectLikeNode(
        await rejectionOf(abio.readFiles(withBad)),
        nodeErrorOf(() => fs.readFileSync(bad)),
      )
    })
  })

  test('the same path twice gives two independent ArrayBuffers', async () => {
    const p = fileWith(rnd(300))
    const [a, b] = await abio.readFiles([p, p])
    expect(a).not.toBe(b)
    new Uint8Array(a).fill(0)
    expectArrayBuffer(b, fs.readFileSync(p))
  })

  test('an empty list resolves to an empty array', async () => {
    await expect(abio.readFiles([])).resolves.toEqual([])
  })

  test('offset and length apply to every file', async () => {
    const datas = [rnd(100), rnd(5), rnd(0), rnd(30)]
    const paths = datas.map((b) => fileWith(b))
    const out = await abio.readFiles(paths, { offset: 3, length: 20 })
    out.forEach((x, i) => expectArrayBuffer(x, datas[i].subarray(3, 23)))
  })

  test('maxSize applies to every file', async () => {
    const small = fileWith(rnd(10))
    const large = fileWith(rnd(11))
    expect((await abio.readFiles([small, small], { maxSize: 10 })).length).toBe(2)
    const err = await rejectionOf(abio.readFiles([small, large, small], { maxSize: 10 }))
    expect(err.name).toBe('RangeError')
    expect(err.code).toBe('ABIO_ERR_FILE_TOO_LARGE')
  })

  test('with several failures, rejects with the first failing entry in input order', async () => {
    const d = freshDir()
    const sub = path.join(d, 'a-dir')
    fs.mkdirSync(sub)
    const paths = Array.from({ length: 300 }, (_, i) => fileWith(String(i)))
    paths[100] = sub // EISDIR first
    paths[50] = path.join(d, 'missing-a') // ENOENT before it
    paths[250] = path.join(d, 'missing-b')
    const err = await rejectionOf(abio.readFiles(paths))
    expect(err.code).toBe('ENOENT')
    expect(err.path).toBe(paths[50])
  })

  test('a directory entry rejects with EISDIR', async () => {
    const d = freshDir()
    const err = await rejectionOf(abio.readFiles([fileWith('x'), d]))
    expect(err.code).toBe('EISDIR')
  })

  describe('invalid arguments throw synchronously with code ABIO_ERR_INVALID_ARG', () => {
    test.each([
      ['a string', () => 'abc'],
      ['null', () => null],
      ['undefined', () => undefined],
      ['an array holding a number', () => [tmp(), 5]],
      ['an array holding null', () => [null]],
      ['an array holding a path with a NUL byte', () => ['a\0b']],
    ])('paths: %s', (_n, make) => {
      expectInvalidArg(() => abio.readFiles(make()))
    })
    test.each(BAD_READ_OPTIONS)('options: %s', (_n, opts, names) => {
      expectInvalidArg(() => abio.readFiles([fileWith('x')], opts), names)
    })
  })
})

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
      const p = path.join(dir, 'missing-open')
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
      expect((await rejectionOf(abio.open(path.join(dir, 'missing-rplus'), 'r+'))).code).toBe('ENOENT')
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

describe('AbortSignal', () => {
  test('an already-aborted signal rejects readFile with AbortError', async () => {
    const p = fileWith('x')
    expectAbortError(await rejectionOf(abio.readFile(p, { signal: aborted() })))
  })

  test('an already-aborted signal rejects writeFile with AbortError and writes nothing', async () => {
    const p = tmp()
    expectAbortError(await rejectionOf(abio.writeFile(p, 'x', { signal: aborted() })))
    expect(fs.existsSync(p)).toBe(false)
  })

  test('an already-aborted signal rejects readFiles and writeFiles with AbortError', async () => {
    const p = fileWith('x')
    expectAbortError(await rejectionOf(abio.readFiles([p, p], { signal: aborted() })))
    const q = tmp()
    expectAbortError(await rejectionOf(abio.writeFiles([{ path: q, data: 'x' }], { signal: aborted() })))
    expect(fs.existsSync(q)).toBe(false)
  })

  test('a signal that is never aborted changes nothing', async () => {
    const ac = new AbortController()
    const p = tmp()
    expect(await abio.writeFile(p, 'kept', { signal: ac.signal })).toBe(4)
    expectArrayBuffer(await abio.readFile(p, { signal: ac.signal }), Buffer.from('kept'))
    ac.abort() // after settling: no effect, no unhandled rejection
    expectFile(p, Buffer.from('kept'))
  })

  describe('with a 256 MiB file', () => {
    const SIZE = 256 << 20
    let big
    let content // what fs.writeFileSync put in the file
    beforeAll(() => {
      big = tmp('big256')
      content = Buffer.allocUnsafe(SIZE).fill(rnd(4099))
      fs.writeFileSync(big, content)
    })
    afterAll(() => {
      if (big) fs.rmSync(big, { force: true })
      content = null
    })

    test('readFile reads it whole and exact', async () => {
      const out = await abio.readFile(big)
      expect(out.byteLength).toBe(SIZE)
      expectBytes(out, content)
    })

    test('aborting right after readFile starts rejects with AbortError, and the next read works', async () => {
      const ac = new AbortController()
      const pending = abio.readFile(big, { signal: ac.signal })
      ac.abort()
      expectAbortError(await rejectionOf(pending))
      const again = await abio.readFile(big, { offset: SIZE - 10000 })
      expectArrayBuffer(again, content.subarray(SIZE - 10000))
    })

    test('aborting right after a 64 MiB writeFile starts rejects with AbortError', async () => {
      const ac = new AbortController()
      const p = tmp('abort-write')
      const pending = abio.writeFile(p, new Uint8Array(64 << 20), { signal: ac.signal })
      ac.abort()
      expectAbortError(await rejectionOf(pending))
    })
  })
})
