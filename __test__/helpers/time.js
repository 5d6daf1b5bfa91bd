'use strict'
// Waiting with a bound, shared by the test suites.

/** `promise`, or `{ timedOut: true }` after `ms` (the timer is cleared either way). */
async function within(promise, ms) {
  let timer
  const late = new Promise((resolve) => (timer = setTimeout(() => resolve({ timedOut: true }), ms)))
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

module.exports = { within }
