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

/**
 * `read()`'s value once it stopped changing: the same over `times` looks `every` ms apart (a
 * producer held back by backpressure has stalled), or after `max` ms whatever it is then.
 */
async function steady(read, { every = 100, times = 5, max = 20000 } = {}) {
  const end = Date.now() + max
  let last = read()
  let same = 0
  while (same < times && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, every))
    const now = read()
    same = now === last ? same + 1 : 0
    last = now
  }
  return last
}

module.exports = { within, steady }
