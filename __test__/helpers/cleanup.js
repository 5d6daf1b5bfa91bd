'use strict'
// Everything a network test opens is closed after it, so jest exits: `track(kind, x)` remembers
// it (and returns it), `closeAll()` (an afterEach) closes what was tracked, newest first.
// Kinds: 'abio-socket', 'abio-server', 'node-socket', 'node-server', 'agent', 'child', 'timer'.

const opened = []

/** Remembers `x` to close after the test; returns it. */
function track(kind, x) {
  opened.push([kind, x])
  return x
}

async function closeAll() {
  const all = opened.splice(0).reverse()
  const waits = []
  for (const [kind, x] of all) {
    try {
      if (kind === 'abio-socket') x.close()
      else if (kind === 'node-socket' || kind === 'agent') x.destroy()
      else if (kind === 'child') x.kill('SIGKILL')
      else if (kind === 'timer') clearInterval(x)
    } catch {}
  }
  for (const [kind, x] of all) {
    if (kind === 'abio-server') waits.push(x.close().catch(() => {}))
    else if (kind === 'node-server') waits.push(new Promise((resolve) => x.close(() => resolve())))
  }
  let timer
  await Promise.race([Promise.all(waits), new Promise((resolve) => (timer = setTimeout(resolve, 3000)))])
  clearTimeout(timer)
}

module.exports = { track, closeAll }
