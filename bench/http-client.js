'use strict'
// HTTP client benchmarks, for information: abio's request() against Node's fetch (undici) and
// http.get (a keep-alive Agent), all three GETting from one Node http.createServer that runs in
// a child process (this file, started with --server), over loopback, keep-alive. Each
// repetition runs a batch of requests with each client in turn (abio, fetch, http.get, abio,
// ...); figures are requests per second (medians of the repetitions), ratios abio / other.
//
//   node bench/http-client.js                 every case
//   node bench/http-client.js --quick         a fast smoke run (smaller batches, fewer reps)
//   node bench/http-client.js small ...       only the named cases (see --help)
//   node bench/http-client.js --reps 5        override the number of repetitions
//
// Cases: GET 16 B one request at a time, GET 16 B with 16 requests in flight, GET 1 MiB one at
// a time. Correctness first: every client's first answer is checked (status 200, the exact
// body bytes) before anything is timed, and every timed answer's length is checked. No target
// is judged (the design sets none for the client); the last line is `BENCH_JSON {...}`.

const http = require('http')
const { spawn } = require('child_process')
const u = require('./util')

const KiB = 1024
const MiB = 1024 * KiB
const HOST = '127.0.0.1'
const SEED = 7

// ---------------------------------------------------------------------------
// the server (child process): prints { port } once listening, exits when stdin closes

function bodyOf(size) {
  return u.fillPattern(Buffer.alloc(size), SEED)
}

function runServer() {
  const bodies = { '/small': bodyOf(16), '/large': bodyOf(MiB) }
  const server = http.createServer((req, res) => {
    const body = bodies[req.url]
    if (!body) return res.writeHead(404).end()
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
    res.end(body)
  })
  server.keepAliveTimeout = 60000
  server.listen(0, HOST, () => console.log(JSON.stringify({ port: server.address().port })))
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
}

// ---------------------------------------------------------------------------
// the bench

const fail = (msg) => {
  console.error(`bench/http-client.js: ${msg}`)
  process.exit(2)
}
const opts = process.argv[2] === '--server' ? {} : u.parseArgs(process.argv.slice(2), fail)
const rows = []
const log = (...a) => console.log(...a)

const CASES = [
  { id: 'small', size: 16, path: '/small', batch: 2000, quickBatch: 300, inFlight: 1, reps: 7 },
  { id: 'small-c16', size: 16, path: '/small', batch: 4000, quickBatch: 600, inFlight: 16, reps: 7 },
  { id: 'large', size: MiB, path: '/large', batch: 100, quickBatch: 20, inFlight: 1, reps: 7 },
].map((c) => ({
  ...c,
  title: () => `GET ${u.humanBytes(c.size)}, ${c.inFlight} in flight, ${opts.quick ? c.quickBatch : c.batch} requests`,
}))

function printHelp() {
  log('usage: node bench/http-client.js [--quick] [--reps N] [case ...]')
  log(`cases: ${CASES.map((c) => c.id).join(', ')}`)
}

async function startServer() {
  const child = spawn(process.execPath, [__filename, '--server'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(JSON.parse(String(d)).port))
    child.once('exit', (code) => reject(new Error(`the server exited (${code})`)))
  })
  return { port, stop: () => child.stdin.end() }
}

/** The three clients: each `get(url)` resolves with the body's length after reading it whole. */
function clients(abio) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  const nodeGet = (url) =>
    new Promise((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          const chunks = []
          res.on('data', (c) => chunks.push(c))
          res.on('end', () => resolve(Buffer.concat(chunks)))
          res.on('error', reject)
        })
        .on('error', reject)
    })
  return {
    agent,
    abio: async (url) => Buffer.from((await abio.request(url)).body),
    fetch: async (url) => Buffer.from(await (await fetch(url)).arrayBuffer()),
    'http.get': nodeGet,
  }
}

/** `n` GETs of `url` with `inFlight` at a time; checks every length. */
async function batch(get, url, n, inFlight, size) {
  let next = 0
  const worker = async () => {
    while (next < n) {
      next++
      const body = await get(url)
      if (body.length !== size) throw new Error(`got ${body.length} bytes, wanted ${size}`)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return n
}

async function main() {
  if (opts.help) return printHelp()
  const selected = u.selectCases(CASES, opts.cases, fail)
  let abio
  try {
    abio = require('..')
    if (typeof abio.request !== 'function') throw new Error('abio.request is not there yet')
  } catch (e) {
    log(`bench/http-client.js: skipped: ${String(e.message).split('\n')[0]}`)
    return
  }
  const server = await startServer()
  const c = clients(abio)
  const info = u.machineInfo()
  log(
    `abio HTTP client benchmarks${opts.quick ? ' (--quick)' : ''}: node ${info.node}, ${info.cores} x ${info.cpu}; ` +
      `a Node http server in another process on ${HOST}; keep-alive everywhere`,
  )
  log('medians of interleaved repetitions; ratio = abio req/s / other req/s (higher = abio faster); information only')
  const t0 = u.now()
  for (const k of selected) {
    k.run = async () => {
      const url = `http://${HOST}:${server.port}${k.path}`
      const expected = bodyOf(k.size)
      for (const name of ['abio', 'fetch', 'http.get'])
        u.assertSameBytes(await c[name](url), expected, `${name} ${url}`)
      const n = opts.quick ? k.quickBatch : k.batch
      const reps = opts.reps ?? (opts.quick ? 3 : k.reps)
      const contenders = {}
      for (const name of ['abio', 'fetch', 'http.get'])
        contenders[name] = { run: () => batch(c[name], url, n, k.inFlight, k.size) }
      const res = await u.interleave(contenders, { reps, warmup: 1 })
      for (const other of ['fetch', 'http.get']) {
        u.record(
          rows,
          {
            id: `${k.id}-vs-${other}`,
            work: k.title(),
            against: other,
            unit: 'req/s',
            amount: n,
            abio: res.abio,
            other: res[other],
            target: null,
            reps,
          },
          { otherKey: 'other', otherLabel: other },
        )
      }
    }
  }
  const errors = await u.runCases(selected, rows)
  server.stop()
  c.agent.destroy()
  u.report({
    bench: 'http-client',
    header: `abio request() vs fetch and http.get — ${info.node}, ${info.cores} cores, loopback; total ${u.fmtSeconds(u.since(t0))}`,
    otherKey: 'other',
    rows,
    errors,
    quick: opts.quick,
    machine: info,
  })
  process.exitCode = errors.length ? 1 : 0
}

if (process.argv[2] === '--server') runServer()
else main()
