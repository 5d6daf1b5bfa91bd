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

// ---------------------------------------------------------------------------
// benchmark scripts: command line, cases, the final report

/**
 * The command line every benchmark takes: [--quick|-q] [--reps N] [--verbose|-v] [--help|-h] [case ...].
 * Returns { quick, reps, cases, help, verbose }; a bad option or --reps value goes to fail(message).
 */
function parseArgs(argv, fail) {
  const opts = { quick: false, reps: undefined, cases: [], help: false, verbose: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick' || a === '-q') opts.quick = true
    else if (a === '--help' || a === '-h') opts.help = true
    else if (a === '--verbose' || a === '-v') opts.verbose = true
    else if (a === '--reps') opts.reps = Number(argv[++i])
    else if (a.startsWith('--reps=')) opts.reps = Number(a.slice(7))
    else if (a.startsWith('-')) fail(`unknown option ${a}`)
    else opts.cases.push(a)
  }
  if (opts.reps !== undefined && !(Number.isInteger(opts.reps) && opts.reps >= 1))
    fail('--reps needs a whole number >= 1')
  return opts
}

/**
 * The cases named on the command line (`wanted`: ids or aliases, case-insensitive, a
 * unique prefix is enough), in the order of `cases`; all of them when none is named.
 * An unknown or ambiguous name goes to fail(message).
 */
function selectCases(cases, wanted, fail) {
  if (wanted.length === 0) return cases
  const chosen = []
  for (const want of wanted) {
    const w = want.toLowerCase()
    const names = (c) => [c.id, ...(c.aliases || [])].map((s) => s.toLowerCase())
    let hits = cases.filter((c) => names(c).includes(w))
    if (hits.length === 0) hits = cases.filter((c) => names(c).some((s) => s.startsWith(w)))
    if (hits.length !== 1) {
      fail(`${hits.length ? 'ambiguous' : 'unknown'} case "${want}"; cases: ${cases.map((c) => c.id).join(', ')}`)
    }
    if (!chosen.includes(hits[0])) chosen.push(hits[0])
  }
  return cases.filter((c) => chosen.includes(c))
}

/**
 * Runs each case ({ id, title(), run() }) in turn, printing its title and how long it took.
 * A case that throws is recorded as an error row in `rows` (and its stack printed) and the
 * next one runs. Returns the errors: [{ case, error }].
 */
async function runCases(cases, rows) {
  const errors = []
  for (const c of cases) {
    console.log(`\n${c.id}: ${c.title()}`)
    const tc = now()
    try {
      await c.run()
    } catch (e) {
      errors.push({ case: c.id, error: e })
      rows.push({ case: c.id, work: c.title(), error: e && e.message ? e.message : String(e) })
      console.error(`  ERROR in ${c.id}: ${e && e.stack ? e.stack : e}`)
    }
    console.log(`  (${fmtSeconds(since(tc))})`)
  }
  return errors
}

/**
 * Records one comparison of abio with another contender: adds its row to `rows` (as
 * report() prints them) and prints a line. rate: units of work per second = amount / median
 * seconds; `amount` is bytes (unit GB/s) or a count (files/s, parts/s). abio and other are
 * interleave() results ({ median, times }). otherKey: the other contender's field in the row
 * ('node', 'other'; see report()); otherLabel: its name in the printed line (default: `against`).
 * Optional:
 *   abio: null     abio could not run this case (`abioMissing` says why): the row has the other
 *                  contender's figure, no ratio, and ok: null (neither met nor missed).
 *   limit          { rate, label }: a physical limit measured in the same run (e.g. iperf3 on
 *                  loopback), printed beside the figures (report()'s limit column).
 *   targetNote     how `target` was derived, when it is not a plain constant (e.g. '0.9x iperf3').
 *   target: null   a comparison shown for information, judged against no target.
 */
function record(
  rows,
  { id, work, against, unit, amount, abio: a, other: o, target, reps, limit, targetNote, abioMissing },
  { otherKey, otherLabel },
) {
  const abioRate = a ? amount / a.median : NaN
  const otherRate = amount / o.median
  const r = a ? ratio(a.median, o.median) : NaN
  const row = {
    case: id,
    work,
    against,
    unit,
    reps,
    abio: a ? { rate: abioRate, medianSeconds: a.median, times: a.times } : null,
    [otherKey]: { rate: otherRate, medianSeconds: o.median, times: o.times },
    ratio: r,
    target,
    ok: a && target !== null ? r >= target : null,
  }
  if (targetNote) row.targetNote = targetNote
  if (limit) row.limit = { rate: limit.rate, label: limit.label }
  rows.push(row)
  const abioPart = a
    ? `abio ${fmtRate(abioRate, unit)} (median ${fmtSeconds(a.median)})`
    : `abio n/a (${abioMissing || 'not run'})`
  const limitPart = limit ? `; ${limit.label} ${fmtRate(limit.rate, unit)}` : ''
  const targetPart = target === null ? 'no target' : `target >= ${target}x${targetNote ? ` = ${targetNote}` : ''}`
  console.log(
    `  ${work} vs ${against}: ${abioPart}, ` +
      `${otherLabel ?? against} ${fmtRate(otherRate, unit)} (median ${fmtSeconds(o.median)})${limitPart} -> ${fmtRatio(r)} ` +
      `(${targetPart}; ${reps} reps)${row.ok === false ? '  MISSED' : ''}`,
  )
  return row
}

/**
 * Prints the end of a benchmark run: `header`, the table of `rows`, the MISSED / all met
 * summary, one line per error, and last the `BENCH_JSON {...}` line for tools.
 * rows: as record() makes them, { case, work, against, unit, reps, abio, [otherKey], ratio,
 * target, ok } with abio and [otherKey] = { rate, medianSeconds }, or { case, work, error }.
 * A row may have abio: null (abio did not run: no ratio, counted neither met nor missed) and
 * a limit ({ rate, label }): then the table has a `limitTitle` column (default 'limit').
 * otherKey: the name of the contender abio is compared with ('node', 'other'): its field in
 * the rows, its column title, and its fields in BENCH_JSON (`${otherKey}`, `${otherKey}MedianSeconds`).
 */
function report({ bench, header, otherKey, rows, errors, quick, machine, limitTitle = 'limit' }) {
  const log = (...args) => console.log(...args)
  log(`\n${header}\n`)
  const withLimit = rows.some((r) => r.limit)
  const table = rows.map((r) => {
    const cells = r.error
      ? [r.work, '—', '—', '—', '—', 'ERROR']
      : [
          `${r.work} vs ${r.against}`,
          r.abio ? fmtRate(r.abio.rate, r.unit) : '—',
          fmtRate(r[otherKey].rate, r.unit),
          r.abio ? fmtRatio(r.ratio) : '—',
          r.target === null ? '-' : `>= ${r.target}x${r.targetNote ? ` (${r.targetNote})` : ''}`,
          r.ok === null ? (r.abio ? 'info' : 'no abio') : r.ok ? 'ok' : 'MISSED',
        ]
    if (withLimit) cells.splice(3, 0, r.limit ? fmtRate(r.limit.rate, r.unit) : '—')
    return cells
  })
  const columns = [
    { title: 'work' },
    { title: 'abio', align: 'right' },
    { title: otherKey, align: 'right' },
    { title: 'ratio', align: 'right' },
    { title: 'target', align: 'right' },
    { title: 'ok?' },
  ]
  if (withLimit) columns.splice(3, 0, { title: limitTitle, align: 'right' })
  printTable(columns, table)
  const judged = rows.filter((r) => !r.error && r.ok !== null)
  const missed = judged.filter((r) => !r.ok).length
  const unjudged = rows.filter((r) => !r.error && r.ok === null && !r.abio).length
  log('')
  if (missed) log(`MISSED: ${missed} of ${judged.length} targets`)
  else if (judged.length) log(`all ${judged.length} targets met`)
  if (unjudged) log(`not judged: ${unjudged} row${unjudged === 1 ? '' : 's'} without an abio figure`)
  for (const e of errors) log(`ERROR: ${e.case}: ${e.error && e.error.message ? e.error.message : e.error}`)

  const perSecond = (r, rate) => (r.unit === 'GB/s' ? rate / 1e9 : rate)
  const json = {
    bench,
    quick,
    machine,
    results: rows.map((r) =>
      r.error
        ? { case: r.case, error: r.error }
        : {
            case: r.case,
            work: r.work,
            against: r.against,
            unit: r.unit,
            reps: r.reps,
            abio: r.abio ? perSecond(r, r.abio.rate) : null,
            [otherKey]: perSecond(r, r[otherKey].rate),
            ...(r.limit ? { limit: perSecond(r, r.limit.rate), limitLabel: r.limit.label } : {}),
            abioMedianSeconds: r.abio ? r.abio.medianSeconds : null,
            [`${otherKey}MedianSeconds`]: r[otherKey].medianSeconds,
            ratio: r.abio ? r.ratio : null,
            target: r.target,
            ...(r.targetNote ? { targetNote: r.targetNote } : {}),
            ok: r.ok,
          },
    ),
  }
  log(`BENCH_JSON ${JSON.stringify(json)}`)
}

/**
 * `child_process.spawn`, tracked in the set `children` until it exits (for cleanup on an
 * interrupted run); `child.exited` resolves with { code, signal } or { error }.
 */
function spawnTracked(children, cmd, args, options) {
  const child = require('child_process').spawn(cmd, args, options)
  children.add(child)
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child)
      resolve({ code, signal })
    })
    child.once('error', (error) => {
      children.delete(child)
      resolve({ error })
    })
  })
  return child
}

/** Removes `dir` and what is in it; best effort, saying so when it cannot. */
function removeDir(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true })
  } catch (e) {
    console.error(`could not remove ${dir}: ${e.message}`)
  }
}

/** Runs `cleanup` when the run is interrupted (SIGINT, SIGTERM), then re-raises the signal. */
function cleanupOnSignal(cleanup) {
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      cleanup()
      process.kill(process.pid, sig)
    })
  }
}

module.exports = {
  spawnTracked,
  removeDir,
  cleanupOnSignal,
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
  parseArgs,
  selectCases,
  runCases,
  record,
  report,
}
