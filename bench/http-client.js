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
const u = require('./util')
const { log } = u

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
  server.listen(0, HOST, () => u.say({ port: server.address().port }))
  u.commandsFromStdin()
}

// ---------------------------------------------------------------------------
// the bench

const { opts, fail } = process.argv[2] === '--server' ? { opts: {} } : u.commandLine('bench/http-client.js')
const rows = []
const record = u.recorder(rows, { otherKey: 'other' })
const run = u.resources() // the server

const CASES = [
  { id: 'small', size: 16, path: '/small', batch: 2000, quickBatch: 300, inFlight: 1, reps: 7 },
  { id: 'small-c16', size: 16, path: '/small', batch: 4000, quickBatch: 600, inFlight: 16, reps: 7 },
  { id: 'large', size: MiB, path: '/large', batch: 100, quickBatch: 20, inFlight: 1, reps: 7 },
].map((c) => ({
  ...c,
  title: () => `GET ${u.humanBytes(c.size)}, ${c.inFlight} in flight, ${opts.quick ? c.quickBatch : c.batch} requests`,
}))

async function startServer() {
  const child = run.startChild('the server', process.execPath, [__filename, '--server'])
  const { port } = await u.ready(child)
  return { port, stop: child.stop }
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
  if (opts.help) return u.printHelp('bench/http-client.js', CASES)
  const selected = u.selectCases(CASES, opts.cases, fail)
  const { abio, missing } = u.loadAbio('request')
  if (missing) {
    log(`bench/http-client.js: skipped: ${missing}`)
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
        record({
          id: `${k.id}-vs-${other}`,
          work: k.title(),
          against: other,
          unit: 'req/s',
          amount: n,
          abio: res.abio,
          other: res[other],
          target: null,
          reps,
        })
      }
    }
  }
  const ran = await u.runCases(selected, rows)
  await server.stop()
  c.agent.destroy()
  u.report({
    bench: 'http-client',
    header: `abio request() vs fetch and http.get — ${info.node}, ${info.cores} cores, loopback`,
    otherKey: 'other',
    quick: opts.quick,
    machine: info,
    ...ran,
  })
}

if (process.argv[2] === '--server') runServer()
else u.runMain(main, run.cleanup)
