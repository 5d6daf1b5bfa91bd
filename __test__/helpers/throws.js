'use strict'
// What a call throws, for the argument-check tests.

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

module.exports = { thrownBy }
