'use strict'
// TLS benchmarks (issue 15): abio's https server, new TLS connections, wss and TLS sendFile,
// against Node (https.createServer, ws over https, a tls.createServer piping a read stream),
// and Bun.serve where a Bun binary is found, over loopback. Every server runs in its own
// child process (this file, started with --server; Bun's with `bun`), and so do the wss
// clients (--client) and the sendFile receiver (--sink): no load generator shares an event
// loop with a server. This process makes the certificates, starts the children, runs wrk and
// collects the figures: medians of interleaved repetitions (abio, node, bun, abio, ...).
//
//   node bench/tls.js                   every case (about 80 s; about 60 s without Bun)
//   node bench/tls.js --quick           a fast smoke run (1 s runs, 2 repetitions, 64 MiB file)
//   node bench/tls.js small wss ...     only the named cases (see --help; a prefix is enough)
//   node bench/tls.js --reps 5          override the number of repetitions of every case
//   node bench/tls.js --duration 5      seconds each timed wrk or wss run lasts (default 2; 1 with --quick)
//   BENCH_DIR=/some/dir node bench/tls.js  where the certificates and the file go (default: os.tmpdir())
//   BUN=/path/to/bun node bench/tls.js  the Bun to compare with (else node_modules/.bin/bun, or bun on PATH)
//
// Certificates: a test CA and a leaf for localhost and 127.0.0.1 signed by it, both ECDSA
// P-256, made with the openssl CLI in a temporary directory at start (removed at the end);
// every server uses the same leaf, every client trusts the CA (wrk verifies nothing).
//
// Cases:
//   small       HTTPS GET a 16 B route, wrk -t2 -c64 keep-alive; abio serve({ tls, routes }) vs
//               https.createServer answering a prebuilt Buffer (and Bun.serve's static routes)
//   large       the same with a 64 KiB route
//   connections new TLS connections: a handshake and one GET of the 16 B route per connection
//               (wrk -H 'Connection: close'); the same servers. wrk's OpenSSL offers the
//               previous connection's session on each reconnect (SSL_clear keeps it), so a
//               server that issues tickets resumes: which server resumes is printed
//   wss         a server -> client stream of 1 KiB binary messages for --duration seconds,
//               abio serve({ tls, websocket }) to abio connectWebSocket('wss://…', { ca }), vs
//               ws over https.createServer to a ws client with ca (bufferutil, no deflate on
//               either); each stack's own backpressure (abio drained(), ws the socket's drain)
//   sendFile    a cached 256 MiB file over one TLS connection to a Node tls.connect receiver
//               (its own process): abio listen({ tls }) + socket.sendFile(path), vs a Node
//               tls.createServer piping fs.createReadStream(path, 1 MiB reads); the time from
//               tls.connect to the receiver's end
// The three HTTPS cases share one server per contender, started, checked and warmed once.
//
// Correctness first: each HTTPS server's routes are fetched with Node's https client (ca: the
// test CA; status, content-length, the exact body bytes), a `Connection: close` request must
// be answered with `connection: close` (else wrk would keep the connection and the
// connections case would measure keep-alive), and the TLS version and cipher each server
// agrees with an OpenSSL client are printed (they must be the same for the figures to
// compare). Every wrk run is checked: no socket errors, no non-2xx/3xx, at least requests x
// body bytes read. Every wss message is checked (size, sequence number) and each run ends with
// the server's count, which must match. The first sendFile transfer of each server is hashed
// (sha256) and compared with the file's; every timed one must deliver exactly the file's size.
// Where abio lacks TLS (an ABIO_ERR_INVALID_ARG "... yet", or the addon without it) the row
// shows Node's figure alone and is not judged. Without wrk the HTTPS cases are skipped, without
// openssl the whole benchmark (exit code 0). A wrong result is an error (exit code 1); a missed
// target is printed as MISSED and the exit code stays 0. The last line is `BENCH_JSON {...}`;
// its medianSeconds are seconds per request, connection or message (1 / rate), or per transfer.

const fs = require('fs')
const os = require('os')
const path = require('path')
const tls = require('tls')
const https = require('https')
const crypto = require('crypto')
const { spawnSync } = require('child_process')
const u = require('./util')
const { stream: wsStream, abioStream, wsConnection } = require('./util/ws-stream')
const { log, say, check, commandsFromStdin } = u

const KiB = 1024
const MiB = 1024 * KiB
const HOST = '127.0.0.1'
const OCTETS = 'application/octet-stream'
const WRK_THREADS = 2
const WRK_CONNECTIONS = 64
const WARMUP_SECONDS = 1 // one wrk run per HTTPS server before the timed ones
const BACKPRESSURE = MiB // both wss stacks pause a connection above this many queued bytes
const WSS_SIZE = KiB
const FILE_CHUNK = MiB // Node's createReadStream highWaterMark (as bench/tcp.js)

/** The HTTPS routes every server answers: path, body size, and the seed of its bytes. */
const ROUTES = {
  small: { path: '/small', size: 16, seed: 16 },
  large: { path: '/large', size: 64 * KiB, seed: 65536 },
}

if (process.argv[2] === '--server') runServer(JSON.parse(process.argv[3]))
else if (process.argv[2] === '--client') runClient(JSON.parse(process.argv[3]))
else if (process.argv[2] === '--sink') runSink(JSON.parse(process.argv[3]))
else runBench()

// ---------------------------------------------------------------------------
// shared by the children and the bench

/** A route's body: `size` bytes of a pattern, the same in the bench and in every server. */
function bodyOf(route) {
  return u.fillPattern(Buffer.allocUnsafeSlow(route.size), route.seed)
}

/** The certificate files of spec.tls ({ cert, key, ca }: paths) as PEM strings. */
function readPem(files) {
  const out = {}
  for (const [k, f] of Object.entries(files)) out[k] = fs.readFileSync(f, 'utf8')
  return out
}

/** A child's unexpected failure: printed, and the child exits with 1 (the bench sees it end). */
function fatal(e) {
  console.error(e)
  process.exit(1)
}

// ---------------------------------------------------------------------------
// the servers: `node bench/tls.js --server <spec>` (`bun bench/tls.js --server <spec>` for Bun)
//
// spec: { impl: 'abio' | 'node' | 'bun', kind: 'https' | 'wss' | 'file', tls: { cert, key }
// (paths), file?, size? }. Prints { port } once listening, or { missing: why } when abio lacks
// the feature. Exits when its stdin closes. The Node https server also answers the command
// { stats: true } with { connections, resumed }: the TLS connections it accepted and how many
// of them resumed a session.

function runServer(spec) {
  const pem = readPem(spec.tls)
  const impl = { abio: abioServer, node: nodeServer, bun: bunServer }[spec.impl]
  impl(spec, { cert: pem.cert, key: pem.key })
}

/** abio, or { missing } (said, and the child waits for stdin to end) when it does not run. */
function loadAbioOrSay(needs) {
  const { abio, missing } = u.loadAbio(needs)
  if (missing) say({ missing })
  return abio
}

/** serve()/listen() started, or { missing } said when it refuses TLS as "not supported yet". */
function startOrSay(start) {
  let started
  try {
    started = start()
  } catch (e) {
    if (u.notYet(e)) return say({ missing: e.message })
    throw e
  }
  started.then((s) => say({ port: s.port }), fatal)
}

function abioServer(spec, tlsOptions) {
  commandsFromStdin()
  const abio = loadAbioOrSay(spec.kind === 'file' ? 'listen' : 'serve')
  if (!abio) return
  if (spec.kind === 'https') {
    const routes = {}
    for (const r of Object.values(ROUTES)) routes[r.path] = bodyOf(r)
    return startOrSay(() => abio.serve({ host: HOST, port: 0, tls: tlsOptions, routes }))
  }
  if (spec.kind === 'wss') {
    return startOrSay(() =>
      abio.serve({
        host: HOST,
        port: 0,
        tls: tlsOptions,
        websocket: {
          backpressureLimit: BACKPRESSURE,
          message(ws, data) {
            if (typeof data !== 'string') return
            const [, size, seconds] = data.split(' ')
            abioStream(ws, +size, +seconds).catch(fatal)
          },
        },
      }),
    )
  }
  // file: each connection gets the whole file, then our end; closed once the peer has ended
  return startOrSay(() =>
    abio.listen({ host: HOST, port: 0, tls: tlsOptions }, async (sock) => {
      try {
        const sent = await sock.sendFile(spec.file)
        if (sent !== spec.size) throw new Error(`abio sendFile resolved with ${sent}, expected ${spec.size}`)
        await sock.end()
        while ((await sock.read()) !== null);
      } catch (e) {
        console.error(`the abio sendFile server: ${e && e.stack ? e.stack : e}`)
      } finally {
        sock.close()
      }
    }),
  )
}

function nodeServer(spec, tlsOptions) {
  if (spec.kind === 'https') {
    const answers = new Map()
    for (const r of Object.values(ROUTES)) {
      const body = bodyOf(r)
      answers.set(r.path, { body, headers: { 'content-type': OCTETS, 'content-length': String(body.length) } })
    }
    const server = https.createServer(tlsOptions, (req, res) => {
      const a = answers.get(req.url)
      if (!a) {
        res.writeHead(404, { 'content-length': '0' })
        return res.end()
      }
      res.writeHead(200, a.headers)
      res.end(a.body)
    })
    let connections = 0
    let resumed = 0
    server.on('secureConnection', (s) => {
      connections++
      if (s.isSessionReused()) resumed++
    })
    commandsFromStdin((cmd) => cmd.stats && say({ connections, resumed }))
    return server.listen(0, HOST, () => say({ port: server.address().port }))
  }
  commandsFromStdin()
  if (spec.kind === 'wss') {
    const { WebSocketServer } = require('ws')
    const server = https.createServer(tlsOptions)
    const wss = new WebSocketServer({ server, perMessageDeflate: false })
    // ws.send() queues without limit: the stream waits for the TLS socket's drain above BACKPRESSURE
    const stream = (ws, size, seconds) => wsStream(ws, size, seconds, BACKPRESSURE)
    wss.on('connection', (ws) =>
      ws.on('message', (data, isBinary) => {
        if (isBinary) return
        const [, size, seconds] = data.toString().split(' ')
        stream(ws, +size, +seconds).catch(fatal)
      }),
    )
    return server.listen(0, HOST, () => say({ port: server.address().port }))
  }
  // file: createReadStream(path).pipe(tlsSocket), which ends the socket after the last byte
  const server = tls.createServer(tlsOptions, (socket) => {
    socket.on('error', (e) => console.error(`the node sendFile server: ${e.message}`))
    const rs = fs.createReadStream(spec.file, { highWaterMark: FILE_CHUNK })
    rs.on('error', (e) => socket.destroy(e))
    rs.pipe(socket)
  })
  server.listen(0, HOST, () => say({ port: server.address().port }))
}

/** Bun.serve with the routes as static Responses (answered without a JS call, as abio's routes). */
function bunServer(spec, tlsOptions) {
  commandsFromStdin()
  const routes = {}
  for (const r of Object.values(ROUTES)) {
    routes[r.path] = new Response(bodyOf(r), { headers: { 'content-type': OCTETS } })
  }
  const server = globalThis.Bun.serve({
    hostname: HOST,
    port: 0,
    tls: tlsOptions,
    routes,
    fetch: () => new Response(null, { status: 404 }),
  })
  say({ port: server.port })
}

// ---------------------------------------------------------------------------
// the wss clients: `node bench/tls.js --client '{"stack":"abio"|"ws","port":N,"ca":path}'`
//
// Prints { ready: true } or { missing }; then for each command line on stdin ({ size, seconds })
// opens a connection, asks the server for a stream, checks every message, and prints
// { count, seconds } (messages received, and the time from the request to the last one) or
// { error }.

function runClient({ stack, port, ca: caFile }) {
  const ca = fs.readFileSync(caFile, 'utf8')
  const url = `wss://${HOST}:${port}/`
  let connect
  if (stack === 'ws') {
    const WebSocket = require('ws')
    connect = () => wsConnection(WebSocket, url, { ca })
  } else {
    const abio = loadAbioOrSay('connectWebSocket')
    if (!abio) return commandsFromStdin()
    connect = () => abioConnection(abio, url, ca)
  }
  let queue = Promise.resolve()
  commandsFromStdin((cmd) => {
    queue = queue.then(() =>
      streamRun(connect, cmd).then(say, (e) => say({ error: e && e.stack ? e.stack : String(e) })),
    )
  })
  say({ ready: true })
}

/** One connection, the same shape for both stacks: send(data), onMessage(fn(data)), close() (resolves once closed). */
async function abioConnection(abio, url, ca) {
  const ws = await abio.connectWebSocket(url, { ca })
  let handler = null
  ;(async () => {
    for await (const m of ws) handler(m)
  })().catch(fatal)
  return {
    send: (d) => ws.send(d),
    onMessage: (fn) => (handler = fn),
    close: () => {
      ws.close()
      return ws.closed
    },
  }
}

async function streamRun(connect, { size, seconds }) {
  const conn = await connect()
  try {
    const ended = new Promise((resolve, reject) => {
      let count = 0
      conn.onMessage((data) => {
        try {
          if (typeof data === 'string') {
            const m = /^end (\d+)$/.exec(data)
            if (!m) throw new Error(`wrong result: unexpected text ${JSON.stringify(data)}`)
            if (Number(m[1]) !== count)
              throw new Error(`wrong result: received ${count} messages, the server sent ${m[1]}`)
            return resolve({ count, at: u.now() })
          }
          if (data.byteLength !== size) throw new Error(`wrong result: ${data.byteLength} bytes, expected ${size}`)
          const seq = Buffer.isBuffer(data) ? data.readUInt32LE(0) : new DataView(data).getUint32(0, true)
          if (seq !== count >>> 0) throw new Error(`wrong result: message ${count} has seq ${seq}`)
          count++
        } catch (e) {
          reject(e)
        }
      })
    })
    const t0 = u.now()
    conn.send(`stream ${size} ${seconds}`)
    const { count, at } = await ended
    return { count, seconds: Number(at - t0) / 1e9 }
  } finally {
    await conn.close()
  }
}

// ---------------------------------------------------------------------------
// the sendFile receiver: `node bench/tls.js --sink '{"ca":path}'`
//
// Prints { ready: true }; then for each command line on stdin ({ port, hash }) connects with
// tls.connect (ca: the test CA), reads to the end and prints { bytes, seconds, sha256 (when
// hash), protocol, cipher } (seconds: from tls.connect to the end), or { error }.

function runSink({ ca: caFile }) {
  const ca = fs.readFileSync(caFile, 'utf8')
  let queue = Promise.resolve()
  commandsFromStdin((cmd) => {
    queue = queue.then(() => receive(ca, cmd).then(say, (e) => say({ error: e && e.stack ? e.stack : String(e) })))
  })
  say({ ready: true })
}

function receive(ca, { port, hash }) {
  return new Promise((resolve, reject) => {
    const t0 = u.now()
    const cpu0 = process.cpuUsage()
    const h = hash ? crypto.createHash('sha256') : null
    let bytes = 0
    const socket = tls.connect({ host: HOST, port, ca })
    socket.on('data', (d) => {
      bytes += d.length
      if (h) h.update(d)
    })
    socket.once('error', reject)
    socket.once('end', () => {
      const seconds = u.since(t0)
      const cpu = process.cpuUsage(cpu0)
      const cpuSeconds = (cpu.user + cpu.system) / 1e6
      const cipher = socket.getCipher()
      resolve({
        bytes,
        seconds,
        cpuSeconds,
        sha256: h ? h.digest('hex') : undefined,
        protocol: socket.getProtocol(),
        cipher: cipher && cipher.name,
      })
    })
  })
}

// ---------------------------------------------------------------------------
// the bench

function runBench() {
  const { findBun, HOW_TO_GET_BUN } = require('./util/bun')
  const { findWrk, wrk, checkWrk } = require('./util/wrk')
  const { opts, fail } = u.commandLine('bench/tls.js', { duration: 'whole' })
  const cfg = {
    seconds: opts.duration ?? (opts.quick ? 1 : 2),
    reps: opts.reps ?? (opts.quick ? 2 : 3),
    wssWarmup: opts.quick ? 0.3 : 0.5,
    fileSize: opts.quick ? 64 * MiB : 256 * MiB,
    fileReps: opts.reps ?? (opts.quick ? 3 : 5),
  }

  const run = u.resources() // run.root: certificates and the file; children: servers, clients, the sink, wrk
  let certs // { ca, cert, key }: file paths
  let caPem // the test CA, PEM, trusted by the bench's https client
  let wrkVersion
  let bun // { bin, version } or undefined

  /** A test CA and a leaf for localhost / 127.0.0.1 signed by it, ECDSA P-256, in `dir`. */
  function makeCerts(dir) {
    const file = (name) => path.join(dir, name)
    const openssl = (args) => {
      const r = spawnSync('openssl', args, { encoding: 'utf8', cwd: dir })
      if (r.error) throw r.error
      if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`)
    }
    const ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2'.split(' ')
    const ca = ['-subj', '/CN=abio bench CA', '-addext', 'basicConstraints=critical,CA:TRUE']
    ca.push('-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    openssl(['req', '-x509', ...ec, ...ca, '-keyout', file('ca.key'), '-out', file('ca.pem')])
    openssl(['req', '-new', ...ec, '-subj', '/CN=localhost', '-keyout', file('leaf.key'), '-out', file('leaf.csr')])
    fs.writeFileSync(
      file('leaf.ext'),
      'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
        'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
    )
    const sign = ['-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-set_serial', '2', '-days', '2', '-sha256']
    openssl(['x509', '-req', '-in', file('leaf.csr'), ...sign, '-extfile', file('leaf.ext'), '-out', file('leaf.pem')])
    return { ca: file('ca.pem'), cert: file('leaf.pem'), key: file('leaf.key') }
  }

  /** Starts a server child: { port, child, stop() }, or { missing }. */
  async function startServer(impl, kind, extra = {}) {
    const spec = { impl, kind, tls: { cert: certs.cert, key: certs.key }, ...extra }
    const cmd = impl === 'bun' ? bun.bin : process.execPath
    const child = run.startChild(`the ${impl} ${kind} server`, cmd, [__filename, '--server', JSON.stringify(spec)])
    const msg = await u.ready(child)
    return msg.missing ? msg : { port: msg.port, child, stop: child.stop }
  }

  /**
   * One GET with Node's https client (ca: the test CA, a new connection unless `agent`):
   * { status, headers, body, protocol, cipher, resumed }.
   */
  function get(port, urlPath, { agent = false } = {}) {
    return new Promise((resolve, reject) => {
      const req = https.get({ host: HOST, port, path: urlPath, ca: caPem, agent }, (res) => {
        const chunks = []
        const s = res.socket
        const tlsInfo = { protocol: s.getProtocol(), cipher: s.getCipher().name, resumed: s.isSessionReused() }
        res.on('data', (d) => chunks.push(d))
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), ...tlsInfo }),
        )
        res.on('error', reject)
      })
      req.on('error', reject)
      req.setTimeout(10000, () => req.destroy(new Error(`GET ${urlPath}: no answer in 10 s`)))
    })
  }

  /**
   * GET `route` with `Connection: close` on a raw TLS connection (ca: the test CA): { status,
   * headers (lower-case names), body, ended: whether the server ended the connection after
   * the answer (within 5 s) }.
   */
  function closingGet(port, route) {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: HOST, port, ca: caPem, ALPNProtocols: ['http/1.1'] })
      const chunks = []
      const done = (ended) => {
        clearTimeout(timer)
        socket.destroy()
        const all = Buffer.concat(chunks)
        const split = all.indexOf('\r\n\r\n')
        if (split < 0)
          return reject(
            new Error(`wrong result: GET ${route.path}: no whole answer: ${JSON.stringify(all.toString('latin1'))}`),
          )
        const [statusLine, ...lines] = all.subarray(0, split).toString('latin1').split('\r\n')
        const headers = {}
        for (const l of lines) {
          const i = l.indexOf(':')
          headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
        }
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1])
        resolve({ status, headers, body: all.subarray(split + 4), ended })
      }
      const timer = setTimeout(() => done(false), 5000)
      socket.once('secureConnect', () =>
        socket.write(`GET ${route.path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nConnection: close\r\n\r\n`),
      )
      socket.on('data', (d) => chunks.push(d))
      socket.once('end', () => done(true))
      socket.once('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
    })
  }

  // -------------------------------------------------------------------------
  // the HTTPS servers: one per contender for the three HTTPS cases, started, checked and warmed on first use

  let httpsServers // a promise of { handles: { name: { port, stop } }, missing: { name: why }, tlsSeen: { name: string } }

  function startHttpsServers() {
    if (!httpsServers) httpsServers = startAndCheckHttps()
    return httpsServers
  }

  async function startAndCheckHttps() {
    const handles = {}
    const missing = {}
    const tlsSeen = {}
    const names = ['abio', 'node', ...(bun ? ['bun'] : [])]
    try {
      for (const name of names) {
        const h = await startServer(name, 'https')
        if (h.missing) missing[name] = h.missing
        else handles[name] = h
      }
      if (!handles.node) throw new Error(`the node https server did not start: ${missing.node}`)
      for (const [name, h] of Object.entries(handles)) {
        // every route byte for byte
        let seen
        for (const r of Object.values(ROUTES)) {
          const res = await get(h.port, r.path)
          check(res.status === 200, `${name}: GET ${r.path} answered ${res.status}, expected 200`)
          check(
            res.headers['content-length'] === String(r.size),
            `${name}: GET ${r.path}: content-length ${res.headers['content-length']}, expected ${r.size}`,
          )
          u.assertSameBytes(res.body, bodyOf(r), `${name}: the body of GET ${r.path}`)
          seen = res
        }
        // Connection: close ends the connection after the answer (the connections case's
        // premise); wrk reconnects cleanly only when the answer says `connection: close`
        const closing = await closingGet(h.port, ROUTES.small)
        check(closing.status === 200, `${name}: a request with Connection: close was answered ${closing.status}`)
        u.assertSameBytes(closing.body, bodyOf(ROUTES.small), `${name}: the body of a Connection: close GET`)
        check(closing.ended, `${name}: the connection stayed open after answering a request with Connection: close`)
        h.saysClose = /\bclose\b/i.test(closing.headers.connection || '')
        if (!h.saysClose)
          log(
            `  NOTE: ${name} ends the connection after a Connection: close request without answering ` +
              '`connection: close`: wrk counts each of those ends as a read error (allowed for it in the connections case)',
          )
        // does it resume a session (a second connection offering the first one's ticket)?
        const agent = new https.Agent({ keepAlive: false, maxCachedSessions: 4 })
        let resumes
        try {
          await get(h.port, ROUTES.small.path, { agent })
          resumes = (await get(h.port, ROUTES.small.path, { agent })).resumed
        } finally {
          agent.destroy()
        }
        tlsSeen[name] = `${seen.protocol} ${seen.cipher}, ${resumes ? 'resumes sessions' : 'no session resumption'}`
        log(`  ${name} https server: ${tlsSeen[name]} (as seen by Node's OpenSSL client)`)
        const r = await wrk(run.children, `https://${HOST}:${h.port}${ROUTES.small.path}`, {
          threads: WRK_THREADS,
          connections: WRK_CONNECTIONS,
          seconds: WARMUP_SECONDS,
        })
        checkWrk(`${name} (warm-up)`, r, ROUTES.small.size)
        if (opts.verbose) log(`    warm-up ${name}: ${u.fmtRate(r.rps, 'req/s')}`)
      }
      const kinds = new Set(Object.values(tlsSeen).map((s) => s.split(',')[0]))
      if (kinds.size > 1)
        log('  NOTE: the servers do not agree on the same TLS version and cipher: the figures compare different work')
      return { handles, missing, tlsSeen }
    } catch (e) {
      for (const h of Object.values(handles)) await h.stop()
      throw e
    }
  }

  async function stopHttpsServers() {
    if (!httpsServers) return
    const s = await httpsServers.catch(() => null)
    httpsServers = undefined
    if (s) for (const h of Object.values(s.handles)) await h.stop()
  }

  /**
   * A wrk run on a server that ends each connection without saying `connection: close`: wrk
   * then sends its next request on the ending connection and counts a read (or write) error
   * before it reconnects. Those are allowed, at most about one per request; the run is
   * returned without them for checkWrk().
   */
  function closeErrorsAllowed(name, r) {
    const e = r.socketErrors
    if (!e) return r
    check(
      e.connect === 0 && e.timeout === 0 && e.read + e.write <= 2 * r.requests + 2 * WRK_CONNECTIONS,
      `${name}: wrk saw socket errors: connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout} for ${r.requests} requests`,
    )
    if (opts.verbose) log(`    ${name}: ${e.read} read and ${e.write} write errors from ends without connection: close`)
    return { ...r, socketErrors: null }
  }

  const rows = []
  const record = u.recorder(rows, { otherKey: 'node', otherLabel: 'node' })
  const notYet = (why) => why && `not available yet: ${why}`

  /**
   * An HTTPS case: wrk against each server in turn, cfg.reps times, on `route`, keep-alive or
   * (close) a new connection per request. Figures: seconds per request (1 / wrk's req/s).
   */
  function httpsCase({ id, aliases, route, close, work, target }) {
    const headers = close ? ['Connection: close'] : []
    const load = `wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS}${close ? " -H 'Connection: close'" : ' keep-alive'}`
    return {
      id,
      aliases,
      title: () => `${work}, ${load}, vs https.createServer${bun ? ' (and Bun.serve)' : ''}`,
      async run() {
        const { handles, missing } = await startHttpsServers()
        const nodeStats = () => {
          handles.node.child.tell({ stats: true })
          return handles.node.child.next()
        }
        const before = close ? await nodeStats() : null
        const contenders = {}
        for (const [name, h] of Object.entries(handles)) {
          contenders[name] = {
            run: () =>
              wrk(run.children, `https://${HOST}:${h.port}${route.path}`, {
                threads: WRK_THREADS,
                connections: WRK_CONNECTIONS,
                seconds: cfg.seconds,
                headers,
              }),
            after(rep, r) {
              if (close && !h.saysClose) r = closeErrorsAllowed(name, r)
              checkWrk(name, r, route.size)
              if (opts.verbose) log(`    rep ${rep + 1} ${name}: ${u.fmtRate(r.rps, close ? 'conn/s' : 'req/s')}`)
            },
            figure: (r) => 1 / r.rps,
          }
        }
        const res = await u.interleave(contenders, { reps: cfg.reps, warmup: 0, gc: false })
        if (close) {
          const after = await nodeStats()
          const n = after.connections - before.connections
          const resumed = after.resumed - before.resumed
          log(
            `  the node server accepted ${u.fmtInt(n)} TLS connections from wrk, ${u.fmtInt(resumed)} of them resumed`,
          )
        }
        record({
          id,
          work,
          against: 'https.createServer answering a prebuilt Buffer',
          unit: close ? 'conn/s' : 'req/s',
          amount: 1, // the figures are seconds per request
          abio: res.abio || null,
          abioMissing: notYet(missing.abio),
          node: res.node,
          bun: res.bun,
          target,
          reps: res.reps,
        })
      },
    }
  }

  // -------------------------------------------------------------------------
  // wss: a server and a client child per stack

  async function startWssStack(stack) {
    const server = await startServer(stack === 'ws' ? 'node' : 'abio', 'wss')
    if (server.missing) return server
    const spec = { stack, port: server.port, ca: certs.ca }
    const client = run.startChild(`the ${stack} wss client`, process.execPath, [
      __filename,
      '--client',
      JSON.stringify(spec),
    ])
    const c = await u.ready(client).catch(async (e) => {
      await server.stop()
      throw e
    })
    if (c.missing) {
      await server.stop()
      return c
    }
    return { client, stop: () => Promise.all([client.stop(), server.stop()]) }
  }

  async function wssRun(name, stack, seconds) {
    stack.client.tell({ size: WSS_SIZE, seconds })
    const r = await stack.client.next(seconds * 1000 + 30000)
    if (r.error) throw new Error(`${name}: ${r.error}`)
    check(r.count > 0, `${name}: no message received`)
    return r
  }

  const wssCase = {
    id: 'wss',
    aliases: ['ws', 'stream'],
    title: () => `wss server -> client stream of 1 KiB binary messages, ${cfg.seconds} s, abio to abio vs ws to ws`,
    async run() {
      const res = await u.interleaveStarted(
        ['abio', 'ws'],
        {
          start: startWssStack,
          need: 'ws',
          async warm(name, s) {
            const r = await wssRun(`${name} (warm-up)`, s, cfg.wssWarmup)
            if (opts.verbose) log(`    warm-up ${name}: ${r.count} messages in ${u.fmtSeconds(r.seconds)}`)
          },
          contender: (name, s) => ({
            run: () => wssRun(name, s, cfg.seconds),
            after(rep, r) {
              if (opts.verbose) log(`    rep ${rep + 1} ${name}: ${u.fmtRate(r.count / r.seconds, 'msgs/s')}`)
            },
            figure: (r) => r.seconds / r.count,
          }),
        },
        { reps: cfg.reps, warmup: 0, gc: false },
      )
      record({
        id: 'wss',
        work: 'wss 1 KiB server -> client stream, abio to abio',
        against: 'ws over https.createServer -> ws client (bufferutil)',
        unit: 'msgs/s',
        amount: 1,
        abio: res.abio || null,
        abioMissing: notYet(res.missing.abio),
        node: res.ws,
        target: 3,
        reps: res.reps,
      })
    },
  }

  // -------------------------------------------------------------------------
  // sendFile: a cached file, one TLS connection per transfer, to the Node receiver

  /** The file: a pattern, written, synced and read once (so: cached). Resolves with { file, sha256 }. */
  function makeFile(size) {
    const file = path.join(run.root, 'send.bin')
    const src = u.fillPattern(Buffer.allocUnsafeSlow(size), 20240607)
    const sha256 = crypto.createHash('sha256').update(src).digest('hex')
    const fd = fs.openSync(file, 'w')
    try {
      for (let off = 0; off < size;) off += fs.writeSync(fd, src, off, Math.min(64 * MiB, size - off), off)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    const buf = Buffer.allocUnsafe(MiB)
    const rfd = fs.openSync(file, 'r')
    try {
      while (fs.readSync(rfd, buf, 0, MiB, null) > 0);
    } finally {
      fs.closeSync(rfd)
    }
    return { file, sha256 }
  }

  const sendFileCase = {
    id: 'sendFile',
    aliases: ['file'],
    title: () =>
      `TLS sendFile of a ${u.humanBytes(cfg.fileSize)} cached file to a Node tls.connect receiver vs createReadStream(1 MiB).pipe(tlsSocket)`,
    async run() {
      const size = cfg.fileSize
      const st = fs.statfsSync(run.root)
      check(st.bavail * st.bsize > size + 256 * MiB, `not enough space for a ${u.humanBytes(size)} file in ${run.root}`)
      const { file, sha256 } = makeFile(size)
      const sink = run.startChild('the tls.connect receiver', process.execPath, [
        __filename,
        '--sink',
        JSON.stringify({ ca: certs.ca }),
      ])
      await u.ready(sink)
      const transfer = async (name, port, hash) => {
        sink.tell({ port, hash })
        const r = await sink.next(60000)
        if (r.error) throw new Error(`${name}: ${r.error}`)
        check(r.bytes === size, `${name}: the receiver got ${r.bytes} bytes, expected ${size}`)
        if (hash)
          check(r.sha256 === sha256, `${name}: the receiver's sha256 ${r.sha256} differs from the file's ${sha256}`)
        return r
      }
      const busy = { abio: [], node: [] } // the receiver's CPU time / the transfer's time, per timed run
      try {
        const res = await u.interleaveStarted(
          ['abio', 'node'],
          {
            start: (name) => startServer(name, 'file', { file, size }),
            need: 'node',
            async warm(name, s) {
              const r = await transfer(`${name} (checked)`, s.port, true)
              log(`  ${name} TLS server: ${r.protocol} ${r.cipher} (as seen by the receiver)`)
            },
            contender: (name, s) => ({
              run: () => transfer(name, s.port, false),
              after(rep, r) {
                busy[name].push(r.cpuSeconds / r.seconds)
                if (opts.verbose)
                  log(
                    `    rep ${rep + 1} ${name}: ${u.fmtRate(size / r.seconds, 'GB/s')} (receiver busy ${Math.round((100 * r.cpuSeconds) / r.seconds)}%)`,
                  )
              },
              figure: (r) => r.seconds,
            }),
          },
          { reps: cfg.fileReps, warmup: 0, gc: false },
        )
        record({
          id: 'sendFile',
          work: `TLS sendFile of a ${u.humanBytes(size)} cached file`,
          against: 'createReadStream(1 MiB).pipe(tlsSocket), tls.createServer',
          unit: 'GB/s',
          amount: size,
          abio: res.abio || null,
          abioMissing: notYet(res.missing.abio),
          node: res.node,
          target: 1.5,
          reps: res.reps,
        })
        // One core decrypts for the receiver: near 100% busy, it bounds the rate whoever sends.
        const parts = Object.entries(busy)
          .filter(([, xs]) => xs.length)
          .map(([name, xs]) => `${Math.round(100 * u.median(xs))}% of ${name}'s transfers`)
        const bound = Object.values(busy).some((xs) => xs.length && u.median(xs) > 0.85)
        log(
          `  the tls.connect receiver was busy (its CPU time / the transfer's time, medians) ${parts.join(', ')}` +
            (bound ? ': near one whole core, it bounds the rate' : ''),
        )
      } finally {
        await sink.stop()
        fs.rmSync(file, { force: true })
      }
    },
  }

  const HTTPS_CASES = [
    httpsCase({ id: 'small', aliases: ['16b'], route: ROUTES.small, work: 'HTTPS GET a 16 B route', target: 2 }),
    httpsCase({ id: 'large', aliases: ['64k'], route: ROUTES.large, work: 'HTTPS GET a 64 KiB route', target: 1.3 }),
    httpsCase({
      id: 'connections',
      aliases: ['conn', 'handshakes', 'close'],
      route: ROUTES.small,
      close: true,
      work: 'new TLS connections (handshake + one GET of 16 B)',
      target: 1.2,
    }),
  ]
  const CASES = [...HTTPS_CASES, wssCase, sendFileCase]

  // -------------------------------------------------------------------------
  // main

  function printHelp() {
    u.printHelp('bench/tls.js', CASES, {
      duration: true,
      notes: `--duration S: seconds each timed wrk or wss run lasts (default 2, 1 with --quick); --reps N: runs per
contender (default 3, sendFile 5; 2 and 3 with --quick). HTTPS load: wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS}; each server,
wss client and the sendFile receiver in its own process. Certificates: ECDSA P-256, made with openssl.
BENCH_DIR=dir puts the certificates and the sendFile file under dir (default ${os.tmpdir()}).
Needs openssl, and wrk for the HTTPS cases (apt-get install wrk); Bun's figures need a bun binary
(${HOW_TO_GET_BUN}).`,
    })
  }

  function have(cmd, args) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    return !r.error && r.status === 0 ? r.stdout.trim().split('\n')[0] : undefined
  }

  async function main() {
    if (opts.help) return printHelp()
    let selected = u.selectCases(CASES, opts.cases, fail)
    const opensslVersion = have('openssl', ['version'])
    if (!opensslVersion) {
      log('openssl not found (apt-get install openssl): bench/tls.js: skipped')
      return
    }
    wrkVersion = findWrk()
    if (!wrkVersion) {
      const skipped = selected.filter((c) => HTTPS_CASES.includes(c))
      if (skipped.length) log(`wrk not found (apt-get install wrk): skipping ${skipped.map((c) => c.id).join(', ')}`)
      selected = selected.filter((c) => !HTTPS_CASES.includes(c))
    }
    bun = selected.some((c) => HTTPS_CASES.includes(c)) ? findBun() : undefined
    const root = run.makeRoot('abio-bench-tls-')
    certs = makeCerts(root)
    caPem = fs.readFileSync(certs.ca, 'utf8')

    const info = u.machineInfo(root)
    log(
      `abio TLS benchmarks${opts.quick ? ' (--quick)' : ''}: ${u.machineLine(info)}; loopback ${HOST}; ` +
        `${opensslVersion}; ECDSA P-256 certificates; ${wrkVersion || 'no wrk'}${wrkVersion ? ` -t${WRK_THREADS} -c${WRK_CONNECTIONS}` : ''}; ` +
        `${bun ? `bun ${bun.version}` : 'no bun'}; ${cfg.seconds} s runs, ${cfg.reps} per contender; files in ${root} (${info.fs || 'unknown fs'})`,
    )
    if (!bun && wrkVersion) log(`bun not found: its figures are left out (${HOW_TO_GET_BUN})`)
    log('medians of interleaved runs; ratio = abio rate / node rate (higher = abio faster); abio/bun for information')

    // the HTTPS servers are shared by the HTTPS cases: stopped once those have run
    const lastHttps = [...selected].reverse().find((c) => HTTPS_CASES.includes(c))
    const cases = selected.map((c) =>
      c === lastHttps
        ? {
            ...c,
            run: async () => {
              try {
                await c.run()
              } finally {
                await stopHttpsServers()
              }
            },
          }
        : c,
    )
    const ran = await u.runCases(cases, rows)
    await stopHttpsServers()
    run.cleanup({ say: true })

    u.report({
      bench: 'tls',
      header:
        `abio TLS vs node https/tls/ws${bun ? ` and bun ${bun.version}` : ''} — ${cfg.seconds} s runs${opts.quick ? ' (--quick)' : ''}, ` +
        `${info.node}, ${info.cores} cores, loopback`,
      otherKey: 'node',
      quick: opts.quick,
      machine: { ...info, dir: undefined, wrk: wrkVersion, openssl: opensslVersion, bun: bun && bun.version },
      ...ran,
    })
  }

  u.runMain(main, run.cleanup)
}
