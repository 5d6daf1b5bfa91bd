'use strict'
// HTTP benchmarks: abio's serve() against Node's http.createServer (and a Hono app against the
// same app on @hono/node-server), over loopback, with Bun's figure beside where a Bun binary is
// found. Each server runs in its own child process (this file, started with --server; Bun's
// with `bun`), and so do the SSE clients (--sse-client), so this process only starts the
// children and drives the load; the servers are started once per case, checked, warmed up (a
// 1 s wrk run, or a 1 s SSE round), then loaded in turn (abio, node, bun, abio, node, ...), a
// fresh run per repetition; the figures are medians of the repetitions.
//
//   node bench/http.js                    every case (about 3 minutes, a little more with Bun)
//   node bench/http.js --quick            a fast smoke run (2 s per run)
//   node bench/http.js small ...          only the named cases (see --help; a prefix is enough)
//   node bench/http.js --reps 5           override the number of repetitions of every case
//   node bench/http.js --duration 10      seconds each timed wrk or SSE run lasts (default 5; 2 with --quick)
//   BENCH_DIR=/some/dir node bench/http.js  where the file route's file goes (default: os.tmpdir())
//   BUN=/path/to/bun node bench/http.js   the Bun to compare with (else node_modules/.bin/bun, or bun on PATH)
//
// Cases (wrk -t2 -c64, keep-alive, unless said):
//   large     GET a 64 KiB route (answered in Rust) vs `http.createServer` answering a prebuilt Buffer
//   small     GET a 16 B route, and two JS `fetch` handlers answering the same 16 B, in the same
//             repetitions against the same Node server: `fetch` returns the plain
//             `{ status, headers, body }` (abio's fast path), `response` returns
//             `new Response(body, { headers })` (WHATWG; abio's lightweight global). Bun's
//             figure, beside both: `Bun.serve({ fetch })` returning `new Response(body, { headers })`.
//             Each handler routes on the path (abio's `req.path`; Bun's cut from `req.url`
//             by hand, as cheap). `node bench/http.js fetch` or `response` runs this case.
//   file      GET a 1 MiB file route vs `fs.createReadStream(path).pipe(res)`
//   hono      a Hono app: GET /hello answering `c.text('Hello Hono!')`, beside JSON routes with
//             path parameters, a POST, a middleware on /admin/* and a notFound handler, so the
//             router is not trivial; abio `serve({ fetch: app.fetch })` vs the same app on
//             `@hono/node-server`'s `serve()`, wrk GET /hello; Bun: `Bun.serve({ fetch: app.fetch })`
//   sse       server-sent events to 100 streaming GETs, delivered events/s (below)
//
// SSE. The issue frames it as 1,000 events/s to each of 100 EventSource-like clients. A fixed
// rate says nothing on a machine where both servers keep up with it (both deliver 100,000/s,
// ratio 1) and nothing fair where neither does, so this case measures the maximum sustained
// rate instead, and prints the rate per client beside it (to see against 1,000/s). One client
// child process (plain `http.request`, one connection per stream, no EventSource library)
// opens 100 `GET /events` streams and waits for each response's head; then each server runs
// a broadcast loop for --duration seconds: once per turn of its event loop (setImmediate) it
// writes one small event (`id: <n>\ndata: <44 B of JSON>\n\n`, the same bytes on every side)
// to every open stream that has room, then an `end` event carrying the stream's count, and
// closes the streams. Room, as a well-written app checks it: abio (and Bun) answer
// `new Response(readableStream, { headers })` and the loop enqueues on the stream's controller
// while `desiredSize > 0`; Node answers with `res.write()` and skips a stream from write()'s
// `false` until its 'drain'. The client parses each stream as EventSource does (events end at
// a blank line; `id`, `event`, `data` fields; comments ignored), checks every event (ids
// consecutive per stream, the exact data, the `end` count equal to what the stream received,
// the response ended after it) and reports the events received and the time from the first
// event to the end of the last stream: the figure is delivered events per second, all
// streams together, and the count must equal what the server says it sent. The server's peak
// RSS (`process.resourceUsage().maxRSS`) after the timed runs, and after the 1 s warm-up, is
// printed and written to BENCH_JSON (`info`): memory is bounded when the first is about the
// second, however long the runs (both sides respect backpressure). The client shares the 2
// cores with the server, and is the same for every server.
//
// Correctness first: each server's URL is fetched once with Node's http client (status 200,
// content-length, the exact body bytes; for Hono also GET /users/42's JSON), and every wrk run
// is checked: no socket errors, no non-2xx/3xx responses, and at least (requests x body size)
// bytes read. Where abio does not have the feature yet (serve() throws an ABIO_ERR_INVALID_ARG
// TypeError saying "... yet"), the row shows the Node figure and "not available yet", and is
// not judged. Without wrk the wrk cases are skipped (exit code 0). A wrong result is an error
// (exit code 1); a missed target is printed as MISSED and the exit code stays 0. The figures
// are req/s or events/s; the medianSeconds in BENCH_JSON are seconds per request or event
// (1 / rate). The last line is `BENCH_JSON {...}` for tools.

const fs = require('fs')
const os = require('os')
const http = require('http')
const path = require('path')
const { isDeepStrictEqual } = require('util')
const u = require('./util')
const { log, check } = u

const KiB = 1024
const MiB = 1024 * KiB
const HOST = '127.0.0.1'
const WRK_THREADS = 2
const WRK_CONNECTIONS = 64
const WARMUP_SECONDS = 1
const OCTETS = 'application/octet-stream'

/** What the Hono app's GET /hello answers. */
const HELLO = 'Hello Hono!'

/** The SSE case: the streams' path, how many, the headers and the bytes of each event. */
const SSE_PATH = '/events'
const SSE_STREAMS = 100
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }
const SSE_DATA = JSON.stringify({ type: 'tick', payload: 'abcdefghijklmnop' }) // 44 B
/** An SSE comment sent first on every stream, so its head leaves at once (ignored by parsers). */
const SSE_HELLO = ': hello\n\n'
const sseEvent = (seq) => `id: ${seq}\ndata: ${SSE_DATA}\n\n`
const sseEnd = (count) => `event: end\ndata: ${count}\n\n`

if (process.argv[2] === '--server') runServer(JSON.parse(process.argv[3]))
else if (process.argv[2] === '--sse-client') runSseClient(JSON.parse(process.argv[3]))
else runBench()

// ---------------------------------------------------------------------------
// the servers (child processes): `node bench/http.js --server <spec as JSON>` (`bun ...` for Bun)
//
// spec: { impl: 'abio' | 'node' | 'bun', kind: 'bytes' | 'fetch' | 'response' | 'file' |
// 'hono' | 'sse', path, size, seed, file? }. The child prints one JSON line on stdout: { port }
// once listening, or { missing: why } when abio does not have the feature yet (then it
// exits). It exits when its stdin closes (the bench ended, however it ended). An SSE server
// also takes the command { go: seconds } (see sseHub) and answers { sent, streams, maxRss }.

/** The body of a bytes, fetch or response server: `size` bytes of a pattern, the same in the bench and the server. */
function bodyOf(spec) {
  return u.fillPattern(Buffer.allocUnsafeSlow(spec.size), spec.seed)
}

function runServer(spec) {
  const impl = { abio: abioServer, node: nodeServer, bun: bunServer }[spec.impl]
  const hub = spec.kind === 'sse' ? sseHub() : undefined
  u.commandsFromStdin((cmd) => {
    if (hub && cmd.go !== undefined) hub.run(cmd.go).then(u.say)
  })
  impl(spec, hub)
}

/** A child's unexpected failure: printed, and the child exits with 1 (the bench sees it end). */
function fatal(e) {
  console.error(e)
  process.exit(1)
}

/**
 * The Hono app of the `hono` case, the same on every server: GET /hello is what wrk loads; the
 * other routes make the router match among path parameters, a wildcard and a middleware.
 */
function honoApp() {
  const { Hono } = require('hono')
  const app = new Hono()
  app.get('/', (c) => c.text('abio bench'))
  app.get('/hello', (c) => c.text(HELLO))
  app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), name: `user ${c.req.param('id')}` }))
  app.post('/users', async (c) => c.json(await c.req.json(), 201))
  app.get('/posts/:postId/comments/:commentId', (c) => c.json(c.req.param()))
  app.get('/files/*', (c) => c.text(c.req.path))
  app.use('/admin/*', async (c, next) => {
    await next()
    c.header('x-admin', '1')
  })
  app.get('/admin/stats', (c) => c.json({ ok: true }))
  app.notFound((c) => c.text('not found', 404))
  return app
}

/** The Hono app, or undefined after saying { missing } when hono (a devDependency) is not installed. */
function honoOrSay(also) {
  try {
    if (also) require.resolve(also)
    return honoApp()
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND') {
      u.say({ missing: `a devDependency is not installed (npm install): ${e.message.split('\n')[0]}` })
      return undefined
    }
    throw e
  }
}

/**
 * The streams of an SSE server and its broadcast loop. A stream is { ready(), send(text),
 * finish(text) }: ready() says whether it has room, finish() sends the last event and closes it.
 * run(seconds): once per turn of the event loop, one event to every stream with room, for
 * `seconds`; then each stream's `end` event (its count) and close. Resolves with { sent (events,
 * all streams), streams (open at the start), maxRss (bytes, the process's peak) }.
 */
function sseHub() {
  const streams = new Set()
  return {
    add(s) {
      s.seq = 0
      streams.add(s)
    },
    remove: (s) => streams.delete(s),
    run(seconds) {
      const open = streams.size
      let sent = 0
      const end = performance.now() + seconds * 1000
      return new Promise((resolve) => {
        const tick = () => {
          if (performance.now() < end) {
            for (const s of streams) {
              if (s.ready()) {
                s.send(sseEvent(s.seq++))
                sent++
              }
            }
            setImmediate(tick)
            return
          }
          for (const s of [...streams]) s.finish(sseEnd(s.seq))
          resolve({ sent, streams: open, maxRss: peakRss() })
        }
        setImmediate(tick)
      })
    },
  }
}

/** The process's peak resident set size in bytes (its current one where the peak is not known). */
function peakRss() {
  try {
    return process.resourceUsage().maxRSS * 1024
  } catch {
    return process.memoryUsage().rss
  }
}

/**
 * An SSE answer for a web-standard server (abio, Bun): a `ReadableStream` in a `Response`, its
 * controller registered with the hub; the loop enqueues while `desiredSize > 0`.
 */
function sseResponse(hub) {
  const encoder = new TextEncoder()
  const s = {}
  let controller
  const stream = new ReadableStream({
    start(c) {
      controller = c
    },
    cancel() {
      hub.remove(s)
    },
  })
  s.ready = () => controller.desiredSize > 0
  s.send = (text) => controller.enqueue(encoder.encode(text))
  s.finish = (text) => {
    hub.remove(s)
    controller.enqueue(encoder.encode(text))
    controller.close()
  }
  controller.enqueue(encoder.encode(SSE_HELLO))
  hub.add(s)
  return new Response(stream, { headers: SSE_HEADERS })
}

function nodeServer(spec, hub) {
  const notFound = (res) => {
    res.writeHead(404, { 'content-length': '0' })
    res.end()
  }
  if (spec.kind === 'hono') {
    const app = honoOrSay('@hono/node-server')
    if (!app) return
    const { serve } = require('@hono/node-server')
    serve({ fetch: app.fetch, port: 0, hostname: HOST }, (info) => u.say({ port: info.port }))
    return
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
  } else if (spec.kind === 'sse') {
    handler = (req, res) => {
      if (req.url !== SSE_PATH) return notFound(res)
      res.writeHead(200, SSE_HEADERS)
      res.write(SSE_HELLO)
      const s = { blocked: false }
      const unblock = () => (s.blocked = false)
      s.ready = () => !s.blocked
      s.send = (text) => {
        if (!res.write(text)) {
          s.blocked = true
          res.once('drain', unblock)
        }
      }
      s.finish = (text) => {
        hub.remove(s)
        res.end(text)
      }
      res.on('close', () => hub.remove(s))
      hub.add(s)
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
  server.listen(0, HOST, () => u.say({ port: server.address().port }))
}

function abioServer(spec, hub) {
  const { abio, missing } = u.loadAbio()
  if (missing) {
    u.say({ missing })
    process.exit(0)
  }
  const options = { host: HOST, port: 0 }
  if (spec.kind === 'bytes') {
    options.routes = { [spec.path]: bodyOf(spec) }
  } else if (spec.kind === 'file') {
    options.routes = { [spec.path]: { file: spec.file } }
  } else if (spec.kind === 'fetch') {
    const body = bodyOf(spec)
    const ok = { status: 200, headers: { 'content-type': OCTETS }, body }
    const notFound = { status: 404 }
    options.fetch = (req) => (req.path === spec.path ? ok : notFound)
  } else if (spec.kind === 'response') {
    // A new Response per request, as web-standard handlers write it (serve() installs abio's
    // lightweight Response as the global).
    const body = bodyOf(spec)
    const headers = { 'content-type': OCTETS }
    options.fetch = (req) =>
      req.path === spec.path ? new Response(body, { headers }) : new Response(null, { status: 404 })
  } else if (spec.kind === 'hono') {
    const app = honoOrSay()
    if (!app) return
    options.fetch = app.fetch
  } else if (spec.kind === 'sse') {
    options.fetch = (req) =>
      new URL(req.url).pathname === SSE_PATH ? sseResponse(hub) : new Response(null, { status: 404 })
  }
  let started
  try {
    started = abio.serve(options)
  } catch (e) {
    if (u.notYet(e)) {
      u.say({ missing: e.message })
      process.exit(0)
    }
    throw e
  }
  started.then((server) => u.say({ port: server.port }), fatal)
}

/** The path of `url` (absolute, as Bun's req.url), cut by hand: no URL object, as cheap as abio's req.path. */
function pathOf(url) {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  const q = url.indexOf('?', start)
  return q < 0 ? url.slice(start) : url.slice(start, q)
}

function bunServer(spec, hub) {
  let fetch
  if (spec.kind === 'response') {
    const body = bodyOf(spec)
    const headers = { 'content-type': OCTETS }
    fetch = (req) =>
      pathOf(req.url) === spec.path ? new Response(body, { headers }) : new Response(null, { status: 404 })
  } else if (spec.kind === 'hono') {
    const app = honoOrSay()
    if (!app) return
    fetch = app.fetch
  } else if (spec.kind === 'sse') {
    fetch = (req) => (new URL(req.url).pathname === SSE_PATH ? sseResponse(hub) : new Response(null, { status: 404 }))
  } else {
    throw new Error(`bench/http.js: no Bun server for ${spec.kind}`)
  }
  // idleTimeout: 0, so that an SSE stream waiting between rounds is not closed (Bun's default is 10 s).
  const server = globalThis.Bun.serve({ hostname: HOST, port: 0, idleTimeout: 0, fetch })
  u.say({ port: server.port })
}

// ---------------------------------------------------------------------------
// the SSE client (a child process): `node bench/http.js --sse-client '{"port":N,"streams":100}'`
//
// Prints { ready: true }; then for each command { round: true } on stdin opens `streams`
// streaming GETs of /events (one connection each), prints { connected } once every response's
// head has arrived, reads and checks every event until every stream ended, and prints
// { events, seconds, min, max } (events received, all streams; the time from the first event
// to the end of the last stream; the fewest and most events one stream received), or { error }.

function runSseClient({ port, streams }) {
  let queue = Promise.resolve()
  u.commandsFromStdin(() => {
    queue = queue.then(() => sseRound(port, streams).catch((e) => u.say({ error: e && e.stack ? e.stack : String(e) })))
  })
  u.say({ ready: true })
}

/**
 * One EventSource-like stream: GET /events, resolves with { res, done } once its head arrived
 * (status 200, text/event-stream); `done` resolves with the stream's event count once it
 * ended after its `end` event. `onFirst()` is called at the first event received.
 */
function sseStream(port, onFirst) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: SSE_PATH, agent: false, headers: { accept: 'text/event-stream' } })
    req.on('error', reject)
    req.on('response', (res) => {
      if (res.statusCode !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.resume()
        return reject(
          new Error(`wrong result: GET ${SSE_PATH}: ${res.statusCode}, content-type ${res.headers['content-type']}`),
        )
      }
      let count = 0
      let ended = false // the `end` event arrived
      let buf = ''
      const fail = (why) => {
        req.destroy()
        throw new Error(`wrong result: ${why}`)
      }
      const dispatch = (block) => {
        // EventSource's parsing: lines of `field: value`, `:` comments, data lines joined by '\n'
        let id
        let event = 'message'
        let data
        for (const line of block.split('\n')) {
          if (line === '' || line[0] === ':') continue
          const c = line.indexOf(':')
          const field = c < 0 ? line : line.slice(0, c)
          let value = c < 0 ? '' : line.slice(c + 1)
          if (value[0] === ' ') value = value.slice(1)
          if (field === 'id') id = value
          else if (field === 'event') event = value
          else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`
        }
        if (data === undefined) return // a comment, or no data: no event
        if (ended) fail(`an event after the end event: ${JSON.stringify(block)}`)
        if (event === 'end') {
          if (data !== String(count)) fail(`the end event says ${data} events, the stream had ${count}`)
          ended = true
          return
        }
        if (count === 0) onFirst()
        if (event !== 'message' || id !== String(count) || data !== SSE_DATA)
          fail(`event ${count} of a stream: ${JSON.stringify(block)}`)
        count++
      }
      const done = new Promise((resolveDone, rejectDone) => {
        res.setEncoding('utf8')
        res.on('data', (d) => {
          try {
            buf += d
            let at = 0
            let i
            while ((i = buf.indexOf('\n\n', at)) >= 0) {
              dispatch(buf.slice(at, i))
              at = i + 2
            }
            buf = buf.slice(at)
          } catch (e) {
            rejectDone(e)
          }
        })
        res.on('end', () => {
          if (!ended) rejectDone(new Error(`wrong result: a stream ended without its end event after ${count} events`))
          else if (buf !== '') rejectDone(new Error(`wrong result: ${JSON.stringify(buf)} after the end event`))
          else resolveDone(count)
        })
        res.on('error', rejectDone)
      })
      done.catch(() => {}) // seen by the round
      resolve({ res, done })
    })
  })
}

/** One round of `n` streams (see runSseClient). */
async function sseRound(port, n) {
  let first
  const onFirst = () => {
    if (first === undefined) first = u.now()
  }
  const opened = await Promise.all(Array.from({ length: n }, () => sseStream(port, onFirst)))
  u.say({ connected: opened.length })
  const counts = await Promise.all(opened.map((s) => s.done))
  const seconds = u.since(first ?? u.now())
  const events = counts.reduce((a, b) => a + b, 0)
  u.say({ events, seconds, min: Math.min(...counts), max: Math.max(...counts) })
}

// ---------------------------------------------------------------------------
// the bench

function runBench() {
  const { findBun, HOW_TO_GET_BUN } = require('./util/bun')
  const { findWrk, wrk: runWrk, checkWrk } = require('./util/wrk')
  const { opts, fail } = u.commandLine('bench/http.js', { duration: 'whole' })
  const cfg = { seconds: opts.duration ?? (opts.quick ? 2 : 5), reps: opts.reps ?? 3 }

  // the bench directory (the file route's file) and the child processes: servers, SSE clients and wrk
  const run = u.resources()
  let bun // { bin, version } or undefined

  /**
   * Starts a server (see runServer); resolves with { port, child, stop() } once it listens,
   * or { missing } when abio does not have the feature yet.
   */
  async function startServer(spec) {
    const what = `the ${spec.impl} ${spec.kind} server`
    const cmd = spec.impl === 'bun' ? bun.bin : process.execPath
    const child = run.startChild(what, cmd, [__filename, '--server', JSON.stringify(spec)])
    const msg = await u.ready(child)
    return msg.missing ? msg : { port: msg.port, child, stop: child.stop }
  }

  /** One request with Node's http client: resolves with { status, headers, body (Buffer) }. */
  function get(port, urlPath, { method = 'GET', body } = {}) {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: HOST, port, path: urlPath, method, agent: false }, (res) => {
        const chunks = []
        res.on('data', (d) => chunks.push(d))
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.setTimeout(10000, () => req.destroy(new Error(`${method} ${urlPath}: no answer in 10 s`)))
      req.end(body)
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

  /** The Hono app's other routes answer as Hono says, on every server. */
  async function checkHono(name, port) {
    const json = async (method, urlPath, expected, status = 200, body) => {
      const r = await get(port, urlPath, { method, body })
      check(r.status === status, `${name}: ${method} ${urlPath} answered ${r.status}, expected ${status}`)
      check(
        String(r.headers['content-type']).startsWith('application/json'),
        `${name}: ${method} ${urlPath}: content-type ${r.headers['content-type']}`,
      )
      const got = r.body.toString()
      // the same members, in any order (Hono's routers order path parameters differently)
      check(isDeepStrictEqual(JSON.parse(got), expected), `${name}: ${method} ${urlPath} answered ${got}`)
    }
    await json('GET', '/users/42', { id: '42', name: 'user 42' })
    await json('GET', '/posts/7/comments/9', { postId: '7', commentId: '9' })
    await json('POST', '/users', { name: 'ada' }, 201, JSON.stringify({ name: 'ada' }))
    const admin = await get(port, '/admin/stats')
    check(admin.status === 200 && admin.headers['x-admin'] === '1', `${name}: GET /admin/stats: no x-admin header`)
    const missing = await get(port, '/nowhere')
    check(missing.status === 404, `${name}: GET /nowhere answered ${missing.status}, expected 404`)
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
   * Runs one wrk case: starts a server per contender ({ name: spec }, abio's first), checks
   * each (checkServer, then `extraCheck(name, port)` if given), warms each up, then runs wrk
   * against each in turn, cfg.reps times. Resolves with { [name]: { times: seconds per
   * request, median } } for the contenders that ran and { missing: { [name]: why } } for abio
   * contenders without the feature, and reps.
   */
  function measure(specs, expected, extraCheck) {
    const urlPath = Object.values(specs)[0].path
    return u.interleaveStarted(
      Object.keys(specs),
      {
        start: (name) => startServer(specs[name]),
        need: 'node',
        // correctness first, for each server: one GET (Node's http client), then a checked warm-up
        async warm(name, s) {
          await checkServer(name, s.port, urlPath, expected)
          if (extraCheck) await extraCheck(name, s.port)
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
  // SSE: a server and a client child per contender

  /** Starts `impl`'s SSE server and a client child for it: { port, child, client, stop() }, or { missing }. */
  async function startSse(impl) {
    const server = await startServer({ impl, kind: 'sse', path: SSE_PATH })
    if (server.missing) return server
    try {
      const args = [__filename, '--sse-client', JSON.stringify({ port: server.port, streams: SSE_STREAMS })]
      const client = run.startChild(`the SSE client of the ${impl} server`, process.execPath, args)
      await u.ready(client)
      return {
        ...server,
        client,
        async stop() {
          await client.stop()
          await server.stop()
        },
      }
    } catch (e) {
      await server.stop()
      throw e
    }
  }

  /**
   * One SSE round against `name`'s server: the client opens its streams, the server broadcasts
   * for `seconds`, the client checks every event. Resolves with { events, seconds, min, max }
   * (the client's) and the server's maxRss.
   */
  async function sseRun(name, h, seconds) {
    const wait = (seconds + 60) * 1000
    const answer = async (child, what) => {
      const msg = await child.next(wait)
      if (msg.error) throw new Error(`wrong result: ${name}: ${what}: ${msg.error}`)
      return msg
    }
    h.client.tell({ round: true })
    const c = await answer(h.client, 'the SSE client')
    check(c.connected === SSE_STREAMS, `${name}: ${c.connected} streams connected, expected ${SSE_STREAMS}`)
    h.child.tell({ go: seconds })
    const s = await answer(h.child, 'the SSE server')
    const r = await answer(h.client, 'the SSE client')
    check(s.streams === SSE_STREAMS, `${name}: the server had ${s.streams} streams open, expected ${SSE_STREAMS}`)
    check(r.events === s.sent, `${name}: the clients received ${r.events} events, the server sent ${s.sent}`)
    check(r.events > 0 && r.min > 0, `${name}: a stream received no event`)
    return { ...r, maxRss: s.maxRss }
  }

  // -------------------------------------------------------------------------
  // cases

  const NODE_BUFFER = 'http.createServer answering a prebuilt Buffer'

  /** A bytes route of `size` bytes against Node answering the same prebuilt Buffer. */
  function routeCase(id, aliases, size, target) {
    return {
      id,
      aliases,
      wrk: true,
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

  const sseCase = {
    id: 'sse',
    aliases: ['events'],
    title: () =>
      `server-sent events to ${SSE_STREAMS} streaming GETs (a client process), delivered events/s, ` +
      `abio ReadableStream in a Response vs a Node res.write loop${bun ? ' (and Bun.serve)' : ''}`,
    async run() {
      const names = ['abio', 'node', ...(bun ? ['bun'] : [])]
      const peak = {} // name: the server's peak RSS, bytes
      const warmPeak = {} // name: the same after the warm-up round (before the timed ones)
      const perClient = {} // name: [events/s per stream, each repetition]
      const res = await u.interleaveStarted(
        names,
        {
          start: startSse,
          need: 'node',
          async warm(name, h) {
            const r = await sseRun(name, h, WARMUP_SECONDS)
            warmPeak[name] = r.maxRss
            if (opts.verbose) log(`    warm-up ${name}: ${u.fmtRate(r.events / r.seconds, 'events/s')}`)
          },
          contender: (name, h) => ({
            run: () => sseRun(name, h, cfg.seconds),
            after(rep, r) {
              peak[name] = Math.max(peak[name] ?? 0, r.maxRss)
              ;(perClient[name] ??= []).push(r.events / r.seconds / SSE_STREAMS)
              if (opts.verbose)
                log(
                  `    rep ${rep + 1} ${name}: ${u.fmtRate(r.events / r.seconds, 'events/s')} ` +
                    `(${u.fmtInt(r.events)} events in ${u.fmtSeconds(r.seconds)}; ` +
                    `per stream ${u.fmtInt(r.min)} to ${u.fmtInt(r.max)})`,
                )
            },
            figure: (r) => r.seconds / r.events,
          }),
        },
        { reps: cfg.reps, warmup: 0, gc: false },
      )
      const ran = names.filter((n) => res[n])
      log(
        `  events/s per client (the issue's framing: 1,000): ` +
          ran.map((n) => `${n} ${u.fmtRate(u.median(perClient[n]), 'events/s')}`).join(', '),
      )
      // bounded memory: the peak after every timed run is about the peak after the 1 s warm-up
      const mib = (x) => `${(x / MiB).toFixed(0)} MiB`
      log(
        `  peak RSS of the server process after the timed runs (after the warm-up): ` +
          ran.map((n) => `${n} ${mib(peak[n])} (${mib(warmPeak[n])})`).join(', '),
      )
      const info = {}
      for (const n of ran) {
        info[`${n}PeakRssBytes`] = peak[n]
        info[`${n}WarmupPeakRssBytes`] = warmPeak[n]
        info[`${n}EventsPerClient`] = u.median(perClient[n])
      }
      record({
        id: 'sse',
        work: `SSE to ${SSE_STREAMS} clients, ReadableStream in a Response (delivered events)`,
        against: 'a Node res.write loop',
        unit: 'events/s',
        amount: 1, // the figures are seconds per event
        abio: res.abio || null,
        abioMissing: missingWhy(res.missing.abio),
        node: res.node,
        bun: res.bun,
        target: 1.5,
        reps: res.reps,
        info,
      })
    },
  }

  const CASES = [
    routeCase('large', ['64k', 'route64k'], 64 * KiB, 1.1),
    {
      // the fetch handlers' rows share the 16 B route's Node server and repetitions
      id: 'small',
      aliases: ['16b', 'fetch', 'response'],
      wrk: true,
      title: () =>
        `GET a 16 B route, and through JS fetch handlers returning { body } and new Response(body), ` +
        `vs ${NODE_BUFFER}${bun ? ' (and Bun.serve returning new Response(body))' : ''}`,
      async run() {
        const spec = { path: '/small', size: 16, seed: 16 }
        const specs = {
          abio: { impl: 'abio', kind: 'bytes', ...spec },
          node: { impl: 'node', kind: 'bytes', ...spec },
          'abio fetch': { impl: 'abio', kind: 'fetch', ...spec },
          'abio response': { impl: 'abio', kind: 'response', ...spec },
        }
        if (bun) specs.bun = { impl: 'bun', kind: 'response', ...spec }
        const res = await measure(specs, bodyOf(spec))
        for (const [id, name, work, target, withBun] of [
          ['small', 'abio', 'GET a 16 B route', 1.5, false],
          ['fetch', 'abio fetch', 'GET through a JS fetch handler returning { body }, 16 B', 1.75, true],
          ['response', 'abio response', 'GET through a JS fetch handler returning new Response(body), 16 B', 1.5, true],
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
            bun: withBun ? res.bun : undefined,
            target,
            reps: res.reps,
          })
        }
      },
    },
    {
      id: 'file',
      aliases: ['1m'],
      wrk: true,
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
    {
      id: 'hono',
      wrk: true,
      title: () =>
        `a Hono app, GET /hello: abio serve({ fetch: app.fetch }) vs @hono/node-server${bun ? ' (and Bun.serve)' : ''}`,
      async run() {
        const spec = { kind: 'hono', path: '/hello' }
        const specs = { abio: { impl: 'abio', ...spec }, node: { impl: 'node', ...spec } }
        if (bun) specs.bun = { impl: 'bun', ...spec }
        const res = await measure(specs, Buffer.from(HELLO), checkHono)
        record({
          id: 'hono',
          work: "a Hono app's GET /hello (c.text)",
          against: 'the same app on @hono/node-server',
          unit: 'req/s',
          amount: 1,
          abio: res.abio || null,
          abioMissing: missingWhy(res.missing.abio),
          node: res.node,
          bun: res.bun,
          target: 2,
          reps: res.reps,
        })
      },
    },
    sseCase,
  ]

  // -------------------------------------------------------------------------
  // main

  function printHelp() {
    u.printHelp('bench/http.js', CASES, {
      duration: true,
      notes: `--duration S: seconds each timed wrk or SSE run lasts (default 5, 2 with --quick); --reps N: runs per
server (default 3). Load: wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS}; SSE: ${SSE_STREAMS} streams from one client
process, each server broadcasting one event per turn of its event loop to every stream with room, delivered
events/s. Each server in its own process. The hono case needs the devDependencies hono and @hono/node-server.
BENCH_DIR=dir puts the file route's file under dir (default ${os.tmpdir()}).
Needs wrk for every case but sse (apt-get install wrk); Bun's figures need a bun binary (${HOW_TO_GET_BUN}).`,
    })
  }

  async function main() {
    if (opts.help) return printHelp()
    let selected = u.selectCases(CASES, opts.cases, fail)
    wrkVersion = findWrk()
    if (!wrkVersion) {
      const skipped = selected.filter((c) => c.wrk)
      if (skipped.length) log(`wrk not found (apt-get install wrk): skipping ${skipped.map((c) => c.id).join(', ')}`)
      selected = selected.filter((c) => !c.wrk)
      if (!selected.length) {
        log('bench/http.js: skipped')
        return
      }
    }
    const bunCases = ['small', 'hono', 'sse']
    bun = selected.some((c) => bunCases.includes(c.id)) ? findBun() : undefined
    const root = run.makeRoot('abio-bench-http-')

    const info = u.machineInfo(root)
    log(
      `abio HTTP benchmarks${opts.quick ? ' (--quick)' : ''}: ${u.machineLine(info)}; loopback ${HOST}; ` +
        `${wrkVersion || 'no wrk'}${wrkVersion ? ` -t${WRK_THREADS} -c${WRK_CONNECTIONS}` : ''}; ` +
        `${bun ? `bun ${bun.version}` : 'no bun'}; ${cfg.seconds} s runs, ${cfg.reps} per server; ` +
        `each server in its own process; files in ${root} (${info.fs || 'unknown fs'})`,
    )
    if (!bun) log(`bun not found: its figures are left out (${HOW_TO_GET_BUN})`)
    log('medians of interleaved runs; ratio = abio rate / node rate (higher = abio faster); abio/bun for information')

    const ran = await u.runCases(selected, rows)

    run.cleanup({ say: true })

    u.report({
      bench: 'http',
      header:
        `abio serve vs node http${bun ? ` and bun ${bun.version}` : ''} — wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS}, ` +
        `${cfg.seconds} s runs${opts.quick ? ' (--quick)' : ''}, ${info.node}, ${info.cores} cores, loopback`,
      otherKey: 'node',
      quick: opts.quick,
      machine: { ...info, dir: undefined, wrk: wrkVersion, bun: bun && bun.version },
      ...ran,
    })
  }

  u.runMain(main, run.cleanup)
}
