'use strict'
// Helpers shared by the soak children (scripts/soak/*.js) and the parent (scripts/soak.js).

const fs = require('fs')
const path = require('path')

const ROOT = path.resolve(__dirname, '..', '..')
const MiB = 1024 * 1024

/**
 * require('abio'), retried for a few seconds: a rebuild may be replacing the .node file
 * while the soak runs, and a half-written file fails to load.
 */
function requireAbio() {
  const ours = (k) =>
    k === path.join(ROOT, 'index.js') ||
    k === path.join(ROOT, 'binding.js') ||
    k.startsWith(path.join(ROOT, 'lib') + path.sep)
  let last
  for (let i = 0; i < 20; i++) {
    try {
      return require(ROOT)
    } catch (e) {
      last = e
      for (const k of Object.keys(require.cache)) if (ours(k)) delete require.cache[k] // load afresh next time
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500)
    }
  }
  throw last
}

/**
 * This process's open file descriptors: every entry of /proc/self/fd (files, sockets, pipes,
 * epoll and eventfd descriptors, of every thread: the table is per process) except the one
 * readdir itself holds while it lists the directory.
 */
function fdTargets() {
  const dirFd = '/proc/self/fd'
  const out = []
  for (const name of fs.readdirSync(dirFd)) {
    let target
    try {
      target = fs.readlinkSync(path.join(dirFd, name))
    } catch {
      continue // readdir's own descriptor, closed by the time we look at it
    }
    out.push(`${name}=${target}`)
  }
  return out
}
const fdCount = () => fdTargets().length

/** What is in `after` and not in `before` (and the reverse), to name leaked descriptors. */
function fdDiff(before, after) {
  const b = new Set(before)
  const a = new Set(after)
  // Show the kind of descriptor (socket:[…] -> socket), not its inode, to keep it short.
  const kind = (s) => s.replace(/^\d+=/, '').replace(/:\[\d+\]$/, '')
  const count = (xs) => {
    const m = new Map()
    for (const x of xs) m.set(kind(x), (m.get(kind(x)) || 0) + 1)
    return [...m].map(([k, n]) => `${n} x ${k}`).join(', ')
  }
  return { added: count(after.filter((x) => !b.has(x))), removed: count(before.filter((x) => !a.has(x))) }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const tick = () => new Promise((resolve) => setImmediate(resolve))

/** Full GCs with event-loop turns between (finalizers of external buffers run in between). */
async function settle() {
  for (let i = 0; i < 3; i++) {
    global.gc()
    await tick()
    await sleep(20)
  }
  global.gc()
}

const rss = () => process.memoryUsage().rss

/**
 * Polls the descriptor count every 50 ms until it has not changed for `quietMs`, at most
 * `maxMs`: the quiescent count after a phase that closed everything (closes that complete on
 * other threads or in later turns have landed).
 */
async function quietFds(quietMs = 1000, maxMs = 10000) {
  const t0 = Date.now()
  let last = fdCount()
  let since = Date.now()
  while (Date.now() - t0 < maxMs) {
    await sleep(50)
    const n = fdCount()
    if (n !== last) {
      last = n
      since = Date.now()
    } else if (Date.now() - since >= quietMs) break
  }
  return last
}

/** Polls until the descriptor count is `want` (at most `maxMs`); returns { fds, waitedMs }. */
async function fdsBackTo(want, maxMs = 10000) {
  const t0 = Date.now()
  let n = fdCount()
  while (n !== want && Date.now() - t0 < maxMs) {
    await sleep(50)
    n = fdCount()
  }
  return { fds: n, waitedMs: Date.now() - t0 }
}

/** One JSON line on stdout (the parent reads them). */
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

/** `n` deterministic pseudo-random bytes (LCG) from `seed`: both ends of a check agree without sharing. */
function pattern(n, seed = 1) {
  const u = Buffer.allocUnsafe(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    u[i] = x >>> 24
  }
  return u
}

const fmtMiB = (n) => `${(n / MiB).toFixed(1)} MiB`
const fmtSigned = (n) => `${n >= 0 ? '+' : '-'}${fmtMiB(Math.abs(n))}`
function fmtRate(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M/s`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k/s`
  return `${n.toFixed(0)}/s`
}

/**
 * The rest of a server child's life: `report()` every second; on stdin, `gc` collects (a
 * diagnosis only, asked when descriptors did not come back; needs --expose-gc), `close`
 * closes `server` and emits `{ closed: true, rss, ...closedInfo() }`.
 */
function serveUntilClosed(server, report, closedInfo = () => ({})) {
  const timer = setInterval(report, 1000)
  let buf = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', async (d) => {
    buf += d
    if (buf.includes('gc\n')) {
      buf = buf.replace('gc\n', '')
      if (global.gc) global.gc()
      setTimeout(report, 200)
    }
    if (!buf.includes('close\n')) return
    clearInterval(timer)
    process.stdin.pause()
    process.stdin.unref()
    await server.close()
    emit({ closed: true, rss: rss(), ...closedInfo() })
  })
}

module.exports = {
  ROOT,
  MiB,
  requireAbio,
  fdTargets,
  fdCount,
  fdDiff,
  sleep,
  tick,
  settle,
  rss,
  quietFds,
  fdsBackTo,
  emit,
  serveUntilClosed,
  pattern,
  fmtMiB,
  fmtSigned,
  fmtRate,
}
