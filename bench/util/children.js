'use strict'
// Child processes and scratch space of the benchmarks.
// The bench side: resources() holds the children a run started and its scratch directory, and
// gives them back however the run ends; startChild() reads what a child says (JSON lines on
// its stdout) with a deadline; ready() is the handshake of a server or client child.
// The child side (a server or client the bench starts from its own file): say() a JSON line,
// commandsFromStdin(), and exit when stdin ends, so no child outlives the bench.

const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawn } = require('child_process')

/** The repository root: require(ROOT) loads the addon. */
const ROOT = path.resolve(__dirname, '..', '..')

// ---------------------------------------------------------------------------
// the bench side

/**
 * `child_process.spawn`, tracked in the set `children` until it exits (for cleanup on an
 * interrupted run); `child.exited` resolves with { code, signal } or { error }.
 */
function spawnTracked(children, cmd, args, options) {
  const child = spawn(cmd, args, options)
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

const exitOf = (x) => (x.error ? x.error.message : (x.code ?? x.signal))

/**
 * Spawns `cmd args` (tracked in `children`): stdin piped (options.stdin: 'ignore' for none),
 * stdout read line by line, stderr inherited. `what` names it in errors ('the abio server').
 *   child.next(ms = 30000)  its next stdout line, parsed as JSON (options.raw: the line as is);
 *                           rejects when the child ends first or says nothing within `ms`
 *   child.tell(msg)         writes `msg` as one JSON line to its stdin
 *   child.stop()            closes its stdin (the children here exit then; without stdin:
 *                           SIGTERM), SIGKILL after 3 s; resolves once it has ended
 */
function startChild(children, what, cmd, args, { stdin = 'pipe', raw = false } = {}) {
  const child = spawnTracked(children, cmd, args, { stdio: [stdin, 'pipe', 'inherit'] })
  child.what = what
  const lines = []
  let wake = null
  let done = false // no more lines will come
  const end = () => {
    done = true
    if (wake) wake()
  }
  eachLine(child.stdout, (line) => {
    lines.push(line)
    if (wake) wake()
  })
  child.stdout.on('end', end)
  child.exited.then((x) => x.error && end())
  child.next = async (ms = 30000) => {
    const deadline = Date.now() + ms
    while (!lines.length) {
      if (done) {
        const x = await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 1000, {}))])
        throw new Error(`${what} ended (${exitOf(x)}) without answering`)
      }
      if (Date.now() > deadline) throw new Error(`${what} did not answer in ${ms / 1000} s`)
      let timer
      await new Promise((resolve) => {
        wake = resolve
        timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
      })
      clearTimeout(timer)
      wake = null
    }
    const line = lines.shift()
    if (raw) return line
    try {
      return JSON.parse(line)
    } catch {
      throw new Error(`${what} printed ${JSON.stringify(line)}`)
    }
  }
  child.tell = (msg) => child.stdin.write(JSON.stringify(msg) + '\n')
  child.stop = async () => {
    if (child.stdin) child.stdin.end()
    else child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 3000)
    await child.exited
    clearTimeout(t)
  }
  return child
}

/**
 * The handshake of a server or client child: its first line, { port } once it listens (or
 * { ready: true }), or { missing: why } when abio lacks the feature (the child is stopped).
 * Resolves with that message; a child that ends, says anything else or nothing within `ms`
 * is an error, and is killed.
 */
async function ready(child, ms = 30000) {
  try {
    const msg = await child.next(ms)
    if (msg.missing) {
      await child.stop()
      return { missing: msg.missing }
    }
    if (msg.ready !== true && !(Number.isInteger(msg.port) && msg.port > 0))
      throw new Error(`wrong result: ${child.what} said ${JSON.stringify(msg)}, expected its port`)
    return msg
  } catch (e) {
    child.kill('SIGTERM')
    throw e
  }
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

/** Where a benchmark puts its files: BENCH_DIR, or os.tmpdir(). */
function benchDir() {
  return process.env.BENCH_DIR ? path.resolve(process.env.BENCH_DIR) : os.tmpdir()
}

/**
 * What a benchmark run holds and gives back however it ends (cleanup() at its end, after an
 * error, and on SIGINT/SIGTERM): the child processes it started and its scratch directory.
 *   run.children                       the children still running
 *   run.spawn(cmd, args, options)      spawnTracked() into run.children
 *   run.startChild(what, cmd, args, o) startChild() into run.children
 *   run.makeRoot(prefix)               a fresh directory `${prefix}XXXXXX` under benchDir():
 *                                      run.root, returned
 *   run.cleanup({ say })               ends every child, then (when there is a root) says
 *                                      `cleaning up <root> ...` if `say`, runs beforeRemove()
 *                                      (e.g. unmount) and removes run.root
 */
function resources({ beforeRemove } = {}) {
  const children = new Set()
  const run = {
    children,
    root: undefined,
    spawn: (cmd, args, options) => spawnTracked(children, cmd, args, options),
    startChild: (what, cmd, args, options) => startChild(children, what, cmd, args, options),
    makeRoot(prefix) {
      const base = benchDir()
      fs.mkdirSync(base, { recursive: true })
      run.root = fs.mkdtempSync(path.join(base, prefix))
      return run.root
    },
    cleanup({ say = false } = {}) {
      for (const c of children) {
        try {
          c.kill('SIGTERM')
        } catch {}
      }
      children.clear()
      if (!run.root) return
      const r = run.root
      run.root = undefined
      if (say) console.log(`\ncleaning up ${r} ...`)
      if (beforeRemove) beforeRemove()
      removeDir(r)
    },
  }
  cleanupOnSignal(run.cleanup)
  return run
}

// ---------------------------------------------------------------------------
// the child side, and what both sides need

/** Child side: `msg` as one JSON line on stdout (the bench reads it with child.next()). */
function say(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n')
}

/** Child side: calls `onLine(obj)` for each JSON line on stdin; exits when stdin ends. */
function commandsFromStdin(onLine = () => {}) {
  eachLine(process.stdin, (line) => line && onLine(JSON.parse(line)))
  process.stdin.on('end', () => process.exit(0))
}

/** Calls `onLine(line)` for each whole line (without its newline) the readable `stream` gives, read as UTF-8. */
function eachLine(stream, onLine) {
  let buf = ''
  stream.setEncoding('utf8')
  stream.on('data', (d) => {
    buf += d
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      onLine(line)
    }
  })
}

/**
 * The addon: { abio }, or { missing: why } when it does not load or, given `needs` (a
 * function's name), does not have that function yet.
 */
function loadAbio(needs) {
  let abio
  try {
    abio = require(ROOT)
  } catch (e) {
    return { missing: `the addon does not load: ${String(e.message).split('\n')[0]}` }
  }
  if (needs && typeof abio[needs] !== 'function') return { missing: `abio.${needs} is not there yet` }
  return { abio }
}

/** An abio call refusing an option as not supported yet (ABIO_ERR_INVALID_ARG, "... yet"). */
function notYet(e) {
  return !!e && e.code === 'ABIO_ERR_INVALID_ARG' && /\byet\b/.test(e.message)
}

module.exports = {
  spawnTracked,
  startChild,
  ready,
  removeDir,
  cleanupOnSignal,
  benchDir,
  resources,
  say,
  commandsFromStdin,
  eachLine,
  loadAbio,
  notYet,
}
