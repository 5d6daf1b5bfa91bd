'use strict'
// HTTP benchmarks: abio's serve() against Node's http.createServer, loaded by wrk over
// loopback. Each server runs in its own child process (this file, started with --server), so
// this process only starts the servers and drives wrk; the servers are started once per case,
// checked, warmed up with a 1 s wrk run, then wrk runs against them in turn (abio, node, abio,
// node, ...), a fresh wrk run per repetition; the figures are wrk's requests per second,
// medians of the repetitions.
//
//   node bench/http.js                    every case (about 2 minutes)
//   node bench/http.js --quick            a fast smoke run (2 s per wrk run)
//   node bench/http.js small ...          only the named cases (see --help; a prefix is enough)
//   node bench/http.js --reps 5           override the number of repetitions of every case
//   node bench/http.js --duration 10      seconds each timed wrk run lasts (default 5; 2 with --quick)
//   BENCH_DIR=/some/dir node bench/http.js  where the file route's file goes (default: os.tmpdir())
//
// Cases: GET a 64 KiB and a 16 B route (answered in Rust) against `http.createServer` answering
// a prebuilt Buffer; GET through a JS `fetch` handler answering 16 B, against the same Node
// server (measured in the same repetitions as the 16 B route); GET a 1 MiB file route against
// `fs.createReadStream(path).pipe(res)`. wrk: -t2 -c64, keep-alive.
//
// Correctness first: each server's URL is fetched once with Node's http client (status 200,
// content-length, the exact body bytes), and every wrk run is checked: no socket errors, no
// non-2xx/3xx responses, and at least (requests x body size) bytes read. Where abio does not
// have the feature yet (serve() throws an ABIO_ERR_INVALID_ARG TypeError saying "... yet"),
// the row shows the Node figure and "not available yet", and is not judged. Without wrk the
// benchmark is skipped (exit code 0). A wrong result is an error (exit code 1); a missed target is printed as MISSED
// and the exit code stays 0. The figures are req/s; the medianSeconds in BENCH_JSON are
// seconds per request (1 / req/s). The last line is `BENCH_JSON {...}` for tools.

const fs = require('fs')
const os = require('os')
const http = require('http')
const path = require('path')
const u = require('./util')
const { findWrk, wrk: runWrk, checkWrk } = require('./util/wrk')
const { log, check } = u

const KiB = 1024
const MiB = 1024 * KiB
const HOST = '127.0.0.1'
const WRK_THREADS = 2
const WRK_CONNECTIONS = 64
const WARMUP_SECONDS = 1
const OCTETS = 'application/octet-stream'

if (process.argv[2] === '--server') {
  runServer(JSON.parse(process.argv[3]))
} else {
  runBench()
}

// ---------------------------------------------------------------------------
// the servers (child processes): `node bench/http.js --server <spec as JSON>`
//
// spec: { impl: 'abio' | 'node', kind: 'bytes' | 'fetch' | 'file', path, size, seed, file? }
// The child prints one JSON line on stdout: { port } once listening, or { missing: why } when
// abio does not have the feature yet (then it exits). It exits when its stdin closes (the
// bench ended, however it ended).

/** The body of a bytes or fetch server: `size` bytes of a pattern, the same in the bench and the server. */
function bodyOf(spec) {
  return u.fillPattern(Buffer.allocUnsafeSlow(spec.size), spec.seed)
}

function runServer(spec) {
  const { say } = u
  u.commandsFromStdin()

  if (spec.impl === 'node') {
    const notFound = (res) => {
      res.writeHead(404, { 'content-length': '0' })
      res.end()
    }
    let handler
    if (spec.kind === 'file') {
      // The size is read once, at start (a per-request stat would only slow Node down).
      const headers = { 'content-type': OCTETS, 'content-length': String(fs.statSync(spec.file).size) }
      handler = (req, res) => {
        if (req.url !== spec.path) return notFound(res)
        res.writeHead(200, headers)
        const rs = fs.createReadStream(spec.file)
        rs.on('error', (e) => res.destroy(e))
        rs.pipe(res)
      }
    } else {
      const body = bodyOf(spec)
      const headers = { 'content-type': OCTETS, 'content-length': String(body.length) }
      handler = (req, res) => {
        if (req.url !== spec.path) return notFound(res)
        res.writeHead(200, headers)
        res.end(body)
      }
    }
    const server = http.createServer(handler)
    server.listen(0, HOST, () => say({ port: server.address().port }))
    return
  }

  const { abio, missing } = u.loadAbio()
  if (missing) {
    say({ missing })
    process.exit(0)
  }
  const options = { host: HOST, port: 0 }
  if (spec.kind === 'bytes') {
    options.routes = { [spec.path]: bodyOf(spec) }
  } else if (spec.kind === 'file') {
    options.routes = { [spec.path]: { file: spec.file } }
  } else {
    const body = bodyOf(spec)
    const ok = { status: 200, headers: { 'content-type': OCTETS }, body }
    const notFound = { status: 404 }
    options.fetch = (req) => (req.path === spec.path ? ok : notFound)
  }
  let started
  try {
    started = abio.serve(options)
  } catch (e) {
    if (u.notYet(e)) {
      say({ missing: e.message })
      process.exit(0)
    }
    throw e
  }
  started.then(
    (server) => say({ port: server.port }),
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
}

// ---------------------------------------------------------------------------
// the bench

function runBench() {
  const { opts, fail } = u.commandLine('bench/http.js', { duration: 'whole' })
  const cfg = { seconds: opts.duration ?? (opts.quick ? 2 : 5), reps: opts.reps ?? 3 }

  // the bench directory (the file route's file) and the child processes: servers and wrk
  const run = u.resources()

  /**
   * Starts a server (see runServer); resolves with { port, stop() } once it listens, or
   * { missing } when abio does not have the feature yet.
   */
  async function startServer(spec) {
    const what = `the ${spec.impl} ${spec.kind} server`
    const child = run.startChild(what, process.execPath, [__filename, '--server', JSON.stringify(spec)])
    const msg = await u.ready(child)
    return msg.missing ? msg : { port: msg.port, stop: child.stop }
  }

  /** One GET with Node's http client: resolves with { status, headers, body (Buffer) }. */
  function get(port, urlPath) {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: HOST, port, path: urlPath, agent: false }, (res) => {
        const chunks = []
        res.on('data', (d) => chunks.push(d))
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.setTimeout(10000, () => req.destroy(new Error(`GET ${urlPath}: no answer in 10 s`)))
    })
  }

  /** Status 200, content-length and the exact body bytes of `name`'s server. */
  async function checkServer(name, port, urlPath, expected) {
    const r = await get(port, urlPath)
    check(r.status === 200, `${name}: GET ${urlPath} answered ${r.status}, expected 200`)
    check(
      r.headers['content-length'] === String(expected.length),
      `${name}: GET ${urlPath}: content-length ${r.headers['content-length']}, expected ${expected.length}`,
    )
    u.assertSameBytes(r.body, expected, `${name}: the body of GET ${urlPath}`)
  }

  // -------------------------------------------------------------------------
  // wrk

  let wrkVersion // e.g. 'wrk debian/4.1.0-3+b2', or undefined when there is no wrk

  /** `wrk -t2 -c64 -d<seconds>s http://127.0.0.1:<port><path>` (run.cleanup() ends it on SIGINT/SIGTERM). */
  const wrk = (port, urlPath, seconds) =>
    runWrk(run.children, `http://${HOST}:${port}${urlPath}`, {
      threads: WRK_THREADS,
      connections: WRK_CONNECTIONS,
      seconds,
    })

  // -------------------------------------------------------------------------
  // result rows

  const rows = []
  /** Records one comparison (u.record); `node`: the Node contender's result, abio: null when it did not run. */
  const record = u.recorder(rows, { otherKey: 'node', otherLabel: 'node' })

  /**
   * Runs one case: starts a server per contender ({ name: spec }, abio's first), checks
   * each, warms each up, then runs wrk against each in turn, cfg.reps times. Resolves with
   * { [name]: { times: seconds per request, median } } for the contenders that ran and
   * { missing: { [name]: why } } for abio contenders without the feature, and reps.
   */
  function measure(specs, expected) {
    const urlPath = Object.values(specs)[0].path
    return u.interleaveStarted(
      Object.keys(specs),
      {
        start: (name) => startServer(specs[name]),
        need: 'node',
        // correctness first, for each server: one GET (Node's http client), then a checked warm-up
        async warm(name, s) {
          await checkServer(name, s.port, urlPath, expected)
          const r = await wrk(s.port, urlPath, WARMUP_SECONDS)
          checkWrk(`${name} (warm-up)`, r, expected.length)
          if (opts.verbose) log(`    warm-up ${name}: ${u.fmtRate(r.rps, 'req/s')}`)
        },
        contender: (name, s) => ({
          run: () => wrk(s.port, urlPath, cfg.seconds),
          after(rep, r) {
            checkWrk(name, r, expected.length)
            if (opts.verbose) {
              const perSec = (r.bytes / r.requests) * r.rps // wrk's bytes read: headers and bodies
              const bytesPart = expected.length >= 64 * KiB ? `, ${u.fmtRate(perSec, 'GB/s')}` : ''
              log(`    rep ${rep + 1} ${name}: ${u.fmtRate(r.rps, 'req/s')}${bytesPart}`)
            }
          },
          figure: (r) => 1 / r.rps,
        }),
      },
      { reps: cfg.reps, warmup: 0, gc: false },
    )
  }

  const missingWhy = (why) => why && `not available yet: ${why}`

  // -------------------------------------------------------------------------
  // cases

  const NODE_BUFFER = 'http.createServer answering a prebuilt Buffer'

  /** A bytes route of `size` bytes against Node answering the same prebuilt Buffer. */
  function routeCase(id, aliases, size, target) {
    return {
      id,
      aliases,
      title: () => `GET a ${u.humanBytes(size)} route vs ${NODE_BUFFER}`,
      async run() {
        const spec = { kind: 'bytes', path: `/${id}`, size, seed: size }
        const res = await measure({ abio: { impl: 'abio', ...spec }, node: { impl: 'node', ...spec } }, bodyOf(spec))
        record({
          id,
          work: `GET a ${u.humanBytes(size)} route`,
          against: NODE_BUFFER,
          unit: 'req/s',
          amount: 1, // the figures are seconds per request
          abio: res.abio || null,
          abioMissing: missingWhy(res.missing.abio),
          node: res.node,
          target,
          reps: res.reps,
        })
      },
    }
  }

  const CASES = [
    routeCase('large', ['64k', 'route64k'], 64 * KiB, 1.1),
    {
      // the fetch handler's row shares the 16 B route's Node server and repetitions
      id: 'small',
      aliases: ['16b', 'fetch'],
      title: () => `GET a 16 B route, and through a JS fetch handler, vs ${NODE_BUFFER}`,
      async run() {
        const spec = { path: '/small', size: 16, seed: 16 }
        const res = await measure(
          {
            abio: { impl: 'abio', kind: 'bytes', ...spec },
            node: { impl: 'node', kind: 'bytes', ...spec },
            'abio fetch': { impl: 'abio', kind: 'fetch', ...spec },
          },
          bodyOf(spec),
        )
        for (const [id, name, work, target] of [
          ['small', 'abio', 'GET a 16 B route', 1.5],
          ['fetch', 'abio fetch', 'GET through a JS fetch handler, 16 B', 1],
        ]) {
          record({
            id,
            work,
            against: NODE_BUFFER,
            unit: 'req/s',
            amount: 1,
            abio: res[name] || null,
            abioMissing: missingWhy(res.missing[name]),
            node: res.node,
            target,
            reps: res.reps,
          })
        }
      },
    },
    {
      id: 'file',
      aliases: ['1m'],
      title: () => 'GET a 1 MiB file route vs fs.createReadStream(path).pipe(res)',
      async run() {
        const size = MiB
        const content = u.fillPattern(Buffer.allocUnsafeSlow(size), 1048576)
        const file = path.join(run.root, 'file-1m.bin')
        fs.writeFileSync(file, content)
        const spec = { kind: 'file', path: '/file', size, file }
        const res = await measure({ abio: { impl: 'abio', ...spec }, node: { impl: 'node', ...spec } }, content)
        record({
          id: 'file',
          work: 'GET a 1 MiB file route',
          against: 'fs.createReadStream(path).pipe(res), content-length set',
          unit: 'req/s',
          amount: 1,
          abio: res.abio || null,
          abioMissing: missingWhy(res.missing.abio),
          node: res.node,
          target: 2,
          reps: res.reps,
        })
      },
    },
  ]

  // -------------------------------------------------------------------------
  // main

  function printHelp() {
    u.printHelp('bench/http.js', CASES, {
      duration: true,
      notes: `--duration S: seconds each timed wrk run lasts (default 5, 2 with --quick); --reps N: wrk runs per
server (default 3). Load: wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS}; each server in its own node process.
BENCH_DIR=dir puts the file route's file under dir (default ${os.tmpdir()}).
Needs wrk (apt-get install wrk).`,
    })
  }

  async function main() {
    if (opts.help) return printHelp()
    const selected = u.selectCases(CASES, opts.cases, fail)
    wrkVersion = findWrk()
    if (!wrkVersion) {
      log('wrk not found: apt-get install wrk')
      log('bench/http.js: skipped')
      return
    }
    const root = run.makeRoot('abio-bench-http-')

    const info = u.machineInfo(root)
    log(
      `abio HTTP benchmarks${opts.quick ? ' (--quick)' : ''}: ${u.machineLine(info)}; loopback ${HOST}; ` +
        `${wrkVersion} -t${WRK_THREADS} -c${WRK_CONNECTIONS} -d${cfg.seconds}s, ` +
        `${cfg.reps} runs per server; each server in its own node process; files in ${root} (${info.fs || 'unknown fs'})`,
    )
    log('medians of interleaved wrk runs; ratio = abio req/s / node req/s (higher = abio faster)')

    const ran = await u.runCases(selected, rows)

    run.cleanup({ say: true })

    u.report({
      bench: 'http',
      header:
        `abio serve vs node http — wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -d${cfg.seconds}s${opts.quick ? ' (--quick)' : ''}, ` +
        `${info.node}, ${info.cores} cores, loopback`,
      otherKey: 'node',
      quick: opts.quick,
      machine: { ...info, dir: undefined, wrk: wrkVersion },
      ...ran,
    })
  }

  u.runMain(main, run.cleanup)
}
