'use strict'
// The benchmark scripts' command line, their cases, and their main().

const { now, since } = require('./timing')
const { fmtSeconds } = require('./format')

/**
 * The command line every benchmark takes: [--quick|-q] [--reps N] [--verbose|-v] [--help|-h] [case ...],
 * and with options.duration its --duration S (seconds each timed run lasts): 'whole' takes whole
 * seconds, 1 to 600 (wrk's -d), 'seconds' any number above 0 up to 600.
 * Returns { quick, reps, duration, cases, help, verbose }; a bad option or value goes to fail(message).
 */
function parseArgs(argv, fail, { duration: durationKind } = {}) {
  const opts = { quick: false, reps: undefined, duration: undefined, cases: [], help: false, verbose: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick' || a === '-q') opts.quick = true
    else if (a === '--help' || a === '-h') opts.help = true
    else if (a === '--verbose' || a === '-v') opts.verbose = true
    else if (a === '--reps') opts.reps = Number(argv[++i])
    else if (a.startsWith('--reps=')) opts.reps = Number(a.slice(7))
    else if (durationKind && a === '--duration') opts.duration = Number(argv[++i])
    else if (durationKind && a.startsWith('--duration=')) opts.duration = Number(a.slice(11))
    else if (a.startsWith('-')) fail(`unknown option ${a}`)
    else opts.cases.push(a)
  }
  if (opts.reps !== undefined && !(Number.isInteger(opts.reps) && opts.reps >= 1))
    fail('--reps needs a whole number >= 1')
  const d = opts.duration
  if (d !== undefined && durationKind === 'whole' && !(Number.isInteger(d) && d >= 1 && d <= 600))
    fail('--duration needs a whole number of seconds, >= 1 and <= 600 (wrk takes whole seconds)')
  if (d !== undefined && durationKind === 'seconds' && !(d > 0 && d <= 600))
    fail('--duration needs a number of seconds, > 0 and <= 600')
  return opts
}

/**
 * The command line of the benchmark `script` ('bench/http.js'): { opts } as parseArgs() reads
 * process.argv (`options` as its), and fail(message), which says `${script}: message (try --help)`
 * and exits with code 2.
 */
function commandLine(script, options) {
  const fail = (msg) => {
    console.error(`${script}: ${msg} (try --help)`)
    process.exit(2)
  }
  return { opts: parseArgs(process.argv.slice(2), fail, options), fail }
}

/**
 * Prints a benchmark's --help: the usage line (with --duration S when `duration`), each case's
 * id and title, then `notes` after an empty line.
 */
function printHelp(script, cases, { duration = false, notes } = {}) {
  const log = (...args) => console.log(...args)
  log(`usage: node ${script} [--quick] [--reps N]${duration ? ' [--duration S]' : ''} [--verbose] [case ...]

cases (a unique prefix is enough):`)
  const width = Math.max(...cases.map((c) => c.id.length)) + 1
  for (const c of cases) log(`  ${c.id.padEnd(width)} ${c.title()}`)
  if (notes) log(`\n${notes}`)
}

/**
 * Runs a benchmark's `main` (async); when it throws, runs `cleanup` (if given), prints the error
 * and sets exit code 1.
 */
function runMain(main, cleanup) {
  main().catch((e) => {
    if (cleanup) cleanup()
    console.error(e)
    process.exitCode = 1
  })
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
 * next one runs. Returns what report() takes of the run: { rows, errors: [{ case, error }],
 * started (a now() value: when the first case began) }.
 */
async function runCases(cases, rows) {
  const started = now()
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
  return { rows, errors, started }
}

module.exports = { parseArgs, commandLine, printHelp, selectCases, runCases, runMain }
