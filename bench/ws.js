'use strict'
// WebSocket benchmarks: abio's serve({ websocket }) server with abio's connectWebSocket client,
// against a `ws` WebSocketServer with `ws` clients (bufferutil installed; permessage-deflate off
// on both but in `deflate`), over loopback, with Bun.serve's figure beside for `publish` and
// `deflate` where a Bun binary is found. Each server and each client runs in its own child
// process (this file, started with --server or --client; Bun's server with `bun`), so no
// stack's client and server share an event loop; this process starts them, tells the clients
// (and, for publish, the server) what to run (JSON lines on stdin) and collects their counts.
// The stacks run interleaved (abio, ws, bun, abio, ws, ...), a fresh run per repetition; the
// figures are medians of the repetitions.
//
//   node bench/ws.js                    every case (about 2.5 minutes)
//   node bench/ws.js --quick            a fast smoke run (1 s per run, 2 repetitions)
//   node bench/ws.js stream ...         only the named cases (see --help; a prefix is enough)
//   node bench/ws.js --reps 5           override the number of repetitions of every case
//   node bench/ws.js --duration 5       seconds each timed run lasts (default 3; 1 with --quick;
//                                       publish and deflate run 2/3 of it)
//   BUN=/path/to/bun node bench/ws.js   the Bun to compare with (else node_modules/.bin/bun, or bun on PATH)
//
// Cases:
//   stream     the server sends 1 KiB binary messages to one client as fast as the client takes
//              them (each stack's own backpressure: abio send() === false -> await drained(),
//              ws bufferedAmount over 1 MiB -> await the socket's 'drain'); msgs/s at the client
//   echo       the client keeps 32 binary 1 KiB messages in flight, the server echoes each;
//              round trips/s
//   broadcast  the server broadcasts 1 KiB to 100 clients (abio server.broadcast; ws a loop of
//              send over wss.clients); deliveries/s summed over the clients
//   publish    the server publishes 1 KiB to a topic of 1,000 subscribers, spread over 4 client
//              processes of 250 connections (abio: ws.subscribe(topic) in open, then
//              server.publish(topic, data); ws: a loop of send over a Set of the topic's
//              connections, ws's documented broadcast; Bun: ws.subscribe(topic) in
//              websocket.open, server.publish(topic, data), with abio's clients);
//              deliveries/s summed over the subscribers. Each run subscribes fresh connections
//              to a topic of its own (`room-<n>`, from the URL path), so none left closing
//              from the run before counts. broadcast and publish pace the same way on every
//              stack (bench/util/ws-fanout.js): every 16 messages, wait for each connection
//              with more than half its 1 MiB backpressure limit queued, so that none is ever
//              over it (abio and Bun skip such a connection).
//   deflate    the server streams ~16 KiB JSON documents (text; bench/util/ws-deflate.js) to
//              one client with permessage-deflate on both sides, each stack's defaults (abio
//              perMessageDeflate: true on serve({ websocket }) and connectWebSocket; ws
//              perMessageDeflate: true on both, threshold 1024 and zlib's defaults; Bun
//              websocket.perMessageDeflate with send(data, true), and a ws client);
//              msgs/s at the client. The extension must be agreed on both sides (the
//              connections' `extensions`), and where `ss` is found the bytes the client's
//              socket received must show the documents compressed; else it is an error. The
//              bytes on the wire per message are printed (and in BENCH_JSON's info): the
//              stacks compress at different levels.
//   stream-1m  as stream with 1 MiB messages; reported, not judged
//
// Correctness first: every message is checked where it is received: binary ones by their exact
// size and the sequence number in their first 4 bytes (uint32 LE) in order; documents are
// parsed, and their seq (in order) and size checked. A stream, broadcast, publish or deflate run
// ends with a text `end <count>` from the server, which must equal what each client counted (a
// publish also checks every client process against the server's count); an echo's sequence
// number must be the next one sent. A warm-up run per stack, checked the same way, comes
// first. Where abio does not have a feature yet (serve() throws an ABIO_ERR_INVALID_ARG
// TypeError saying "... yet", or for deflate that perMessageDeflate is "not known", or
// connectWebSocket is missing) the row shows the ws figure and "not available yet" and is not
// judged. Where Bun cannot run a case, a note says why and its column is left out. A wrong
// result is an error (exit code 1); a missed target is printed as MISSED and the exit code
// stays 0. The last line is `BENCH_JSON {...}` for tools; its medianSeconds are seconds per
// message (1 / rate).

const u = require('./util')
const { message, stream: wsStream, abioStream, wsConnection } = require('./util/ws-stream')
const fan = require('./util/ws-fanout')
const deflate = require('./util/ws-deflate')
const { log, say, commandsFromStdin } = u

const KiB = 1024
const MiB = 1024 * KiB
const HOST = '127.0.0.1'
const BACKPRESSURE = MiB // both stacks pause a connection above this many queued bytes
const PACE_AT = BACKPRESSURE / 2 // broadcast, publish: wait for a connection over this many bytes
const BROADCAST_CLIENTS = 100
const PUBLISH_SUBSCRIBERS = 1000
const PUBLISH_PROCESSES = 4 // the subscribers' client processes
const ECHO_IN_FLIGHT = 32
const DEFLATE = { perMessageDeflate: true } // both stacks' server and client option, their defaults

if (process.argv[2] === '--server') runServer(JSON.parse(process.argv[3]))
else if (process.argv[2] === '--client') runClient(JSON.parse(process.argv[3]))
else runBench()

// ---------------------------------------------------------------------------
// shared by the children

/** abio, or with ABIO_WS_IMPL=reference abio's API over `ws` (the tests' reference), to check this file's abio side. */
function loadAbio(needs) {
  if (process.env.ABIO_WS_IMPL === 'reference') return { abio: require('../__test__/fixtures/ws-reference') }
  return u.loadAbio(needs)
}

/** An abio call refusing permessage-deflate as an option it does not know (yet). */
function noDeflate(e) {
  return !!e && e.code === 'ABIO_ERR_INVALID_ARG' && /perMessageDeflate.*not known/.test(e.message)
}

/** A child's end after an error it cannot report otherwise (the bench sees it end). */
function die(e) {
  console.error(e)
  process.exit(1)
}

// ---------------------------------------------------------------------------
// the servers: `node bench/ws.js --server '{"stack":"abio"|"ws","deflate":bool}'`
// (`bun bench/ws.js --server '{"stack":"bun",...}'` for Bun)
//
// Prints { port } once listening, or { missing } (abio without WebSocket support, or without
// permessage-deflate for `deflate`), on stdout. Text messages are commands: `stream <size>
// <seconds>` streams to the sender, then sends `end <count>`; `broadcast <size> <seconds>
// <clients>` waits for that many connections, broadcasts, then broadcasts `end <count>`;
// `deflate <seconds>` streams JSON documents to the sender (compressed), then `end <count>`.
// Binary messages are echoed. A connection whose path is `/room-<n>` is subscribed to the
// topic `room-<n>`. On stdin, { kind: 'publish', topic, size, seconds, subscribers } waits for
// that many subscribers, publishes to the topic, then publishes `end <count>`, and prints
// { sent } (or { error }). Exits when stdin ends.

function runServer(spec) {
  let server = null // { publish(command) }, once started
  commandsFromStdin((cmd) =>
    server.publish(cmd).then(
      (sent) => say({ sent }),
      (e) => say({ error: e && e.stack ? e.stack : String(e) }),
    ),
  )
  server = { abio: abioServer, ws: wsServer, bun: bunServer }[spec.stack](spec)
}

function abioServer(spec) {
  const { abio, missing } = loadAbio()
  if (missing) return say({ missing })
  const conns = new Set()
  const subs = fan.topics()
  let server
  async function broadcast(size, seconds, clients) {
    while (conns.size !== clients) await new Promise((resolve) => setTimeout(resolve, 5))
    const send = fan.abioSend((d) => server.broadcast(d), clients, 'server.broadcast')
    await fan.fanOut({ size, seconds, send, pace: fan.abioPace(conns, PACE_AT) })
  }
  async function publish({ topic, size, seconds, subscribers }) {
    const n = subs.of(topic)
    await subs.waitFor(topic, subscribers, () => (server.subscriberCount(topic) === n.size ? n.size : -1))
    const send = fan.abioSend((d) => server.publish(topic, d), subscribers, `server.publish('${topic}')`)
    return fan.fanOut({ size, seconds, send, pace: fan.abioPace(n, PACE_AT) })
  }
  async function documents(ws, seconds) {
    if (!deflate.negotiated(ws.extensions))
      return ws.send(`error permessage-deflate not agreed (server: extensions ${JSON.stringify(ws.extensions)})`)
    await deflate.abioDocuments(ws, seconds)
  }
  let started
  try {
    started = abio.serve({
      host: HOST,
      port: 0,
      websocket: {
        backpressureLimit: BACKPRESSURE,
        ...(spec.deflate ? DEFLATE : {}),
        open(ws, req) {
          conns.add(ws)
          const topic = subs.topicOfPath(req.path)
          if (topic) {
            ws.subscribe(topic)
            subs.add(ws, topic)
          }
        },
        close(ws) {
          conns.delete(ws)
          subs.remove(ws)
        },
        message(ws, data) {
          if (typeof data !== 'string') return ws.send(data)
          const [cmd, a, b, c] = data.split(' ')
          const run =
            cmd === 'stream' ? abioStream(ws, +a, +b) : cmd === 'deflate' ? documents(ws, +a) : broadcast(+a, +b, +c)
          run.catch(die)
        },
      },
    })
  } catch (e) {
    if (u.notYet(e) || (spec.deflate && noDeflate(e))) return say({ missing: e.message })
    throw e
  }
  started.then((s) => {
    server = s
    say({ port: s.port })
  }, die)
  return { publish }
}

function wsServer(spec) {
  const { WebSocketServer } = require('ws')
  const wss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: !!spec.deflate, clientTracking: true })
  const subs = fan.topics()
  const stream = (ws, size, seconds) => wsStream(ws, size, seconds, BACKPRESSURE)
  async function broadcast(size, seconds, clients) {
    while (wss.clients.size !== clients) await new Promise((resolve) => setTimeout(resolve, 5))
    await fan.fanOut({ size, seconds, send: fan.wsSend(wss.clients), pace: fan.wsPace(wss.clients, PACE_AT) })
  }
  async function publish({ topic, size, seconds, subscribers }) {
    await subs.waitFor(topic, subscribers)
    const n = subs.of(topic)
    return fan.fanOut({ size, seconds, send: fan.wsSend(n), pace: fan.wsPace(n, PACE_AT) })
  }
  async function documents(ws, seconds) {
    if (!deflate.negotiated(ws.extensions))
      return ws.send(`error permessage-deflate not agreed (server: extensions ${JSON.stringify(ws.extensions)})`)
    await deflate.wsDocuments(ws, seconds, BACKPRESSURE)
  }
  wss.on('connection', (ws, req) => {
    const topic = subs.topicOfPath(req.url)
    if (topic) {
      subs.add(ws, topic)
      ws.on('close', () => subs.remove(ws))
    }
    ws.on('message', (data, isBinary) => {
      if (isBinary) return ws.send(data)
      const [cmd, a, b, c] = data.toString().split(' ')
      const run = cmd === 'stream' ? stream(ws, +a, +b) : cmd === 'deflate' ? documents(ws, +a) : broadcast(+a, +b, +c)
      run.catch(die)
    })
  })
  wss.on('listening', () => say({ port: wss.address().port }))
  return { publish }
}

/** Bun.serve, for `publish` and `deflate` (run by bun). */
function bunServer(spec) {
  const subs = fan.topics()
  const drains = fan.bunDrains()
  const server = globalThis.Bun.serve({
    hostname: HOST,
    port: 0,
    fetch(req, srv) {
      const topic = subs.topicOfPath(new URL(req.url).pathname)
      if (srv.upgrade(req, { data: { topic } })) return undefined
      return new Response('a WebSocket server', { status: 426 })
    },
    websocket: {
      backpressureLimit: BACKPRESSURE,
      perMessageDeflate: !!spec.deflate,
      open(ws) {
        if (!ws.data.topic) return
        ws.subscribe(ws.data.topic)
        subs.add(ws, ws.data.topic)
      },
      close: (ws) => subs.remove(ws),
      drain: (ws) => drains.drained(ws),
      message(ws, data) {
        const [cmd, a] = String(data).split(' ')
        if (cmd !== 'deflate') return die(new Error(`the Bun server does not run ${JSON.stringify(String(data))}`))
        deflate.bunDocuments(ws, +a, drains).catch(die)
      },
    },
  })
  async function publish({ topic, size, seconds, subscribers }) {
    const n = subs.of(topic)
    await subs.waitFor(topic, subscribers, () => (server.subscriberCount(topic) === n.size ? n.size : -1))
    const send = (d) => {
      if (server.publish(topic, d) === 0)
        throw new Error(`wrong result: Bun's server.publish('${topic}') dropped a message`)
    }
    return fan.fanOut({ size, seconds, send, pace: fan.bunPace(n, PACE_AT, drains) })
  }
  say({ port: server.port })
  return { publish }
}

// ---------------------------------------------------------------------------
// the clients: `node bench/ws.js --client '{"stack":"abio"|"ws","port":N,"deflate":bool}'`
//
// Prints { ready: true } or { missing } (with deflate: once one connection agreed
// permessage-deflate; { error } if it did not); then for each command line on stdin
// ({ kind: 'stream'|'echo'|'broadcast'|'deflate'|'publish', size, seconds, clients?, path? })
// runs it on fresh connections and prints { count, seconds } (messages received and checked,
// and the time from the command to the last one), or { error }. A publish prints
// { connected } once its connections are open (the bench then starts the server), then
// { count, each, at } (at: process.hrtime.bigint() of its last `end`, a clock every process
// of the machine shares).

function runClient({ stack, port, deflate: withDeflate }) {
  const url = `ws://${HOST}:${port}`
  const options = withDeflate ? DEFLATE : undefined
  let connect
  if (stack === 'ws') {
    const WebSocket = require('ws')
    connect = (path = '/') => wsConnection(WebSocket, url + path, options)
  } else {
    const { abio, missing } = loadAbio('connectWebSocket')
    if (missing) {
      commandsFromStdin()
      return say({ missing })
    }
    connect = (path = '/') => abioConnection(abio, url + path, options)
  }
  if (withDeflate) connect = agreedDeflate(connect)
  let queue = Promise.resolve()
  commandsFromStdin((cmd) => {
    queue = queue.then(() =>
      runCommand(connect, cmd, port).then(
        (r) => say(r),
        (e) => say({ error: e && e.stack ? e.stack : String(e) }),
      ),
    )
  })
  if (!withDeflate) return say({ ready: true })
  // one connection first: permessage-deflate agreed, or not known to this client (abio's, yet)
  connect().then(
    (c) => c.close().then(() => say({ ready: true })),
    (e) => (noDeflate(e) ? say({ missing: e.message }) : say({ error: String(e && e.message) })),
  )
}

/** `connect` whose connections must have agreed permessage-deflate (else a wrong result). */
function agreedDeflate(connect) {
  return async (path) => {
    const c = await connect(path)
    if (deflate.negotiated(c.extensions)) return c
    await c.close()
    throw new Error(`wrong result: permessage-deflate not agreed (client: extensions ${JSON.stringify(c.extensions)})`)
  }
}

/**
 * One connection, the same shape for both stacks: send(data), onMessage(fn(data)) with data an
 * ArrayBuffer or Buffer (binary) or a string (text), close() (resolves once closed),
 * extensions (as agreed).
 */
async function abioConnection(abio, url, options) {
  const ws = await abio.connectWebSocket(url, options)
  let handler = null
  ;(async () => {
    const it = ws[Symbol.asyncIterator]()
    for (;;) {
      const r = await it.next()
      if (r.done) return
      handler(r.value)
    }
  })().catch(die)
  return {
    send: (d) => ws.send(d),
    onMessage: (fn) => (handler = fn),
    close: () => {
      ws.close()
      return ws.closed
    },
    extensions: ws.extensions,
  }
}

/** The seq of a binary message after checking its size; throws a wrong result. */
function seqOf(data, size, what) {
  if (typeof data === 'string') throw new Error(`wrong result: ${what}: a text message ${JSON.stringify(data)}`)
  if (data.byteLength !== size) throw new Error(`wrong result: ${what}: ${data.byteLength} bytes, expected ${size}`)
  return Buffer.isBuffer(data) ? data.readUInt32LE(0) : new DataView(data).getUint32(0, true)
}

/** A message check for messages of `size` bytes numbered 0, 1, ...: check(data, index, what). */
const inOrder = (size) => (data, i, what) => {
  const seq = seqOf(data, size, what)
  if (seq !== i >>> 0) throw new Error(`wrong result: ${what}: message ${i} has seq ${seq}`)
}

/**
 * For each connection, a promise of { count, at } when the server's `end <count>` comes (at:
 * u.now()), after check(data, index, what) of every message before it; a count other than the
 * server's, or its `error <why>`, rejects.
 */
function ends(conns, check) {
  return conns.map(
    (c, i) =>
      new Promise((resolve, reject) => {
        let count = 0
        c.onMessage((data) => {
          try {
            if (typeof data === 'string' && /^(end|error) /.test(data)) {
              const m = /^end (\d+)$/.exec(data)
              if (!m) throw new Error(`wrong result: client ${i}: the server says ${JSON.stringify(data)}`)
              if (Number(m[1]) !== count)
                throw new Error(`wrong result: client ${i}: received ${count} messages, the server sent ${m[1]}`)
              return resolve({ count, at: u.now() })
            }
            check(data, count, `client ${i}`)
            count++
          } catch (e) {
            reject(e)
          }
        })
      }),
  )
}

/**
 * The bytes this machine's sockets connected to `port` on HOST have received (`ss -ti`: TCP
 * payload, so the WebSocket frames as they crossed), or undefined without `ss`.
 */
function bytesReceivedFrom(port) {
  const { spawnSync } = require('child_process')
  const r = spawnSync('ss', ['-tinH', 'state', 'established', `( dst ${HOST}:${port} )`], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return undefined
  let bytes = 0
  for (const m of r.stdout.matchAll(/\bbytes_received:(\d+)/g)) bytes += Number(m[1])
  return bytes
}

async function runCommand(connect, { kind, size, seconds, clients = 1, path }, port) {
  const n = kind === 'broadcast' || kind === 'publish' ? clients : 1
  const conns = await Promise.all(Array.from({ length: n }, () => connect(path)))
  try {
    if (kind === 'echo') return await echoRun(conns[0], size, seconds)
    const check = kind === 'deflate' ? (data, i, what) => deflate.checkDocument(data, i, what) : inOrder(size)
    const done = ends(conns, check)
    if (kind === 'publish') {
      say({ connected: conns.length })
      const r = await Promise.all(done)
      const last = r.reduce((m, d) => (d.at > m ? d.at : m), r[0].at)
      return { count: r.reduce((s, d) => s + d.count, 0), each: r[0].count, at: String(last) }
    }
    const t0 = u.now()
    const cmd = { stream: `stream ${size} ${seconds}`, broadcast: `broadcast ${size} ${seconds} ${clients}` }
    conns[0].send(cmd[kind] || `deflate ${seconds}`)
    const r = await Promise.all(done)
    const last = r.reduce((m, d) => (d.at > m ? d.at : m), t0)
    const count = r.reduce((s, d) => s + d.count, 0)
    // deflate: what crossed the wire per message (the client's one connection; before it closes)
    const wire = kind === 'deflate' ? bytesReceivedFrom(port) : undefined
    return { count, seconds: Number(last - t0) / 1e9, ...(wire > 0 ? { wire: wire / count } : {}) }
  } finally {
    // every connection closed before the next run: a broadcast waits for exactly `clients`
    await Promise.all(conns.map((c) => c.close()))
  }
}

function echoRun(conn, size, seconds) {
  return new Promise((resolve, reject) => {
    let sent = 0
    let received = 0
    const t0 = u.now()
    const stopAt = Date.now() + seconds * 1000
    let stopped = false
    conn.onMessage((data) => {
      try {
        const seq = seqOf(data, size, 'echo')
        if (seq !== received >>> 0) throw new Error(`wrong result: echo ${received} has seq ${seq}`)
        received++
        if (!stopped && Date.now() >= stopAt) stopped = true
        if (!stopped) conn.send(message(size, sent++))
        else if (received === sent) resolve({ count: received, seconds: u.since(t0) })
      } catch (e) {
        reject(e)
      }
    })
    for (let i = 0; i < ECHO_IN_FLIGHT; i++) conn.send(message(size, sent++))
  })
}

// ---------------------------------------------------------------------------
// the bench

function runBench() {
  const { opts, fail } = u.commandLine('bench/ws.js', { duration: 'seconds' })
  const cfg = {
    seconds: opts.duration ?? (opts.quick ? 1 : 3),
    warmup: opts.quick ? 0.3 : 0.5,
    reps: opts.reps ?? (opts.quick ? 2 : 3),
  }
  const { findBun, HOW_TO_GET_BUN } = require('./util/bun')
  let bun // { bin, version } or undefined

  const run = u.resources() // the servers and clients

  /**
   * Starts one stack's server and `procs` client processes: { server, clients, stop() } or
   * { missing }. Bun's server gets abio clients (ws clients for `deflate`).
   */
  async function startStack(stack, { procs = 1, withDeflate = false } = {}) {
    const script = (role, spec) => [__filename, role, JSON.stringify(spec)]
    const server = run.startChild(
      `the ${stack} server`,
      stack === 'bun' ? bun.bin : process.execPath,
      script('--server', { stack, deflate: withDeflate }),
    )
    const s = await u.ready(server)
    if (s.missing) return s
    const clientStack = stack !== 'bun' ? stack : withDeflate ? 'ws' : 'abio'
    const spec = { stack: clientStack, port: s.port, deflate: withDeflate }
    const clients = Array.from({ length: procs }, (_, i) =>
      run.startChild(`the ${stack} client${procs > 1 ? ` ${i + 1}` : ''}`, process.execPath, script('--client', spec)),
    )
    const stop = () => Promise.all([...clients.map((c) => c.stop()), server.stop()])
    const said = await Promise.allSettled(clients.map((c) => u.ready(c)))
    const failed = said.find((r) => r.status === 'rejected')
    const missing = said.find((r) => r.status === 'fulfilled' && r.value.missing)
    if (failed || missing) await stop()
    if (failed) throw failed.reason
    if (missing) return { missing: `${clientStack} client: ${missing.value.missing}` }
    return { server, clients, stop }
  }

  /** One run on a stack's client: { count, seconds }, checked. */
  async function runOn(name, stack, command) {
    const client = stack.clients[0]
    client.tell(command)
    const r = await client.next(command.seconds * 1000 + 30000)
    if (r.error) throw new Error(`${name}: ${r.error}`)
    if (!(r.count > 0)) throw new Error(`wrong result: ${name}: no message received`)
    return r
  }

  let topics = 0
  /**
   * One publish run: `subscribers` connections spread over the stack's client processes
   * subscribe to a fresh topic; once all are open the server publishes for `seconds`.
   * { count (deliveries), seconds (from the start to the last `end` received) }, checked:
   * every subscriber received every message the server sent.
   */
  async function publishOn(name, stack, { size, seconds, subscribers }) {
    const procs = stack.clients.length
    const per = subscribers / procs
    const topic = `room-${++topics}`
    for (const c of stack.clients) c.tell({ kind: 'publish', size, seconds, clients: per, path: `/${topic}` })
    for (const c of stack.clients) {
      const r = await c.next(60000)
      if (r.error) throw new Error(`${name}: ${r.error}`)
      if (r.connected !== per) throw new Error(`wrong result: ${name}: ${c.what} said ${JSON.stringify(r)}`)
    }
    const t0 = u.now()
    stack.server.tell({ kind: 'publish', topic, size, seconds, subscribers })
    const srv = await stack.server.next(seconds * 1000 + 60000)
    if (srv.error) throw new Error(`${name}: the server: ${srv.error}`)
    let count = 0
    let last = t0
    for (const c of stack.clients) {
      const r = await c.next(60000)
      if (r.error) throw new Error(`${name}: ${r.error}`)
      if (r.each !== srv.sent || r.count !== srv.sent * per)
        throw new Error(
          `wrong result: ${name}: ${c.what} received ${r.count} messages on ${per} connections (${r.each} on its first), ` +
            `the server sent ${srv.sent} to each`,
        )
      count += r.count
      if (BigInt(r.at) > last) last = BigInt(r.at)
    }
    if (!(count > 0)) throw new Error(`wrong result: ${name}: no message received`)
    return { count, seconds: Number(last - t0) / 1e9 }
  }

  /**
   * One deflate run: as runOn, and the bytes the client's socket received (its `ss`, where
   * there is one: r.wire, per message) must be well under the documents' size, else nothing
   * was compressed: an error.
   */
  async function deflateOn(name, stack, command) {
    const r = await runOn(name, stack, command)
    if (r.wire === undefined) return r
    const plain = deflate.documentOf(0).length
    if (!(r.wire < plain * 0.9))
      throw new Error(
        `wrong result: ${name}: the client's socket received ${Math.round(r.wire)} bytes per document of about ${plain}: not compressed`,
      )
    return r
  }

  /** Says why Bun's column is left out of a case (Bun is shown for information: not an error). */
  function bunNote(what, e) {
    const why = String((e && e.message) || e).split('\n')[0]
    log(`  note: Bun ${what}; its column is left out: ${why}`)
    return why
  }

  const rows = []
  const record = u.recorder(rows, { otherKey: 'ws', otherLabel: 'ws' })

  /**
   * Runs one case on each stack (abio, ws, and Bun where `withBun` and a Bun is found): a
   * checked warm-up each, then cfg.reps interleaved runs of `share` x cfg.seconds. Records the
   * row: rate = messages (or bytes, for unit GB/s) per second; Bun's figure beside, for
   * information.
   */
  function wsCase({
    id,
    aliases,
    kind,
    size,
    work,
    against,
    target,
    unit = 'msgs/s',
    clients,
    withBun = false,
    share = 1,
  }) {
    const seconds = cfg.seconds * share // a timed run's length
    const stackOptions = {
      procs: kind === 'publish' ? PUBLISH_PROCESSES : 1,
      withDeflate: kind === 'deflate',
    }
    const once = (name, s, seconds) => {
      if (kind === 'publish') return publishOn(name, s, { size, seconds, subscribers: clients })
      const command = { kind, size, seconds, clients }
      return kind === 'deflate' ? deflateOn(name, s, command) : runOn(name, s, command)
    }
    return {
      id,
      aliases,
      withBun,
      title: () =>
        `${work}, vs ${against}${withBun && bun ? ' (and Bun)' : ''}${share !== 1 ? `; ${u.fmtSeconds(seconds)} runs` : ''}`,
      async run() {
        const names = ['abio', 'ws', ...(withBun && bun ? ['bun'] : [])]
        const wire = {} // deflate: bytes received per message (the client's socket), by stack
        const res = await u.interleaveStarted(
          names,
          {
            async start(name) {
              try {
                return await startStack(name, stackOptions)
              } catch (e) {
                if (name !== 'bun') throw e
                return { missing: bunNote('did not start', e) }
              }
            },
            need: 'ws',
            async warm(name, s) {
              let r
              try {
                r = await once(`${name} (warm-up)`, s, cfg.warmup)
              } catch (e) {
                if (name !== 'bun') throw e
                return { skip: bunNote('cannot run this case', e) }
              }
              if (opts.verbose) log(`    warm-up ${name}: ${r.count} messages in ${u.fmtSeconds(r.seconds)}`)
            },
            contender: (name, s) => ({
              run: () => once(name, s, seconds),
              after(rep, r) {
                if (r.wire !== undefined) (wire[name] = wire[name] || []).push(r.wire)
                if (opts.verbose)
                  log(
                    `    rep ${rep + 1} ${name}: ${u.fmtRate(r.count / r.seconds, 'msgs/s')} (${r.count} in ${u.fmtSeconds(r.seconds)})` +
                      (r.wire !== undefined ? `, ${Math.round(r.wire)} B on the wire per message` : ''),
                  )
              },
              figure: (r) => r.seconds / r.count,
            }),
          },
          { reps: cfg.reps, warmup: 0, gc: false },
        )
        const info = {}
        for (const [name, xs] of Object.entries(wire)) info[`${name}WireBytesPerMessage`] = Math.round(u.median(xs))
        if (Object.keys(info).length)
          log(
            `  bytes on the wire per message (median; the client's socket): ${Object.entries(info)
              .map(([k, v]) => `${k.replace('WireBytesPerMessage', '')} ${v}`)
              .join(', ')} (documents of about ${deflate.documentOf(0).length} B)`,
          )
        record({
          id,
          work,
          against,
          unit,
          amount: unit === 'GB/s' ? size : 1,
          abio: res.abio || null,
          abioMissing: res.missing.abio && `not available yet: ${res.missing.abio.split('\n')[0]}`,
          ws: res.ws,
          bun: res.bun,
          target,
          reps: res.reps,
          info: Object.keys(info).length ? info : undefined,
        })
      },
    }
  }

  const WS = 'ws server -> ws client (bufferutil)'
  const CASES = [
    wsCase({
      id: 'stream',
      aliases: ['1k'],
      kind: 'stream',
      size: KiB,
      work: 'server -> client stream of 1 KiB binary messages',
      against: WS,
      target: 1.5,
    }),
    wsCase({
      id: 'echo',
      kind: 'echo',
      size: KiB,
      work: `echo 1 KiB, ${ECHO_IN_FLIGHT} in flight (round trips)`,
      against: 'ws client -> ws server echo',
      target: 1.5,
    }),
    wsCase({
      id: 'broadcast',
      kind: 'broadcast',
      size: KiB,
      clients: BROADCAST_CLIENTS,
      work: `broadcast 1 KiB to ${BROADCAST_CLIENTS} clients (deliveries)`,
      against: 'ws looping send over wss.clients',
      target: 2,
    }),
    wsCase({
      id: 'publish',
      aliases: ['topic'],
      kind: 'publish',
      size: KiB,
      clients: PUBLISH_SUBSCRIBERS,
      work: `publish 1 KiB to a topic of ${PUBLISH_SUBSCRIBERS} subscribers (deliveries)`,
      against: 'ws looping send over a Set',
      target: 3,
      withBun: true,
      share: 2 / 3,
    }),
    wsCase({
      id: 'deflate',
      aliases: ['pmd', 'compress'],
      kind: 'deflate',
      work: 'server -> client stream of 16 KiB JSON text, permessage-deflate',
      against: 'ws perMessageDeflate both sides',
      target: 2,
      withBun: true,
      share: 2 / 3,
    }),
    wsCase({
      id: 'stream-1m',
      aliases: ['1m'],
      kind: 'stream',
      size: MiB,
      unit: 'GB/s',
      work: 'server -> client stream of 1 MiB binary messages',
      against: WS,
      target: null,
    }),
  ]

  function printHelp() {
    u.printHelp('bench/ws.js', CASES, {
      duration: true,
      notes: `--duration S: seconds each timed run lasts (default 3, 1 with --quick); --reps N: runs per stack
(default 3, 2 with --quick). Each server and each client in its own node process (publish: the
subscribers in ${PUBLISH_PROCESSES} client processes). Bun's figures (publish, deflate) need a bun binary (${HOW_TO_GET_BUN}).`,
    })
  }

  function bufferutilVersion() {
    try {
      require('bufferutil')
      return require('bufferutil/package.json').version
    } catch {
      return null
    }
  }

  async function main() {
    if (opts.help) return printHelp()
    const selected = u.selectCases(CASES, opts.cases, fail)
    bun = selected.some((c) => c.withBun) ? findBun() : undefined
    const info = u.machineInfo()
    const wsVersion = require('ws/package.json').version
    const bu = bufferutilVersion()
    log(
      `abio WebSocket benchmarks${opts.quick ? ' (--quick)' : ''}: ${u.machineLine(info)}; loopback ${HOST}; ws ${wsVersion}${bu ? ` with bufferutil ${bu}` : ' WITHOUT bufferutil'}; ` +
        `${bun ? `bun ${bun.version}; ` : ''}${cfg.seconds} s runs, ${cfg.reps} per stack; each server and client in its own process`,
    )
    if (!bun && selected.some((c) => c.withBun)) log(`bun not found: its figures are left out (${HOW_TO_GET_BUN})`)
    log('medians of interleaved runs; ratio = abio rate / ws rate (higher = abio faster); abio/bun for information')
    const ran = await u.runCases(selected, rows)
    run.cleanup()
    u.report({
      bench: 'ws',
      header:
        `abio WebSocket vs ws ${wsVersion}${bu ? ' + bufferutil' : ''}${bun ? ` and bun ${bun.version}` : ''} — ${cfg.seconds} s runs${opts.quick ? ' (--quick)' : ''}, ` +
        `${info.node}, ${info.cores} cores, loopback`,
      otherKey: 'ws',
      quick: opts.quick,
      machine: { ...info, dir: undefined, fs: undefined, ws: wsVersion, bufferutil: bu, bun: bun && bun.version },
      ...ran,
    })
  }

  u.runMain(main, run.cleanup)
}
