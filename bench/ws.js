'use strict'
// WebSocket benchmarks: abio's serve({ websocket }) server with abio's connectWebSocket client,
// against a `ws` WebSocketServer with `ws` clients (bufferutil installed, permessage-deflate off
// on both), over loopback. Each server and each client runs in its own child process (this
// file, started with --server or --client), so no stack's client and server share an event
// loop; this process starts them, tells the clients what to run (JSON lines on stdin) and
// collects their counts. The stacks run interleaved (abio, ws, abio, ws, ...), a fresh run per
// repetition; the figures are medians of the repetitions.
//
//   node bench/ws.js                    every case (about 90 s)
//   node bench/ws.js --quick            a fast smoke run (1 s per run, 2 repetitions)
//   node bench/ws.js stream ...         only the named cases (see --help; a prefix is enough)
//   node bench/ws.js --reps 5           override the number of repetitions of every case
//   node bench/ws.js --duration 5       seconds each timed run lasts (default 3; 1 with --quick)
//
// Cases:
//   stream     the server sends 1 KiB binary messages to one client as fast as the client takes
//              them (each stack's own backpressure: abio send() === false -> await drained(),
//              ws bufferedAmount over 1 MiB -> await the socket's 'drain'); msgs/s at the client
//   echo       the client keeps 32 binary 1 KiB messages in flight, the server echoes each;
//              round trips/s
//   broadcast  the server broadcasts 1 KiB to 100 clients (abio server.broadcast; ws a loop of
//              send over wss.clients); deliveries/s summed over the clients
//   stream-1m  as stream with 1 MiB messages; reported, not judged
//
// Correctness first: every message is checked where it is received: its exact size, and the
// sequence number in its first 4 bytes (uint32 LE) in order; a stream or broadcast ends with a
// text `end <count>` from the server, which must equal what each client counted; an echo's
// sequence number must be the next one sent. A warm-up run per stack, checked the same way,
// comes first. Where abio does not have WebSocket support yet (serve() throws an
// ABIO_ERR_INVALID_ARG TypeError saying "... yet", or connectWebSocket is missing) the row shows
// the ws figure and "not available yet" and is not judged. A wrong result is an error (exit
// code 1); a missed target is printed as MISSED and the exit code stays 0. The last line is
// `BENCH_JSON {...}` for tools; its medianSeconds are seconds per message (1 / rate).

const u = require('./util')
const { message, drained: wsDrained, stream: wsStream, abioStream, wsConnection } = require('./util/ws-stream')
const { log, say, commandsFromStdin } = u

const KiB = 1024
const MiB = 1024 * KiB
const HOST = '127.0.0.1'
const BACKPRESSURE = MiB // both stacks pause a connection above this many queued bytes
const PACE_EVERY = 16 // broadcast: look at the connections' queues every this many messages
const BROADCAST_CLIENTS = 100
const ECHO_IN_FLIGHT = 32

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

// ---------------------------------------------------------------------------
// the servers: `node bench/ws.js --server '{"stack":"abio"|"ws"}'`
//
// Prints { port } once listening, or { missing } (abio without WebSocket support), on stdout.
// Text messages are commands: `stream <size> <seconds>` streams to the sender, then sends
// `end <count>`; `broadcast <size> <seconds> <clients>` waits for that many connections,
// broadcasts, then broadcasts `end <count>`. Binary messages are echoed. Exits when stdin ends.

function runServer({ stack }) {
  commandsFromStdin()
  if (stack === 'ws') return wsServer()
  const { abio, missing } = loadAbio()
  if (missing) return say({ missing })
  const conns = new Set()
  let server
  /** Resolves once `n` connections are open. */
  const waitConns = async (n) => {
    while (conns.size !== n) await new Promise((resolve) => setTimeout(resolve, 5))
  }
  async function broadcast(size, seconds, clients) {
    await waitConns(clients)
    const end = Date.now() + seconds * 1000
    let seq = 0
    while (Date.now() < end) {
      for (let i = 0; i < PACE_EVERY; i++) {
        const n = server.broadcast(message(size, seq++))
        if (n !== clients) throw new Error(`broadcast reached ${n} connections, expected ${clients}`)
      }
      for (const ws of conns) if (ws.bufferedAmount > BACKPRESSURE) await ws.drained()
    }
    server.broadcast(`end ${seq}`)
  }
  let started
  try {
    started = abio.serve({
      host: HOST,
      port: 0,
      websocket: {
        backpressureLimit: BACKPRESSURE,
        open: (ws) => conns.add(ws),
        close: (ws) => conns.delete(ws),
        message(ws, data) {
          if (typeof data !== 'string') return ws.send(data)
          const [cmd, a, b, c] = data.split(' ')
          const run = cmd === 'stream' ? abioStream(ws, +a, +b) : broadcast(+a, +b, +c)
          run.catch((e) => {
            console.error(e)
            process.exit(1)
          })
        },
      },
    })
  } catch (e) {
    if (u.notYet(e)) return say({ missing: e.message })
    throw e
  }
  started.then(
    (s) => {
      server = s
      say({ port: s.port })
    },
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
}

function wsServer() {
  const { WebSocketServer } = require('ws')
  const wss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false, clientTracking: true })
  const drained = (ws) => wsDrained(ws, BACKPRESSURE)
  const stream = (ws, size, seconds) => wsStream(ws, size, seconds, BACKPRESSURE)
  async function broadcast(size, seconds, clients) {
    while (wss.clients.size !== clients) await new Promise((resolve) => setTimeout(resolve, 5))
    const end = Date.now() + seconds * 1000
    let seq = 0
    while (Date.now() < end) {
      for (let i = 0; i < PACE_EVERY; i++) {
        const m = message(size, seq++)
        for (const ws of wss.clients) ws.send(m)
      }
      for (const ws of wss.clients) {
        const d = drained(ws)
        if (d) await d
      }
    }
    for (const ws of wss.clients) ws.send(`end ${seq}`)
  }
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return ws.send(data)
      const [cmd, a, b, c] = data.toString().split(' ')
      const run = cmd === 'stream' ? stream(ws, +a, +b) : broadcast(+a, +b, +c)
      run.catch((e) => {
        console.error(e)
        process.exit(1)
      })
    })
  })
  wss.on('listening', () => say({ port: wss.address().port }))
}

// ---------------------------------------------------------------------------
// the clients: `node bench/ws.js --client '{"stack":"abio"|"ws","port":N}'`
//
// Prints { ready: true } or { missing }; then for each command line on stdin
// ({ kind: 'stream'|'echo'|'broadcast', size, seconds, clients? }) runs it on fresh connections
// and prints { count, seconds } (messages received and checked, and the time from the command
// to the last one), or { error }.

function runClient({ stack, port }) {
  const url = `ws://${HOST}:${port}/`
  let connect
  if (stack === 'ws') {
    const WebSocket = require('ws')
    connect = () => wsConnection(WebSocket, url)
  } else {
    const { abio, missing } = loadAbio('connectWebSocket')
    if (missing) {
      commandsFromStdin()
      return say({ missing })
    }
    connect = () => abioConnection(abio, url)
  }
  let queue = Promise.resolve()
  commandsFromStdin((cmd) => {
    queue = queue.then(() =>
      runCommand(connect, cmd).then(
        (r) => say(r),
        (e) => say({ error: e && e.stack ? e.stack : String(e) }),
      ),
    )
  })
  say({ ready: true })
}

/**
 * One connection, the same shape for both stacks: send(data), onMessage(fn(data)) with data an
 * ArrayBuffer or Buffer (binary) or a string (text), close() (resolves once closed).
 */
async function abioConnection(abio, url) {
  const ws = await abio.connectWebSocket(url)
  let handler = null
  ;(async () => {
    const it = ws[Symbol.asyncIterator]()
    for (;;) {
      const r = await it.next()
      if (r.done) return
      handler(r.value)
    }
  })().catch((e) => {
    console.error(e)
    process.exit(1)
  })
  return {
    send: (d) => ws.send(d),
    onMessage: (fn) => (handler = fn),
    close: () => {
      ws.close()
      return ws.closed
    },
  }
}

/** The seq of a binary message after checking its size; throws a wrong result. */
function seqOf(data, size, what) {
  if (typeof data === 'string') throw new Error(`wrong result: ${what}: a text message ${JSON.stringify(data)}`)
  if (data.byteLength !== size) throw new Error(`wrong result: ${what}: ${data.byteLength} bytes, expected ${size}`)
  return Buffer.isBuffer(data) ? data.readUInt32LE(0) : new DataView(data).getUint32(0, true)
}

async function runCommand(connect, { kind, size, seconds, clients = 1 }) {
  const conns = await Promise.all(Array.from({ length: kind === 'broadcast' ? clients : 1 }, connect))
  try {
    if (kind === 'echo') return await echoRun(conns[0], size, seconds)
    const ends = conns.map(
      (c, i) =>
        new Promise((resolve, reject) => {
          let count = 0
          c.onMessage((data) => {
            try {
              if (typeof data === 'string') {
                const m = /^end (\d+)$/.exec(data)
                if (!m) throw new Error(`wrong result: client ${i}: unexpected text ${JSON.stringify(data)}`)
                if (Number(m[1]) !== count)
                  throw new Error(`wrong result: client ${i}: received ${count} messages, the server sent ${m[1]}`)
                return resolve({ count, at: u.now() })
              }
              const seq = seqOf(data, size, `client ${i}`)
              if (seq !== count >>> 0) throw new Error(`wrong result: client ${i}: message ${count} has seq ${seq}`)
              count++
            } catch (e) {
              reject(e)
            }
          })
        }),
    )
    const t0 = u.now()
    conns[0].send(kind === 'stream' ? `stream ${size} ${seconds}` : `broadcast ${size} ${seconds} ${clients}`)
    const done = await Promise.all(ends)
    const last = done.reduce((m, d) => (d.at > m ? d.at : m), t0)
    return { count: done.reduce((n, d) => n + d.count, 0), seconds: Number(last - t0) / 1e9 }
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

  const run = u.resources() // the servers and clients

  /** Starts one stack's server and client: { server, client, stop() } or { missing }. */
  async function startStack(stack) {
    const start = (role, spec) =>
      run.startChild(`the ${stack} ${role.slice(2)}`, process.execPath, [__filename, role, JSON.stringify(spec)])
    const server = start('--server', { stack })
    const s = await u.ready(server)
    if (s.missing) return s
    const client = start('--client', { stack, port: s.port })
    const c = await u.ready(client).catch(async (e) => {
      await server.stop()
      throw e
    })
    if (c.missing) {
      await server.stop()
      return c
    }
    return { server, client, stop: () => Promise.all([client.stop(), server.stop()]) }
  }

  /** One run on a stack's client: { count, seconds }, checked. */
  async function runOn(name, stack, command) {
    stack.client.tell(command)
    const r = await stack.client.next(command.seconds * 1000 + 30000)
    if (r.error) throw new Error(`${name}: ${r.error}`)
    if (!(r.count > 0)) throw new Error(`wrong result: ${name}: no message received`)
    return r
  }

  const rows = []
  const record = u.recorder(rows, { otherKey: 'ws', otherLabel: 'ws' })

  /**
   * Runs one case on both stacks: a checked warm-up each, then cfg.reps interleaved runs.
   * Records the row: rate = messages (or bytes, for unit GB/s) per second.
   */
  function wsCase({ id, aliases, kind, size, work, against, target, unit = 'msgs/s', clients }) {
    const command = (seconds) => ({ kind, size, seconds, clients })
    return {
      id,
      aliases,
      title: () => `${work}, vs ${against}`,
      async run() {
        const res = await u.interleaveStarted(
          ['abio', 'ws'],
          {
            start: startStack,
            need: 'ws',
            async warm(name, s) {
              const r = await runOn(`${name} (warm-up)`, s, command(cfg.warmup))
              if (opts.verbose) log(`    warm-up ${name}: ${r.count} messages in ${u.fmtSeconds(r.seconds)}`)
            },
            contender: (name, s) => ({
              run: () => runOn(name, s, command(cfg.seconds)),
              after(rep, r) {
                if (opts.verbose)
                  log(
                    `    rep ${rep + 1} ${name}: ${u.fmtRate(r.count / r.seconds, 'msgs/s')} (${r.count} in ${u.fmtSeconds(r.seconds)})`,
                  )
              },
              figure: (r) => r.seconds / r.count,
            }),
          },
          { reps: cfg.reps, warmup: 0, gc: false },
        )
        record({
          id,
          work,
          against,
          unit,
          amount: unit === 'GB/s' ? size : 1,
          abio: res.abio || null,
          abioMissing: res.missing.abio && `not available yet: ${res.missing.abio}`,
          ws: res.ws,
          target,
          reps: res.reps,
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
(default 3, 2 with --quick). Each server and each client in its own node process.`,
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
    const info = u.machineInfo()
    const wsVersion = require('ws/package.json').version
    const bu = bufferutilVersion()
    log(
      `abio WebSocket benchmarks${opts.quick ? ' (--quick)' : ''}: ${u.machineLine(info)}; loopback ${HOST}; ws ${wsVersion}${bu ? ` with bufferutil ${bu}` : ' WITHOUT bufferutil'}; ` +
        `${cfg.seconds} s runs, ${cfg.reps} per stack; each server and client in its own node process`,
    )
    log('medians of interleaved runs; ratio = abio rate / ws rate (higher = abio faster)')
    const ran = await u.runCases(selected, rows)
    run.cleanup()
    u.report({
      bench: 'ws',
      header:
        `abio WebSocket vs ws ${wsVersion}${bu ? ' + bufferutil' : ''} — ${cfg.seconds} s runs${opts.quick ? ' (--quick)' : ''}, ` +
        `${info.node}, ${info.cores} cores, loopback`,
      otherKey: 'ws',
      quick: opts.quick,
      machine: { ...info, dir: undefined, fs: undefined, ws: wsVersion, bufferutil: bu },
      ...ran,
    })
  }

  u.runMain(main, run.cleanup)
}
