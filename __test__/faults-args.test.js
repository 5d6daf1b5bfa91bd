'use strict'
// Fault injection for abio's file API: wrong argument types, hostile but valid
// inputs, the open-file limit and aborted signals.
// Contract: design.md (the project contract), sections 2-4. Shared helpers: helpers/faults.js.

const fs = require('fs')
const path = require('path')
const cp = require('child_process')

const abio = require('..')
const { pickError } = require('./fixtures/util')
const { cases: badArgCases } = require('./fixtures/bad-args-cases')
const { FIX, MiB, ERRNO, tmpRoot, newDir, syncError, asyncError, expectErrorOf } = require('./helpers/faults')

afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

// ---------------------------------------------------------------------------
// 6. Wrong argument types: every case runs in a child first (a crash must not take
//    jest down); then a few are repeated in-process.
// ---------------------------------------------------------------------------
describe('wrong argument types', () => {
  let child
  const results = new Map()
  let crashedAt = null
  beforeAll(() => {
    const d = newDir('badargs')
    const r = cp.spawnSync(process.execPath, [path.join(FIX, 'bad-args.js'), d], { encoding: 'utf8', timeout: 120000 })
    child = {
      status: r.status,
      signal: r.signal,
      stderr: (r.stderr || '').slice(0, 4000),
      error: r.error && r.error.message,
    }
    let lastBegin = null
    for (const line of (r.stdout || '').split('\n')) {
      if (!line.trim()) continue
      let o
      try {
        o = JSON.parse(line)
      } catch {
        continue
      }
      if (o.begin) lastBegin = o.begin
      if (o.result) {
        results.set(o.result.id, o.result)
        lastBegin = null
      }
      if (o.done) child.done = o
      if (o.fatal) child.fatal = o
    }
    crashedAt = lastBegin
  }, 130000)

  test('the child survived every case and exited 0 (no crash, no abort)', () => {
    expect({
      crashedDuring: crashedAt,
      status: child.status,
      signal: child.signal,
      fatal: child.fatal,
      error: child.error,
    }).toEqual({
      crashedDuring: null,
      status: 0,
      signal: null,
      fatal: undefined,
      error: undefined,
    })
    expect(child.done).toEqual({ done: true, after: 'still fine' })
  })

  test.each(badArgCases.map((c) => [c.id, c]))('%s', (id, c) => {
    const r = results.get(id)
    if (!r) {
      throw new Error(
        crashedAt === id
          ? `the child process died during this call (status ${child.status}, signal ${child.signal}); stderr:\n${child.stderr}`
          : `not run: the child died earlier (during "${crashedAt}")`,
      )
    }
    if (r.missing) throw new Error(`abio.${c.group} is not exported`)
    const outcome = r.threw
      ? 'threw synchronously'
      : r.returnedPromise
        ? `returned a promise that ${r.settled}`
        : `returned ${r.returnedType}`
    const got = {
      outcome,
      ctor: r.error && r.error.ctor,
      code: r.error && r.error.code,
      message: r.error && r.error.message,
    }
    expect(got).toEqual({
      outcome: 'threw synchronously',
      ctor: c.range ? expect.stringMatching(/^(TypeError|RangeError)$/) : 'TypeError',
      code: 'ABIO_ERR_INVALID_ARG',
      message: expect.any(String),
    })
  })

  test('every invalid-argument message names the argument', () => {
    const unnamed = []
    for (const c of badArgCases) {
      const r = results.get(c.id)
      if (r && r.threw && r.error && r.error.code === 'ABIO_ERR_INVALID_ARG' && !c.arg.test(r.error.message)) {
        unnamed.push(`${c.id} -> ${JSON.stringify(r.error.message)} (expected to match ${c.arg})`)
      }
    }
    expect(unnamed).toEqual([])
  })

  test('in-process: async functions throw synchronously, no promise, no crash', async () => {
    if (crashedAt || child.signal) throw new Error('not attempted in-process: the child process crashed (see above)')
    const want = { isError: true, ctor: 'TypeError', name: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' }
    const d = newDir('badargs-inproc')
    const out = path.join(d, 'o.bin')
    const detachedAb = () => {
      const ab = new ArrayBuffer(8)
      structuredClone(ab, { transfer: [ab] })
      return ab
    }
    expect(pickError(syncError(() => abio.writeFile(123, 'x')))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFile(out, null)))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFile(out, detachedAb())))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFileSync(out, {})))).toMatchObject(want)
    expect(pickError(syncError(() => abio.readFile(undefined)))).toMatchObject(want)
    expect(pickError(syncError(() => abio.readFile(out, 42)))).toMatchObject(want)
    expect(pickError(syncError(() => abio.readFiles(null)))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFiles([{ path: out, data: 1 }])))).toMatchObject(want)
    expect(pickError(syncError(() => abio.open({}, 'r')))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFile(out, 'x', { append: true, atomic: true })))).toMatchObject(want)
    expect(fs.existsSync(out)).toBe(false) // nothing was written by any of them
    // a detached view writes nothing or is refused; either way no crash and no garbage
    const u = new Uint8Array(new ArrayBuffer(8))
    structuredClone(u.buffer, { transfer: [u.buffer] })
    let n
    try {
      n = await abio.writeFile(out, u)
    } catch (e) {
      expect(pickError(e)).toMatchObject(want)
    }
    if (n !== undefined) {
      expect(n).toBe(0)
      expect(fs.statSync(out).size).toBe(0)
    }
  })
})

// ---------------------------------------------------------------------------
// Extra: valid-but-hostile inputs (in a child: a crash must not take jest down).
// ---------------------------------------------------------------------------
describe('hostile but valid inputs', () => {
  const res = new Map()
  let run
  let crashedAt = null
  beforeAll(() => {
    const d = newDir('odd')
    const r = cp.spawnSync(process.execPath, [path.join(FIX, 'odd-inputs.js'), d], { encoding: 'utf8', timeout: 60000 })
    run = { status: r.status, signal: r.signal, stderr: (r.stderr || '').slice(0, 4000) }
    for (const line of (r.stdout || '').split('\n').filter(Boolean)) {
      const o = JSON.parse(line)
      if (o.begin) crashedAt = o.begin
      else if (o.id) {
        res.set(o.id, o)
        crashedAt = null
      } else if (o.done) run.done = true
      else if (o.fatal) run.fatal = o
    }
  }, 70000)
  const get = (id) => {
    const r = res.get(id)
    if (!r)
      throw new Error(
        crashedAt === id
          ? `the child died during this call: ${JSON.stringify(run)}`
          : 'not run (the child died earlier)',
      )
    return r
  }
  const hexOf = (s) => Buffer.from(s).toString('hex')
  /** either the write is refused with an invalid-arg error, or it wrote exactly what JS sees */
  const refusedOrExact = (r) => {
    if (!r.ok) expect(r.error).toMatchObject({ ctor: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
    else expect(r.value.fileBytes).toBe(r.value.jsBytes)
  }

  test('the child survived every call and exited 0', () => {
    expect({ crashedDuring: crashedAt, ...run }).toEqual({
      crashedDuring: null,
      status: 0,
      signal: null,
      stderr: '',
      done: true,
    })
  })
  test("lengths and offsets far beyond end of file give the file's bytes (short only at EOF), no huge allocation", () => {
    const hello = hexOf('hello world')
    expect(get('readFile length 2^40')).toEqual({ id: 'readFile length 2^40', ok: true, value: hello })
    expect(get('readFileSync length 2^53-1').value).toBe(hello)
    expect(get('readFile offset 2^52').value).toBe(0)
    expect(get('readFiles length 2^40').value).toEqual([hello, hello])
    expect(get('FileHandle.read length 2^40').value).toBe(hello)
    expect(get('FileHandle.read position 2^52').value).toBe(0)
  })
  test('writes and truncates beyond the maximum file size fail like fs (EFBIG/EINVAL), the file is unchanged', () => {
    for (const id of ['FileHandle.write position 2^53-1', 'FileHandle.truncate 2^53-1']) {
      const r = get(id)
      expect(r.ok).toBe(false)
      expect(r.error.isError).toBe(true)
      expect(['EFBIG', 'EINVAL']).toContain(r.error.code)
      expect(r.error.errno).toBe(-ERRNO[r.error.code])
    }
    expect(get('FileHandle.size after the failed calls').value).toBe(11)
  })
  test('a closed FileHandle rejects further calls with an error code; close is idempotent', () => {
    for (const id of ['FileHandle.read after close', 'FileHandle.write after close']) {
      const r = get(id)
      expect(r.ok).toBe(false)
      expect(['ABIO_ERR_CLOSED', 'EBADF']).toContain(r.error.code)
    }
    expect(get('FileHandle.close twice').ok).toBe(true)
  })
  test('detached, out-of-bounds, resizable and growable memory: refused or written exactly as JS sees it', () => {
    for (const id of [
      'write detached Uint8Array (sync)',
      'write detached DataView (async)',
      'write out-of-bounds view (sync)',
      'write out-of-bounds view (async)',
      'write resizable ArrayBuffer after grow',
      'write length-tracking view after shrink',
      'write growable SharedArrayBuffer after grow',
    ]) {
      refusedOrExact(get(id))
    }
    // the valid ones must not be refused
    expect(get('write resizable ArrayBuffer after grow').value.n).toBe(32)
    expect(get('write length-tracking view after shrink').value.n).toBe(8)
    expect(get('write growable SharedArrayBuffer after grow').value.n).toBe(24)
  })
  test('strings are written as UTF-8 exactly like Buffer.from (lone surrogates become U+FFFD); empty data writes empty files', () => {
    const r = get('write string with lone surrogates')
    expect(r.value.fileBytes).toBe(hexOf('a\ud800b\udc00'))
    expect(r.value.n).toBe(Buffer.byteLength('a\ud800b\udc00'))
    expect(get('write empty string').value).toEqual({ n: 0, jsBytes: '', fileBytes: '' })
    expect(get('write empty array').value).toEqual({ n: 0, size: 0 })
  })
  test('readFileInto a detached / out-of-bounds view is refused or reads 0 bytes; a view of a resizable buffer is refused', () => {
    for (const id of ['readFileInto detached view', 'readFileInto out-of-bounds view']) {
      const r = get(id)
      if (r.ok) expect(r.value).toBe(0)
      else expect(r.error).toMatchObject({ ctor: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
    }
    // Filled after the call returns: a resize meanwhile would pull the memory from under the
    // read, and a copy would not be the caller's memory (README "Who owns your memory").
    const r = get('readFileInto length-tracking view after shrink')
    expect(r.ok).toBe(false)
    expect(r.error).toMatchObject({ ctor: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
  })
  test('toArrayBuffer/toBuffer of an out-of-bounds view give 0 bytes or an invalid-arg error', () => {
    for (const id of ['toArrayBuffer out-of-bounds view', 'toBuffer out-of-bounds view']) {
      const r = get(id)
      if (r.ok) expect(r.value).toBe(0)
      else expect(r.error).toMatchObject({ ctor: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
    }
  })
  test('empty batches resolve to empty arrays', () => {
    expect(get('readFiles []').value).toEqual([])
    expect(get('writeFiles []').value).toEqual([])
  })
})

// ---------------------------------------------------------------------------
// Extra: batches of thousands of paths under the common default `ulimit -n 1024`.
// ---------------------------------------------------------------------------
describe('open-file limit', () => {
  test('writeFiles/readFiles of 3000 paths work under ulimit -n 1024 (bounded descriptors)', () => {
    const d = newDir('nofile')
    const r = cp.spawnSync(
      '/bin/sh',
      ['-c', 'ulimit -n 1024 && exec "$0" "$@"', process.execPath, path.join(FIX, 'many-files.js'), d, '3000'],
      {
        encoding: 'utf8',
        timeout: 60000,
      },
    )
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
    const out = JSON.parse(r.stdout.trim())
    expect(out).toMatchObject({ count: 3000, written: 3000, read: 3000, readBad: -1 })
    // 3000 concurrent single readFile calls: fine, or a clean EMFILE like fs — never a crash
    if (out.parallelReadError) expect(out.parallelReadError).toMatchObject({ code: 'EMFILE', isError: true })
    else expect(out.parallelReads).toBe(3000)
  }, 70000)
})

// ---------------------------------------------------------------------------
// Extra: cancellation as a fault: an already-aborted signal, and an abort mid-read.
// ---------------------------------------------------------------------------
describe('aborted signals', () => {
  const expectAbort = (e) => {
    expectErrorOf(e)
    expect({ name: e.name, code: e.code }).toEqual({ name: 'AbortError', code: 'ABORT_ERR' })
  }
  test('an already-aborted signal rejects readFile/writeFile/readFiles/writeFiles with AbortError and writes nothing', async () => {
    const d = newDir('abort')
    const src = path.join(d, 'src.bin')
    fs.writeFileSync(src, 'data')
    const out = path.join(d, 'out.bin')
    const signal = AbortSignal.abort()
    expectAbort(await asyncError(() => abio.readFile(src, { signal })))
    expectAbort(await asyncError(() => abio.readFiles([src], { signal })))
    expectAbort(await asyncError(() => abio.writeFile(out, 'x', { signal })))
    expectAbort(await asyncError(() => abio.writeFiles([{ path: out, data: 'x' }], { signal })))
    expect(fs.existsSync(out)).toBe(false)
  })
  test('aborting a 512 MiB read mid-flight rejects with AbortError (or it already finished); abio keeps working', async () => {
    const d = newDir('abort-big')
    const big = path.join(d, 'big.bin')
    const fd = fs.openSync(big, 'w')
    fs.ftruncateSync(fd, 512 * MiB)
    fs.closeSync(fd)
    let aborted = 0
    for (const delay of [0, 1, 5, 20]) {
      const ac = new AbortController()
      const p = abio.readFile(big, { signal: ac.signal })
      setTimeout(() => ac.abort(), delay)
      try {
        const ab = await p
        expect(ab.byteLength).toBe(512 * MiB)
      } catch (e) {
        expectAbort(e)
        aborted++
      }
    }
    console.log(`mid-flight aborts: ${aborted} of 4 reads were cancelled, the others had finished`)
    expect((await abio.readFile(big, { length: 16 })).byteLength).toBe(16)
  }, 30000)
})
