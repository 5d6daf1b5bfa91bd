'use strict'
// Tests for abio's file API (design.md sections 2-4): writeFileSync and writeFile.
// Inputs, checks and how expected bytes are computed: helpers/fs.js.

const fs = require('fs')
const path = require('path')

const abio = require('..')
const { ab } = require('./helpers/inputs')
const { expectBytes, bytesOf } = require('./helpers/bytes')
const { syncThrowOf: thrownBy, rejectionOf, expectInvalidArg } = require('./helpers/throws')
const { useTempDir, tmpDir, tmp, freshDir } = require('./helpers/tmpdir')
const { rnd, fileWith, expectFile, modeOf, expectLikeNode, nodeErrorOf, withUmask } = require('./helpers/fs')
const { withUmaskAsync, KINDS, allKinds, BAD_PATHS, BAD_DATA, BAD_WRITE_OPTIONS } = require('./helpers/fs')

jest.setTimeout(20000)

useTempDir('abio-')

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
    const p = path.join(tmpDir(), 'no-such-dir', 'f')
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
    const p = path.join(tmpDir(), 'no-such-dir', 'g')
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
