'use strict'
// What the file suites (fs-*.test.js) share: files with given bytes, byte and error checks
// against Node's fs, umask and abort helpers, every kind of Data and the bad inputs.
//
// Every expected byte sequence is computed from the input (or from Node's own fs on the same
// file), never hard-coded. Jest runs each suite in its own realm, so ArrayBuffers are recognised
// by their tag, not by `instanceof`.

const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')

const abio = require('../..')
const { ab, sab, poolSlice, detachedArrayBuffer, TYPED } = require('./inputs')
const { bufferOver: view, expectBytes } = require('./bytes')
const { tag } = require('./throws')
const { tmpDir, tmp } = require('./tmpdir')

const rnd = (n) => crypto.randomBytes(n)
/** A file with `buf` as content, at a fresh path. */
function fileWith(buf, name = 'src') {
  const p = tmp(name)
  fs.writeFileSync(p, buf)
  return p
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
  ['a path with a NUL byte', () => path.join(tmpDir(), 'a\0b')],
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

module.exports = {
  rnd,
  fileWith,
  expectArrayBuffer,
  expectFile,
  modeOf,
  pick,
  expectLikeNode,
  expectLikeNodeWithPath,
  nodeErrorOf,
  expectAbortError,
  withUmask,
  withUmaskAsync,
  aborted,
  KINDS,
  allKinds,
  BAD_PATHS,
  BAD_DATA,
  NUM,
  BAD_WRITE_OPTIONS,
  BAD_READ_OPTIONS,
}
