'use strict'
// Tests for abio's file API (design.md sections 2-4): the batches writeFiles and readFiles,
// and AbortSignal.
// Inputs, checks and how expected bytes are computed: helpers/fs.js.

const fs = require('fs')
const path = require('path')

const abio = require('..')
const { ab, detachedArrayBuffer } = require('./helpers/inputs')
const { expectBytes, bytesOf } = require('./helpers/bytes')
const { rejectionOf, expectInvalidArg } = require('./helpers/throws')
const { useTempDir, tmp, freshDir } = require('./helpers/tmpdir')
const { rnd, fileWith, expectArrayBuffer, expectFile, modeOf, expectLikeNode, nodeErrorOf } = require('./helpers/fs')
const { expectAbortError, withUmaskAsync, aborted, KINDS, allKinds, BAD_READ_OPTIONS } = require('./helpers/fs')

jest.setTimeout(20000)

useTempDir('abio-')

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
