'use strict'
// What the fault-injection suites (faults-*.test.js) share: this suite's temp root (made at load;
// each suite removes it in an afterAll), and the checks that errors are thrown or rejected, and
// look like Node's.

const fs = require('fs')
const os = require('os')
const path = require('path')
const util = require('util')

const abio = require('../..')
const { nodeFields } = require('../fixtures/util')

const FIX = path.join(__dirname, '..', 'fixtures')
const MiB = 1 << 20
const ERRNO = os.constants.errno
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-'))
const newDir = (name) => fs.mkdtempSync(path.join(tmpRoot, name + '-'))

/** The error `fn` throws; fails if it returns instead. A returned promise is reported, not awaited. */
function syncError(fn) {
  let r
  try {
    r = fn()
  } catch (e) {
    return e
  }
  if (r && typeof r.then === 'function')
    r.then(
      () => {},
      () => {},
    )
  throw new Error(`expected a synchronous throw, but it returned ${util.inspect(r, { depth: 0 })}`)
}
/** The error `fn`'s promise rejects with (a synchronous throw counts too); fails if it resolves. */
async function asyncError(fn) {
  let r
  try {
    r = await fn()
  } catch (e) {
    return e
  }
  if (r && typeof r.close === 'function') await r.close().catch(() => {})
  throw new Error(`expected a rejection, but it resolved with ${util.inspect(r, { depth: 0 })}`)
}

/**
 * An Error from any realm (jest runs tests in a vm context, so errors made by Node core or
 * the addon are not `instanceof` the test's Error): check natively and by constructor name.
 */
function expectErrorOf(err, ctorName = 'Error') {
  expect(util.types.isNativeError(err)).toBe(true)
  if (ctorName !== 'Error') expect(err.constructor && err.constructor.name).toBe(ctorName)
}

/** abio's error must carry exactly Node's code/errno/syscall/path/message. */
function expectSameAsNode(got, want) {
  expectErrorOf(got)
  expect(nodeFields(got)).toEqual(nodeFields(want))
}
/**
 * Same, for errors where Node sets no path (e.g. EISDIR from read(2)): abio may add the
 * path ("path where there is one"), then it must be the path given, and the message must
 * still begin like Node's.
 */
function expectLikeNodePathOptional(got, want, p) {
  expectErrorOf(got)
  expect({ code: got.code, errno: got.errno, syscall: got.syscall }).toEqual({
    code: want.code,
    errno: want.errno,
    syscall: want.syscall,
  })
  if (got.path !== undefined) expect(got.path).toBe(p)
  expect(got.message.startsWith(want.message)).toBe(true)
}

module.exports = {
  FIX,
  MiB,
  ERRNO,
  isRoot,
  sleep,
  tmpRoot,
  newDir,
  syncError,
  asyncError,
  expectErrorOf,
  expectSameAsNode,
  expectLikeNodePathOptional,
}
