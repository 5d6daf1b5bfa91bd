'use strict'
// Timing: the clock, medians, and interleave(), which runs contenders in turn (A, B, A, B, ...)
// in one process; every figure a benchmark reports is a median of its repetitions.

const v8 = require('v8')
const vm = require('vm')
const { fmtSeconds } = require('./format')

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
 * { times: number[] (seconds, or the contender's figures), median: number }.
 *
 * contenders: { [name]: { run(rep), before?(rep), after?(rep, result), figure?(result, seconds) } }
 *   run     the timed work (sync or async); its result is passed to `after`
 *   before  untimed set-up for this repetition (e.g. make a fresh directory)
 *   after   untimed check or clean-up of this repetition
 *   figure  what is recorded for a repetition instead of its wall time `seconds`, when the
 *           figure is in run()'s result (e.g. a load generator's own report: seconds per
 *           request) or is per unit of work (seconds / frames sent); after() has checked it
 * options:  { reps, warmup = 0, gc = true, budget?, minReps = 3, onRep?(rep, name, seconds, figure) }
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
      if (rep >= 0) {
        const figure = c.figure ? c.figure(result, seconds) : seconds
        out[name].times.push(figure)
        if (onRep) onRep(rep, name, seconds, figure)
      }
      result = null
    }
  }
  for (const name of names) out[name].median = median(out[name].times)
  out.reps = reps
  return out
}

/**
 * interleave() over contenders that are started first (servers, client processes), in the
 * order of `names`: start(name) resolves with a handle ({ stop(), ... }), or { missing: why }
 * when abio lacks the feature (its row then shows the other figure alone); the contender
 * named `need` must start. Each started one is checked and warmed up by warm(name, handle),
 * then contender(name, handle) is its interleave() contender; a warm() resolving with
 * { skip: why } leaves that contender out (stopped, and in `missing`), for a contender shown
 * for information that cannot do the job (never the one named `need`). Every handle is
 * stopped at the end, however the case ends. Resolves with interleave()'s result and
 * missing: { [name]: why }.
 */
async function interleaveStarted(names, { start, need, warm, contender }, options) {
  const started = {}
  const missing = {}
  try {
    for (const name of names) {
      const h = await start(name)
      if (h.missing) missing[name] = h.missing
      else started[name] = h
    }
    if (!started[need]) throw new Error(`the ${need} contender did not start: ${missing[need]}`)
    for (const [name, h] of Object.entries(started)) {
      const w = await warm(name, h)
      if (w && w.skip) {
        if (name === need) throw new Error(`the ${need} contender cannot run: ${w.skip}`)
        missing[name] = w.skip
        delete started[name]
        await h.stop()
      }
    }
    const contenders = {}
    for (const [name, h] of Object.entries(started)) contenders[name] = contender(name, h)
    return { ...(await interleave(contenders, options)), missing }
  } finally {
    for (const h of Object.values(started)) await h.stop()
  }
}

/**
 * interleave()'s usual progress callbacks: onRep prints each repetition's time (with
 * --verbose, `verbose` true), onReduce says when a time budget cut the repetitions.
 */
function progress(verbose) {
  return {
    onRep(rep, name, seconds) {
      if (verbose) console.log(`    rep ${rep + 1} ${name}: ${fmtSeconds(seconds)}`)
    },
    onReduce(reps, perRep) {
      console.log(
        `  (one repetition takes ${fmtSeconds(perRep)}: running ${reps} repetitions to stay within the time budget)`,
      )
    },
  }
}

module.exports = { now, since, timeIt, gc, median, interleave, interleaveStarted, progress }
