'use strict'
// Shared helpers for the benchmarks (bench/*.js) and the tour (examples/tour.js).
// Timing uses process.hrtime.bigint(); every figure reported is a median of N
// repetitions, and contenders are run interleaved (A, B, A, B, ...) in one process.

const fs = require('fs')
const os = require('os')
const path = require('path')
const v8 = require('v8')
const vm = require('vm')

// ---------------------------------------------------------------------------
// timing

/** Current time in nanoseconds (bigint). */
function now() {
  return process.hrtime.bigint()
}

/** Seconds elapsed since `start` (a value returned by now()). */
function since(start) {
  return Number(process.hrtime.bigint() - start) / 1e9
}

/** Runs `fn` (sync or async) once; resolves to { seconds, result }. */
async function timeIt(fn) {
  const t0 = now()
  const result = await fn()
  const seconds = since(t0)
  return { seconds, result }
}

let gcFn
/** Full garbage collection when it can be had (--expose-gc, or switched on at run time). */
function gc() {
  if (gcFn === undefined) {
    if (typeof globalThis.gc === 'function') {
      gcFn = globalThis.gc
    } else {
      try {
        v8.setFlagsFromString('--expose-gc')
        gcFn = vm.runInNewContext('gc')
      } catch {
        gcFn = null
      }
    }
  }
  if (gcFn) gcFn()
}

function median(xs) {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

/**
 * Runs every contender once per repetition, interleaved in the given order
 * (A, B, C, A, B, C, ...), and returns, per contender name,
 * { times: number[] (seconds), median: number (seconds) }.
 *
 * contenders: { [name]: { run(rep), before?(rep), after?(rep, result) } }
 *   run     the timed work (sync or async); its result is passed to `after`
 *   before  untimed set-up for this repetition (e.g. make a fresh directory)
 *   after   untimed check or clean-up of this repetition
 * options:  { reps, warmup = 0, gc = true, budget?, minReps = 3, onRep?(rep, name, seconds) }
 *   warmup repetitions are run the same way but not recorded.
 *   budget (seconds): if the first recorded repetition shows that `reps` of them
 *   would take longer, fewer are run (never fewer than minReps); `onReduce(reps)`
 *   is told. On a quiet machine the budget is never reached.
 */
async function interleave(
  contenders,
  { reps, warmup = 0, gc: doGc = true, budget, minReps = 3, onRep, onReduce } = {},
) {
  if (!(reps >= 1)) throw new RangeError(`reps must be >= 1, got ${reps}`)
  const names = Object.keys(contenders)
  const out = {}
  for (const name of names) out[name] = { times: [], median: NaN }
  let repStart
  for (let rep = -warmup; rep < reps; rep++) {
    if (rep === 0) repStart = now()
    if (rep === 1 && budget !== undefined) {
      const perRep = since(repStart)
      const fit = Math.max(Math.min(minReps, reps), Math.floor(budget / perRep))
      if (fit < reps) {
        reps = fit
        if (onReduce) onReduce(reps, perRep)
      }
    }
    for (const name of names) {
      const c = contenders[name]
      if (c.before) await c.before(rep)
      if (doGc) gc()
      let { seconds, result } = await timeIt(() => c.run(rep))
      if (c.after) await c.after(rep, result)
      result = null
      if (rep >= 0) {
        out[name].times.push(seconds)
        if (onRep) onRep(rep, name, seconds)
      }
    }
  }
  for (const name of names) out[name].median = median(out[name].times)
  out.reps = reps
  return out
}

// ---------------------------------------------------------------------------
// bytes and checks

/** A Buffer view (no copy) over an ArrayBuffer, SharedArrayBuffer or any view. */
function bytesOf(x) {
  if (Buffer.isBuffer(x)) return x
  if (x instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && x instanceof SharedArrayBuffer)) {
    return Buffer.from(x)
  }
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength)
  if (typeof x === 'string') return Buffer.from(x, 'utf8')
  throw new TypeError(`not bytes: ${Object.prototype.toString.call(x)}`)
}

function sameBytes(a, b) {
  const x = bytesOf(a)
  const y = bytesOf(b)
  return x.length === y.length && Buffer.compare(x, y) === 0
}

/** Throws (with the first differing offset) unless `actual` holds exactly the bytes of `expected`. */
function assertSameBytes(actual, expected, what) {
  const x = bytesOf(actual)
  const y = bytesOf(expected)
  if (x.length === y.length && Buffer.compare(x, y) === 0) return
  let i = 0
  const n = Math.min(x.length, y.length)
  while (i < n && x[i] === y[i]) i++
  throw new Error(
    `wrong result: ${what}: got ${x.length} bytes, expected ${y.length}; ` +
      (i < n ? `first difference at byte ${i} (got ${x[i]}, expected ${y[i]})` : `equal up to byte ${n}`),
  )
}

/** Throws unless `x` is an ArrayBuffer of exactly `byteLength` bytes. */
function assertArrayBuffer(x, byteLength, what) {
  if (!(x instanceof ArrayBuffer)) {
    throw new Error(`wrong result: ${what}: expected an ArrayBuffer, got ${Object.prototype.toString.call(x)}`)
  }
  if (byteLength !== undefined && x.byteLength !== byteLength) {
    throw new Error(`wrong result: ${what}: expected byteLength ${byteLength}, got ${x.byteLength}`)
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so contents differ file to file. */
function fillPattern(buf, seed) {
  const u8 = bytesOf(buf)
  let s = seed >>> 0 || 0x9e3779b9
  const words = u8.length >>> 2
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength)
  for (let i = 0; i < words; i++) {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    dv.setUint32(i * 4, s, true)
  }
  for (let i = words * 4; i < u8.length; i++) u8[i] = (i * 131 + seed) & 0xff
  return buf
}

// ---------------------------------------------------------------------------
// formatting

function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US')
}

function humanBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1 && n % 1024 === 0) {
    n /= 1024
    i++
  }
  return `${n} ${units[i]}`
}

/** 3 significant digits, e.g. 1.23, 12.3, 123. */
function sig3(x) {
  if (!Number.isFinite(x)) return String(x)
  if (x >= 100) return x.toFixed(0)
  if (x >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

/**
 * A rate with its unit: fmtRate(2.5e9, 'GB/s') -> '2.50 GB/s' (bytes per second in,
 * decimal GB out); fmtRate(123456, 'files/s') -> '123 k files/s'.
 */
function fmtRate(perSecond, unit) {
  if (!Number.isFinite(perSecond)) return 'n/a'
  if (unit === 'GB/s') return `${sig3(perSecond / 1e9)} GB/s`
  if (unit === 'MB/s') return `${sig3(perSecond / 1e6)} MB/s`
  if (perSecond >= 1e6) return `${sig3(perSecond / 1e6)} M ${unit}`
  if (perSecond >= 1e3) return `${sig3(perSecond / 1e3)} k ${unit}`
  return `${sig3(perSecond)} ${unit}`
}

function fmtSeconds(s) {
  if (!Number.isFinite(s)) return 'n/a'
  if (s >= 1) return `${s.toFixed(2)} s`
  if (s >= 1e-3) return `${(s * 1e3).toFixed(2)} ms`
  return `${(s * 1e6).toFixed(1)} µs`
}

function fmtRatio(r) {
  if (!Number.isFinite(r)) return 'n/a'
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`
}

/**
 * ratio of throughputs, abio / node (higher = abio faster), from median times
 * of the same amount of work: node seconds / abio seconds.
 */
function ratio(abioSeconds, nodeSeconds) {
  return nodeSeconds / abioSeconds
}

/**
 * Prints an aligned table.
 * columns: [{ title, align?: 'left' | 'right' }]; rows: arrays of strings.
 */
function printTable(columns, rows, { indent = '', write = (s) => process.stdout.write(s) } = {}) {
  const widths = columns.map((c, i) => Math.max(strWidth(c.title), ...rows.map((r) => strWidth(String(r[i] ?? '')))))
  const cell = (s, i) => {
    s = String(s ?? '')
    const pad = ' '.repeat(widths[i] - strWidth(s))
    return columns[i].align === 'right' ? pad + s : s + pad
  }
  const line = (cells) => indent + '| ' + cells.map(cell).join(' | ') + ' |\n'
  let out = line(columns.map((c) => c.title))
  out +=
    indent +
    '|' +
    widths.map((w, i) => (columns[i].align === 'right' ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') +
    '|\n'
  for (const r of rows) out += line(r)
  write(out)
}

// printable width: counts code points (the tables only hold plain text, ✓, µ, ×)
function strWidth(s) {
  let n = 0
  for (const _ of s) n++
  return n
}

function padRight(s, w) {
  s = String(s)
  return s + ' '.repeat(Math.max(0, w - strWidth(s)))
}

function padLeft(s, w) {
  s = String(s)
  return ' '.repeat(Math.max(0, w - strWidth(s))) + s
}

// ---------------------------------------------------------------------------
// machine

/** The file system type of the mount that holds `dir` (from /proc/mounts), or ''. */
function fsTypeOf(dir) {
  try {
    const real = fs.realpathSync(dir)
    let best = ''
    let type = ''
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, mnt, t] = line.split(' ')
      if (!mnt) continue
      if ((real === mnt || real.startsWith(mnt.endsWith('/') ? mnt : mnt + '/')) && mnt.length >= best.length) {
        best = mnt
        type = t
      }
    }
    return type
  } catch {
    return ''
  }
}

function machineInfo(dir) {
  const cpus = os.cpus()
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
    cpu: cpus[0] ? cpus[0].model.trim() : 'unknown',
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    dir: dir ? path.resolve(dir) : undefined,
    fs: dir ? fsTypeOf(dir) : undefined,
  }
}

module.exports = {
  now,
  since,
  timeIt,
  gc,
  median,
  interleave,
  bytesOf,
  sameBytes,
  assertSameBytes,
  assertArrayBuffer,
  fillPattern,
  fmtInt,
  humanBytes,
  fmtRate,
  fmtSeconds,
  fmtRatio,
  ratio,
  printTable,
  padRight,
  padLeft,
  machineInfo,
}
