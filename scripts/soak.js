'use strict'
// `npm run soak`: proof that abio holds up under churn and load, with real files and sockets.
//
//   npm run soak                                  the full run (about 3 minutes; wrk for 60 s)
//   npm run soak -- --quick                       smaller counts, wrk for 5 s (under a minute)
//   options: --duration S (wrk seconds), --ws-seconds S, --ws-clients N, --only mem,http,ws,churn,exit
//
// Checks, each in child processes of its own (scripts/soak/*.js):
//   memory flat  200k small file round trips, 200k pack/unpack, 100k TCP frames, 100k HTTP
//                requests, 100k WebSocket messages, one process each (--expose-gc): RSS growth
//                after a warm-up part < 40 MiB, and the descriptor count back where it was
//                without a forced GC (scripts/soak/mem.js says exactly what is counted)
//   load         wrk -t2 -c256 -d60s against an abio HTTP server rotating over a bytes route, a
//                fetch handler, a file route, a 404 and a deliberate 500 (scripts/soak/wrk.lua);
//                1000 `ws` clients echoing against an abio WebSocket server for 30 s, ending
//                their connections abruptly or properly at random and reconnecting
//   churn        100 worker_threads (20 at a time) load abio, serve, request, echo over a
//                WebSocket, read a file, and are terminated mid-traffic, terminated idle, or end
//                by themselves; then no descriptor and no listening port of theirs may remain.
//                A process that closed its last server must exit within 1 s
// Prints the command, progress lines, then one table with a row per check; exits 1 if any
// check failed (a crash, a wrong byte, a leaked descriptor, memory over its bound, ...).

const fs = require('fs')
const os = require('os')
const path = require('path')
const cp = require('child_process')
const { MiB, fmtMiB, fmtSigned, fmtRate } = require('./soak/common')
const { eachLine } = require('../bench/util/children')

const SOAK = path.join(__dirname, 'soak')
const RSS_BOUND = 40 * MiB // growth allowed after warm-up (memory flat) or after the 10 s mark (load)
const WORKER_RSS_BOUND = 100 * MiB // 100 workers: < 1 MiB each, as __test__/lifecycle.test.js asks of 40
const EXIT_BOUND_MS = 1000
const FD_WAIT_MS = 10000 // how long a server may take to release the descriptors of closed connections

// ---------------------------------------------------------------------------
// command line

const argv = process.argv.slice(2)
function option(name, fallback) {
  const i = argv.indexOf(name)
  if (i < 0) return fallback
  const v = Number(argv[i + 1])
  if (!(Number.isInteger(v) && v > 0)) usage(`${name} needs a positive whole number`)
  return v
}
function usage(msg) {
  if (msg) console.error(`scripts/soak.js: ${msg}`)
  console.error(
    'usage: node --expose-gc scripts/soak.js [--quick] [--duration S] [--ws-seconds S] [--ws-clients N] [--only mem,http,ws,churn,exit]',
  )
  process.exit(2)
}
if (argv.includes('--help') || argv.includes('-h')) usage()
const QUICK = argv.includes('--quick')
const cfg = {
  files: QUICK ? 20000 : 200000,
  pack: QUICK ? 20000 : 200000,
  tcp: QUICK ? 10000 : 100000,
  http: QUICK ? 10000 : 100000,
  ws: QUICK ? 10000 : 100000,
  wrkSeconds: option('--duration', QUICK ? 5 : 60),
  wsSeconds: option('--ws-seconds', QUICK ? 5 : 30),
  wsClients: option('--ws-clients', QUICK ? 500 : 1000),
  workers: QUICK ? 20 : 100,
  workersAtOnce: QUICK ? 10 : 20,
}
const onlyArg = argv.includes('--only') ? String(argv[argv.indexOf('--only') + 1] || '') : ''
const only = onlyArg ? onlyArg.split(',') : null
const wanted = (group) => !only || only.some((o) => group.startsWith(o))

// ---------------------------------------------------------------------------
// children

const children = new Set()
let tmp

function cleanup() {
  for (const ch of children) {
    try {
      ch.kill('SIGKILL')
    } catch {}
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  tmp = undefined
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    cleanup()
    process.kill(process.pid, sig)
  })
}

/**
 * Spawns `cmd args`; JSON lines on its stdout go to `onLine(obj, atMs)` and to `lines`, other
 * stdout lines to `text`; stderr is kept. `exited` resolves with { code, signal } (a child
 * still running after `timeoutMs` is killed and marked timedOut).
 */
function start(cmd, args, { onLine, timeoutMs = 600000, stdin = 'ignore' } = {}) {
  const child = cp.spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'] })
  children.add(child)
  const run = { child, lines: [], text: [], stderr: '', timedOut: false }
  child.on('error', (e) => (run.stderr += `spawn ${cmd}: ${e.message}\n`)) // 'close' follows
  eachLine(child.stdout, (line) => {
    let obj
    try {
      obj = line.startsWith('{') ? JSON.parse(line) : undefined
    } catch {}
    if (obj === undefined) run.text.push(line)
    else {
      run.lines.push(obj)
      if (onLine) onLine(obj, Date.now())
    }
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => {
    if (run.stderr.length < 20000) run.stderr += d
  })
  const timer = setTimeout(() => {
    run.timedOut = true
    child.kill('SIGKILL')
  }, timeoutMs)
  run.exited = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      run.code = code
      run.signal = signal
      resolve(run)
    })
  })
  return run
}

const node = (script, args, opts) => start(process.execPath, ['--expose-gc', path.join(SOAK, script), ...args], opts)

/** Resolves with the first JSON line `pred` accepts, or rejects when the child ends first or after `ms`. */
async function waitLine(run, pred, ms, what) {
  const t0 = Date.now()
  for (;;) {
    const hit = run.lines.find(pred)
    if (hit) return hit
    if (run.code !== undefined || run.signal) throw new Error(`ended (${describeExit(run)}) before ${what}`)
    if (Date.now() - t0 > ms) throw new Error(`no ${what} within ${ms / 1000} s`)
    await sleep(20)
  }
}

/** "exit 1: Error: ..." from a child's exit status and the first error line of its stderr. */
function describeExit(run) {
  const how = run.timedOut ? 'timed out' : run.signal ? `killed by ${run.signal}` : `exit ${run.code}`
  const err = crashLine(run.stderr)
  return err ? `${how}: ${err}` : how
}
function crashLine(stderr) {
  const lines = String(stderr || '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  return (
    lines.find((l) => /^(\w*Error|Uncaught|FATAL|fatal|thread '|panicked|terminate called|Segmentation)/.test(l)) ||
    lines[0]
  )
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const kfmt = (n) => (n >= 1000 ? `${n / 1000}k` : String(n))
const fmtMs = (ms) => `${Math.round(ms)} ms`

// ---------------------------------------------------------------------------
// checks: each returns a row { check, rate, memory, fds, notes, ok }

const rows = []
/** The memory and fds columns of a load row: the server process's RSS samples and descriptors. */
function serverColumns(mem, fdsBefore, fdsAfter) {
  return {
    memory: mem
      ? `server RSS peak ${fmtMiB(mem.peak)}, final ${fmtMiB(mem.final)}, ${fmtSigned(mem.growth)} after ${mem.markS} s`
      : '',
    fds:
      `server fds ${fdsBefore} -> ${Number.isNaN(fdsAfter.fds) ? '?' : fdsAfter.fds}` +
      (fdsAfter.afterGc !== undefined ? ` (${fdsAfter.afterGc} after GC)` : ''),
  }
}

function row(r) {
  rows.push(r)
  console.log(`  -> ${r.ok ? 'ok' : 'FAIL'}: ${[r.rate, r.memory, r.fds, r.notes].filter(Boolean).join(' | ')}`)
}

const MEM_WORKLOADS = [
  ['files', 'file round trips', 'abio.writeFile + abio.readFile, 0.5-1.5 KiB, 8 at once over 256 paths'],
  ['pack', 'pack/unpack', 'pack, packInto, unpack of 4 typed arrays, values checked'],
  ['tcp', 'TCP frames', 'listen + connect, frames of 4 B-4 KiB echoed, 32 in flight, 1000 per connection'],
  ['http', 'HTTP requests', 'serve + request, keep-alive, 32 in flight: a bytes route, fetch GET, fetch POST echo'],
  ['ws', 'WebSocket messages', 'serve + connectWebSocket echo, text and binary, 32 in flight, 5000 per connection'],
]

/**
 * The result line of a finished child (the first that `isResult` accepts), or null after a
 * failed row for `check` when the child crashed or reported a fatal error instead.
 */
function resultOf(run, check, isResult) {
  const r = run.lines.find((l) => l.fatal || isResult(l)) || {}
  if (run.code === 0 && !r.fatal && isResult(r)) return r
  row({ check, notes: r.fatal ? `failed: ${r.fatal.split('\n')[0]}` : `crashed (${describeExit(run)})`, ok: false })
  return null
}

async function memoryFlat(workload, title, what) {
  const count = cfg[workload]
  const check = `memory: ${kfmt(count)} ${title}`
  console.log(`\n${check} (${what})`)
  const run = await node('mem.js', [workload, String(count), fs.mkdtempSync(path.join(tmp, workload + '-'))], {
    timeoutMs: 600000,
  }).exited
  const r = resultOf(run, check, (l) => l.workload === workload && l.rate !== undefined)
  if (!r) return
  const growth = r.rssEnd - r.rssStart
  const fdsOk = r.fdsNoGc === r.fdsStart && r.fdsEnd === r.fdsStart
  const notes = [`peak fds ${r.peakFds}`]
  if (r.fdsNoGc !== r.fdsStart) notes.push(`without GC: +${r.fdDiff ? r.fdDiff.added : '?'} held`)
  if (r.problems.length) notes.push(`${r.problems.length}+ wrong: ${r.problems[0]}`)
  row({
    check,
    rate: fmtRate(r.rate),
    memory: `RSS ${fmtSigned(growth)} (${fmtMiB(r.rssStart)} -> ${fmtMiB(r.rssEnd)})`,
    fds:
      r.fdsNoGc === r.fdsEnd
        ? `fds ${r.fdsStart} -> ${r.fdsEnd}`
        : `fds ${r.fdsStart} -> ${r.fdsNoGc} (${r.fdsEnd} after GC)`,
    notes: notes.join('; '),
    ok: growth < RSS_BOUND && fdsOk && r.problems.length === 0,
  })
}

/** RSS samples [{ at, rss }] during [from, to]: peak, the last one, and the growth from `mark` on. */
function rssFigures(samples, from, to, mark) {
  const during = samples.filter((s) => s.at >= from && s.at <= to + 1500)
  if (during.length === 0) return null
  const atMark = during.find((s) => s.at >= mark) || during[0]
  const last = during[during.length - 1]
  const peak = Math.max(...during.map((s) => s.rss))
  return { peak, final: last.rss, growth: last.rss - atMark.rss, markS: Math.round((mark - from) / 1000) }
}

/** Waits until a server's reports show `fds === want` (no GC asked); then, if not, asks for a GC. */
async function serverFdsBack(run, reports, want) {
  const t0 = Date.now()
  while (Date.now() - t0 < FD_WAIT_MS) {
    const last = reports[reports.length - 1]
    if (last && last.at > t0 && last.fds === want) return { fds: last.fds, waited: Date.now() - t0 }
    if (run.code !== undefined) return { fds: NaN }
    await sleep(250)
  }
  const noGc = reports[reports.length - 1].fds
  const before = reports.length
  run.child.stdin.write('gc\n')
  for (let i = 0; i < 40 && reports.length === before; i++) await sleep(100)
  return { fds: noGc, afterGc: reports[reports.length - 1].fds }
}

async function httpLoad() {
  const check = `load: wrk -t2 -c256 -d${cfg.wrkSeconds}s`
  console.log(`\n${check} (rotating over a bytes route, a fetch handler, a file route, a 404 and a deliberate 500)`)
  const reports = []
  const server = node('http-server.js', [fs.mkdtempSync(path.join(tmp, 'http-'))], {
    stdin: 'pipe',
    onLine: (l, at) => l.rss !== undefined && l.t !== undefined && reports.push({ ...l, at }),
    timeoutMs: (cfg.wrkSeconds + 120) * 1000,
  })
  const fail = (notes) => row({ check, notes, ok: false })
  let hello
  try {
    hello = await waitLine(server, (l) => l.port, 30000, 'port from the server')
    await waitLine(server, (l) => l.fds !== undefined, 5000, 'first report from the server')
  } catch (e) {
    server.child.kill('SIGKILL')
    return fail(`server: ${e.message}`)
  }
  const fdsBefore = reports[reports.length - 1].fds
  const sizes = Object.entries(hello.sizes).map(([k, v]) => `${k}=${v}`)
  const wrkArgs = ['-t2', '-c256', `-d${cfg.wrkSeconds}s`, '-s', path.join(SOAK, 'wrk.lua')]
  wrkArgs.push(`http://127.0.0.1:${hello.port}`, '--', ...sizes)
  console.log(`  wrk ${wrkArgs.join(' ')}`)
  const wrkStart = Date.now()
  const wrk = await start('wrk', wrkArgs, { timeoutMs: (cfg.wrkSeconds + 60) * 1000 }).exited
  const wrkEnd = Date.now()
  const serverDied = server.code !== undefined
  const tallyLine = wrk.text.find((l) => l.startsWith('SOAK_TALLY '))
  const out = wrk.text.join('\n')
  if (wrk.code !== 0 || !tallyLine) {
    server.child.kill('SIGKILL')
    await server.exited
    return fail(`wrk ${describeExit(wrk)}${serverDied ? `; server ${describeExit(server)}` : ''}: ${out.slice(-300)}`)
  }
  const tally = JSON.parse(tallyLine.slice('SOAK_TALLY '.length))
  const mark = wrkStart + Math.min(10000, (cfg.wrkSeconds * 1000) / 2)
  const mem = rssFigures(reports, wrkStart, wrkEnd, mark)

  // descriptors: the server's count must return to what it was before wrk connected
  const fdsAfter = serverDied ? { fds: NaN } : await serverFdsBack(server, reports, fdsBefore)
  let closedOk = false
  if (server.code === undefined) {
    server.child.stdin.write('close\n')
    const ended = await Promise.race([server.exited, sleep(10000).then(() => null)])
    closedOk = ended !== null && ended.code === 0 && ended.lines.some((l) => l.closed)
    if (!ended) server.child.kill('SIGKILL')
  }
  await server.exited

  const want = { 'bytes 200': 1, 'fetch 200': 1, 'file 200': 1, 'missing 404': 1, 'fail 500': 1 }
  const counts = tally.counts
  const unexpected = Object.keys(counts).filter((k) => !want[k])
  const missing = Object.keys(want).filter((k) => !counts[k])
  const sum = Object.values(counts).reduce((a, b) => a + b, 0)
  const deliberate = (counts['missing 404'] || 0) + (counts['fail 500'] || 0)
  const e = tally.errors
  const socketErrors = e.connect + e.read + e.write + e.timeout
  const problems = []
  if (serverDied) problems.push(`server ${describeExit(server)}`)
  else if (!closedOk) problems.push(`server did not close and exit cleanly (${describeExit(server)})`)
  if (unexpected.length) problems.push(`unexpected answers: ${unexpected.map((k) => `${k} x${counts[k]}`).join(', ')}`)
  if (missing.length) problems.push(`never answered: ${missing.join(', ')}`)
  if (tally.badLength) problems.push(`${tally.badLength} bodies of the wrong length`)
  if (socketErrors)
    problems.push(`socket errors: connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`)
  if (e.status !== deliberate) problems.push(`${e.status} non-2xx/3xx, ${deliberate} deliberate`)
  if (sum !== tally.requests) problems.push(`${tally.requests} requests, ${sum} tallied`)
  if (!serverDied) {
    if (!mem) problems.push('no RSS samples from the server')
    else if (mem.growth >= RSS_BOUND) problems.push(`RSS grew ${fmtMiB(mem.growth)} after the ${mem.markS} s mark`)
    if (fdsAfter.fds !== fdsBefore) problems.push('descriptors of closed connections not released')
  }
  const seconds = tally.durationUs / 1e6
  const status = ['200', '404', '500']
    .map(
      (s) =>
        `${s}: ${Object.keys(counts)
          .filter((k) => k.endsWith(' ' + s))
          .reduce((a, k) => a + counts[k], 0)}`,
    )
    .join(', ')
  row({
    check,
    rate: `${fmtRate(tally.requests / seconds).replace('/s', ' req/s')}`,
    ...serverColumns(mem, fdsBefore, fdsAfter),
    notes: [
      ...problems,
      `${status}; socket errors ${socketErrors}; p99 ${(tally.latencyP99Us / 1000).toFixed(1)} ms`,
    ].join('; '),
    ok: problems.length === 0,
  })
}

/** The soft RLIMIT_NOFILE of processes started from here. */
function fdLimit() {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))
  return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : NaN
}

async function wsLoad() {
  const n = cfg.wsClients
  const check = `load: ${n} ws clients, ${cfg.wsSeconds} s`
  console.log(`\n${check} (echoes checked; connections end by terminate, socket.destroy or close, and reconnect)`)
  const limit = fdLimit()
  const perProcess = Math.ceil(n / 2)
  if (!(limit > n + 200)) {
    return row({
      check,
      notes: `ulimit -n is ${limit}: too low for ${n} connections (raise it, or --ws-clients)`,
      ok: false,
    })
  }
  const reports = []
  const server = node('ws-server.js', [], {
    stdin: 'pipe',
    onLine: (l, at) => l.rss !== undefined && l.t !== undefined && reports.push({ ...l, at }),
    timeoutMs: (cfg.wsSeconds + 180) * 1000,
  })
  let hello
  try {
    hello = await waitLine(server, (l) => l.port, 30000, 'port from the server')
    await waitLine(server, (l) => l.fds !== undefined, 5000, 'first report from the server')
  } catch (e) {
    server.child.kill('SIGKILL')
    return row({ check, notes: `server: ${e.message}`, ok: false })
  }
  const fdsBefore = reports[reports.length - 1].fds
  const url = `ws://127.0.0.1:${hello.port}/`
  const t0 = Date.now()
  const clients = [0, 1].map((i) =>
    node('ws-clients.js', [url, String(i ? n - perProcess : perProcess), String(cfg.wsSeconds), String(i + 1)], {
      timeoutMs: (cfg.wsSeconds + 60) * 1000,
    }),
  )
  const done = await Promise.all(clients.map((ch) => ch.exited))
  const tEnd = Date.now()
  const serverDied = server.code !== undefined

  // steady state: from 3 s in (after the ramp-up) to 1 s before the clients wind down
  const steady = reports.filter((r) => r.at >= t0 + 3000 && r.at <= t0 + cfg.wsSeconds * 1000 - 1000)
  const openMin = steady.length ? Math.min(...steady.map((r) => r.open)) : NaN
  const openMax = steady.length ? Math.max(...steady.map((r) => r.open)) : NaN
  const mem = rssFigures(reports, t0, tEnd, t0 + Math.min(10000, (cfg.wsSeconds * 1000) / 2))

  // every connection gone: the server saw each close, and its descriptors are back
  let allClosed = false
  for (let i = 0; i < FD_WAIT_MS / 250 && !serverDied && server.code === undefined; i++) {
    const last = reports[reports.length - 1]
    if (last.at > tEnd && last.open === 0) {
      allClosed = true
      break
    }
    await sleep(250)
  }
  const fdsAfter = server.code === undefined ? await serverFdsBack(server, reports, fdsBefore) : { fds: NaN }
  const lastReport = reports[reports.length - 1] || {}
  let closedOk = false
  if (server.code === undefined) {
    server.child.stdin.write('close\n')
    const ended = await Promise.race([server.exited, sleep(10000).then(() => null)])
    closedOk = ended !== null && ended.code === 0 && ended.lines.some((l) => l.closed)
    if (!ended) server.child.kill('SIGKILL')
  }
  await server.exited

  const sum = { connects: 0, echoes: 0, wrongEcho: 0, lostEcho: 0, errors: 0, unexpectedClose: 0, badCloseCode: 0 }
  const endings = { terminate: 0, destroy: 0, close: 0 }
  const firstProblems = []
  const problems = []
  for (const [i, run] of done.entries()) {
    const d = run.lines.find((l) => l.done)
    if (!d) {
      problems.push(`client process ${i + 1} ${describeExit(run)}`)
      continue
    }
    for (const k of Object.keys(sum)) sum[k] += d[k]
    for (const k of Object.keys(endings)) endings[k] += d.endings[k]
    firstProblems.push(...d.firstProblems)
  }
  if (serverDied) problems.unshift(`server ${describeExit(server)}`)
  else if (!closedOk) problems.push(`server did not close and exit cleanly (${describeExit(server)})`)
  // After a server crash the clients' connection errors are its echo: only wrong bytes still tell more.
  const kinds = serverDied ? ['wrongEcho'] : ['wrongEcho', 'lostEcho', 'errors', 'unexpectedClose', 'badCloseCode']
  if (kinds.some((k) => sum[k])) {
    const parts = kinds.filter((k) => sum[k])
    const first = serverDied ? firstProblems.find((p) => p.startsWith('echo')) : firstProblems[0]
    problems.push(`clients saw ${parts.map((k) => `${k} ${sum[k]}`).join(', ')} (first: ${first})`)
  }
  if (sum.echoes === 0 && !serverDied) problems.push('no echo at all')
  if (!serverDied) {
    if (!allClosed) problems.push(`server still counts ${lastReport.open} open connections`)
    if (!mem) problems.push('no RSS samples from the server')
    else if (mem.growth >= RSS_BOUND) problems.push(`RSS grew ${fmtMiB(mem.growth)} after the ${mem.markS} s mark`)
    if (fdsAfter.fds !== fdsBefore) problems.push('descriptors of closed connections not released')
  }
  const secs = (tEnd - t0) / 1000
  row({
    check,
    rate: `${fmtRate(sum.echoes / secs).replace('/s', ' echoes/s')}`,
    ...serverColumns(mem, fdsBefore, fdsAfter),
    notes: [
      ...problems,
      `${sum.connects} connections` +
        (steady.length ? ` (${openMin}-${openMax} open)` : '') +
        `, ended by ${endings.terminate} terminate, ${endings.destroy} destroy, ${endings.close} close`,
    ].join('; '),
    ok: problems.length === 0,
  })
}

async function churn() {
  const check = `churn: ${cfg.workers} workers, ${cfg.workersAtOnce} at once`
  console.log(
    `\n${check} (worker_threads: serve, request, WebSocket echo, file read; terminated mid-traffic, terminated idle, or ending by themselves)`,
  )
  const run = await node(
    'workers.js',
    [String(cfg.workers), String(cfg.workersAtOnce), fs.mkdtempSync(path.join(tmp, 'workers-'))],
    { timeoutMs: 300000 },
  ).exited
  const r = resultOf(run, check, (l) => l.workers !== undefined)
  if (!r) return
  const growth = r.rssEnd - r.rssStart
  const problems = [...r.problems]
  if (r.fdsNoGc !== r.fdsStart || r.fdsEnd !== r.fdsStart)
    problems.push(`descriptors not released: +${r.fdDiff ? r.fdDiff.added : '?'}`)
  if (growth >= WORKER_RSS_BOUND) problems.push(`RSS grew ${fmtMiB(growth)}`)
  row({
    check,
    rate: `${(r.workers / r.seconds).toFixed(1)} workers/s`,
    memory: `RSS ${fmtSigned(growth)} (${fmtMiB(r.rssStart)} -> ${fmtMiB(r.rssEnd)})`,
    fds:
      r.fdsNoGc === r.fdsEnd
        ? `fds ${r.fdsStart} -> ${r.fdsEnd}`
        : `fds ${r.fdsStart} -> ${r.fdsNoGc} (${r.fdsEnd} after GC)`,
    notes: [
      ...problems.slice(0, 3),
      ...(problems.length > 3 ? [`and ${problems.length - 3} more`] : []),
      `${r.terminated} terminated mid-traffic, ${r.idle} terminated idle, ${r.finished} ended by themselves (slowest ${r.maxSelfExitMs} ms)`,
    ].join('; '),
    ok: problems.length === 0,
  })
}

async function exitAfterClose() {
  const check = 'churn: exit after the last close()'
  console.log(`\n${check} (3 processes: serve + listen, used, closed; time from "closed" to exit)`)
  const lags = []
  const problems = []
  for (let i = 0; i < 3; i++) {
    let closedAt
    const run = node('exit.js', [fs.mkdtempSync(path.join(tmp, 'exit-'))], {
      onLine: (l, at) => l.closed && (closedAt = at),
      timeoutMs: 30000,
    })
    // 'exit', not 'close': the moment the process ended, not when its pipes drained
    const exitedAt = await new Promise((resolve) => run.child.once('exit', () => resolve(Date.now())))
    await run.exited
    const closed = run.lines.find((l) => l.closed)
    if (!closed || run.code !== 0) {
      problems.push(`run ${i + 1}: ${closed ? describeExit(run) : `no "closed" line (${describeExit(run)})`}`)
      continue
    }
    if (closed.problems.length) problems.push(`run ${i + 1}: wrong ${closed.problems.join(', ')}`)
    lags.push(exitedAt - closedAt)
  }
  const worst = lags.length ? Math.max(...lags) : NaN
  if (worst >= EXIT_BOUND_MS) problems.push(`took ${worst} ms (bound ${EXIT_BOUND_MS} ms)`)
  row({
    check,
    rate: lags.length ? `exit ${fmtMs(worst)} after close` : '',
    notes: [...problems, `runs: ${lags.map(fmtMs).join(', ')}`].join('; '),
    ok: problems.length === 0 && lags.length === 3,
  })
}

// ---------------------------------------------------------------------------

function printTable() {
  const head = ['check', 'rate', 'memory', 'fds', 'notes', 'result']
  const body = rows.map((r) => [
    r.check,
    r.rate || '',
    r.memory || '',
    r.fds || '',
    r.notes || '',
    r.ok ? 'ok' : 'FAIL',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  console.log(line(head))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const b of body) console.log(line(b))
}

function wrkVersion() {
  const r = cp.spawnSync('wrk', ['-v'], { encoding: 'utf8' })
  if (r.error) return null
  return (r.stdout.split('\n')[0] || 'wrk').replace(/\s*\[.*$/, '').replace(/\s*Copyright.*$/, '')
}

async function main() {
  const cmd = ['node', ...process.execArgv, path.relative(process.cwd(), __filename) || __filename, ...argv]
  console.log(`$ ${cmd.join(' ')}`)
  const wrkV = wrkVersion()
  console.log(
    `abio soak${QUICK ? ' (--quick)' : ''}: node ${process.version}, ${os.cpus().length} cores, ` +
      `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ulimit -n ${fdLimit()}, ${wrkV || 'no wrk'}, ${new Date().toISOString()}`,
  )
  const t0 = Date.now()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-soak-'))
  try {
    if (wanted('mem')) for (const [w, title, what] of MEM_WORKLOADS) await memoryFlat(w, title, what)
    if (wanted('http')) {
      if (wrkV) await httpLoad()
      else row({ check: 'load: wrk against abio serve', notes: 'wrk not found (apt-get install wrk)', ok: false })
    }
    if (wanted('ws')) await wsLoad()
    if (wanted('churn')) await churn()
    if (wanted('exit') || wanted('churn')) await exitAfterClose()
  } finally {
    cleanup()
  }
  const failed = rows.filter((r) => !r.ok).length
  console.log(
    `\nabio soak: ${rows.length - failed} of ${rows.length} checks ok, wall time ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
  )
  printTable()
  console.log(
    '\nfds: descriptors open in the process (entries of /proc/<pid>/fd: files, sockets, pipes, epoll/eventfd; not the one\n' +
      'the listing itself opens); a -> b: quiescent after the warm-up (or before the load) -> after everything closed,\n' +
      'polled without forcing a GC (3 s, servers 10 s); "(n after GC)": what a forced GC released on top.',
  )
  process.exitCode = failed ? 1 : 0
}

main().catch((e) => {
  cleanup()
  console.error(e)
  process.exitCode = 1
})
