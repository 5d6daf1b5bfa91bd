'use strict'
// What a call throws or a promise rejects with, for the argument-check tests; written once for
// every suite.

/** What `fn` throws synchronously; a promise it returns instead is reported (and cleaned up). */
function thrownBy(fn) {
  let r
  try {
    r = fn()
  } catch (e) {
    return e
  }
  if (r && typeof r.then === 'function') {
    r.then(
      (s) => s && s.close && s.close(),
      () => {},
    )
    return { notThrownSynchronously: 'it returned a promise' }
  }
  return { notThrownSynchronously: r }
}

/** A value's tag: jest runs each suite in its own realm, so `instanceof` cannot be trusted. */
const tag = (x) => Object.prototype.toString.call(x)

function noop() {}

/** The error `fn` throws synchronously; fails the test if it returns (a promise or anything). */
function syncThrowOf(fn) {
  let ret
  try {
    ret = fn()
  } catch (e) {
    return e
  }
  const isPromise = ret != null && typeof ret.then === 'function'
  if (isPromise) ret.then(noop, noop) // no unhandled rejection
  throw new Error(`expected a synchronous throw, got ${isPromise ? 'a promise' : tag(ret)}`)
}

/** The error a promise rejects with; fails the test if `p` is not a promise or resolves. */
async function rejectionOf(p) {
  expect(p != null && typeof p.then === 'function').toBe(true)
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected the promise to reject, it resolved')
}

/**
 * `fn` throws synchronously an error named one of `names` (a name or a list; default TypeError)
 * with `code: 'ABIO_ERR_INVALID_ARG'` and a message.
 */
function expectInvalidArg(fn, names = ['TypeError']) {
  const e = syncThrowOf(fn)
  expect([].concat(names)).toContain(e.name)
  expect(e.code).toBe('ABIO_ERR_INVALID_ARG')
  expect(typeof e.message).toBe('string')
  expect(e.message.length).toBeGreaterThan(0)
}

module.exports = { thrownBy, syncThrowOf, rejectionOf, expectInvalidArg, tag }
