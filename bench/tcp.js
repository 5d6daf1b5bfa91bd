'use strict'
// TCP benchmarks: abio sockets against Node's net (and iperf3, the loopback limit), in one
// process, repetitions interleaved. The receiver is a tiny C sink (bench/sink.c, compiled at
// start with `cc -O2` into a temporary directory) in its own process on 127.0.0.1, so only
// the sending side is measured: the time from connect until the sink's reply (its count of
// what arrived), and that count is checked against what was sent, every repetition.
//
//   node bench/tcp.js                    every case (about 1-2 minutes on 2 cores)
//   node bench/tcp.js --quick            a fast smoke run (256 MiB, 1 s of frames, 3 repetitions)
//   node bench/tcp.js frames ...         only the named cases (see --help; a prefix is enough)
//   node bench/tcp.js --reps 9           override the number of repetitions of every case
//   node bench/tcp.js --duration 5       seconds each frames run lasts (default 3; 1 with --quick)
//   BENCH_DIR=/some/dir node bench/tcp.js  where the sink and the sendFile file go (default: os.tmpdir())
//
// Cases: `send` 1 GiB in 1 MiB writes (Node: socket.write, awaiting 'drain'), `sendFile` of a
// cached 1 GiB file (Node: createReadStream(p, 1 MiB).pipe(socket)), each beside iperf3, the
// loopback limit (-l 1M; -Z, sendfile), measured in the same run: the target is >= 1.1x (1.5x)
// Node, or >= 0.9x iperf3 where that is lower. `frames`: 1 KiB frames (u32 big-endian length
// prefix) one way for --duration seconds, against the best of three Node ways (two writes per
// frame, the same corked per batch, one copied write per frame); the frames sink checks every
// frame (count, lengths, payload bytes). Its figures are frames/s; the medianSeconds in
// BENCH_JSON are seconds per frame.
//
// Without `cc` the benchmark is skipped (exit code 0). Without iperf3 its column is left
// out ("apt-get install iperf3"); the targets are then against Node alone. Until abio has
// sockets (abio.connect), the Node and iperf3 columns run and the rows are not judged.
// A wrong result is an error (exit code 1); a missed target is printed as MISSED and the
// exit code stays 0. The last line is `BENCH_JSON {...}` for tools.

const fs = require('fs')
const os = require('os')
const net = require('net')
const path = require('path')
const { once } = require('events')
const { spawnSync, execFile } = require('child_process')
const u = require('./util')
let abio // loaded in main(), so --help works without the addon
let abioMissing // why abio's side cannot run, or undefined when it can

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB
const HOST = '127.0.0.1'
const CHUNK = MiB // one write, and iperf3 -l
const FRAME = KiB // payload of one frame
const FRAME_BATCH = 256 // frames written between two looks at the clock and at backpressure
const ABIO_WINDOW = 4 // abio writes of the 1 GiB case in flight at once

// ---------------------------------------------------------------------------
// command line: the shared options, and --duration (this benchmark's own)

let duration
const rest = []
{
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--duration') duration = argv[++i]
    else if (a.startsWith('--duration=')) duration = a.slice(11)
    else rest.push(a)
  }
}
const opts = u.parseArgs(rest, fail)
if (duration !== undefined) {
  duration = Number(duration)
  if (!(duration > 0 && duration <= 600)) fail('--duration needs a number of seconds, > 0 and <= 600')
}

const cfg = opts.quick
  ? { size: 256 * MiB, sendReps: 3, sendFileReps: 3, framesReps: 3, seconds: duration ?? 1 }
  : { size: GiB, sendReps: 5, sendFileReps: 5, framesReps: 3, seconds: duration ?? 3 }
if (opts.reps) for (const k of Object.keys(cfg)) if (k.endsWith('Reps')) cfg[k] = opts.reps

function fail(msg) {
  console.error(`bench/tcp.js: ${msg} (try --help)`)
  process.exit(2)
}

function log(...args) {
  console.log(...args)
}

/** `wrong result: ...` unless `cond`. */
function check(cond, what) {
  if (!cond) throw new Error(`wrong result: ${what}`)
}

const noop = () => {}

// Writes that are deliberately not awaited one by one (abio keeps several in flight) reject
// together with the one that is awaited when the connection breaks; that one carries the
// error to the case. The others are counted here instead of killing the process, and the
// sink's count would show any write lost without an error.
let strayRejections = 0
process.on('unhandledRejection', (e) => {
  if (strayRejections++ === 0) console.error(`  (an unawaited write rejected: ${e && e.message ? e.message : e})`)
})

// ---------------------------------------------------------------------------
// the bench directory (the sink's binary, the sendFile file) and the child processes

const baseDir = process.env.BENCH_DIR ? path.resolve(process.env.BENCH_DIR) : os.tmpdir()
let root
let sinkBin
const sinks = {} // mode -> { proc, port }
const children = new Set() // every child process still running (sinks, iperf3 servers)

function cleanup() {
  for (const c of children) {
    try {
      c.kill('SIGTERM')
    } catch {}
  }
  children.clear()
  for (const m of Object.keys(sinks)) delete sinks[m]
  if (!root) return
  const r = root
  root = undefined
  u.removeDir(r)
}
u.cleanupOnSignal(cleanup)

/** Spawns a child that cleanup() ends; its 'exit' is awaitable as `child.exited`. */
function spawnChild(cmd, args, options) {
  return u.spawnTracked(children, cmd, args, options)
}

/** Compiles bench/sink.c; false when there is no `cc`. */
function buildSink() {
  const out = path.join(root, 'sink')
  const r = spawnSync('cc', ['-O2', '-o', out, path.join(__dirname, 'sink.c')], { encoding: 'utf8' })
  if (r.error && r.error.code === 'ENOENT') return false
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`cc -O2 bench/sink.c failed:\n${r.stderr}`)
  sinkBin = out
  return true
}

/** The port of a running sink in `mode` ('bytes' or 'frames'), started on first use. */
async function sinkPort(mode) {
  if (sinks[mode]) return sinks[mode].port
  const proc = spawnChild(sinkBin, ['0', mode], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  const port = await Promise.race([
    new Promise((resolve) => {
      proc.stdout.on('data', (d) => {
        out += d
        const m = /listening (\d+)\n/.exec(out)
        if (m) resolve(Number(m[1]))
      })
    }),
    proc.exited.then((x) => {
      throw new Error(`the ${mode} sink ended before listening (${x.error ? x.error.message : (x.code ?? x.signal)})`)
    }),
  ])
  proc.exited.then(() => {
    if (sinks[mode] && sinks[mode].proc === proc) delete sinks[mode]
  })
  sinks[mode] = { proc, port }
  return port
}

function u64(bytes, i) {
  return Number(u.bytesOf(bytes).readBigUInt64LE(8 * i))
}

/** The frames sink's reply: 6 x u64 LE. */
function frameStats(bytes) {
  check(bytes.byteLength === 48, `the frames sink replied ${bytes.byteLength} bytes, expected 48`)
  const [frames, payload, sum, minLen, maxLen, leftover] = [0, 1, 2, 3, 4, 5].map((i) => u64(bytes, i))
  return { frames, payload, sum, minLen, maxLen, leftover }
}

// ---------------------------------------------------------------------------
// iperf3: the loopback limit, measured in the same run

let iperf3Version // e.g. 'iperf 3.12', or undefined when there is no iperf3
function findIperf3() {
  const r = spawnSync('iperf3', ['--version'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return undefined
  return (r.stdout.split('\n')[0] || 'iperf3').replace(/\s*\(.*$/, '')
}

/** A port free on 127.0.0.1 right now. */
async function freePort() {
  const srv = net.createServer()
  srv.listen(0, HOST)
  await once(srv, 'listening')
  const { port } = srv.address()
  srv.close()
  await once(srv, 'close')
  return port
}

/** Resolves once something listens on 127.0.0.1:port (from /proc/net/tcp, without connecting). */
async function waitListening(port, exited) {
  const key = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  let gone = false
  exited.then(() => (gone = true))
  const t0 = u.now()
  for (;;) {
    const lines = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n')
    if (lines.some((l) => l.includes(` ${key} `) && l.split(/\s+/)[4] === '0A')) return
    if (gone) throw new Error('the iperf3 server ended before listening')
    if (u.since(t0) > 10) throw new Error(`the iperf3 server is not listening on ${port} after 10 s`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * One iperf3 run: a one-off server (`iperf3 -s -1`) and `iperf3 -c 127.0.0.1 -l 1M -n <bytes> -J`
 * (`-Z`: sendfile). Resolves with { bytes, rate } of the sender, as iperf3 reports them.
 */
async function iperf3(bytes, { zerocopy = false } = {}) {
  const port = await freePort()
  const server = spawnChild('iperf3', ['-s', '-1', '-p', String(port), '-B', HOST], { stdio: 'ignore' })
  try {
    await waitListening(port, server.exited)
    const args = ['-c', HOST, '-p', String(port), '-l', String(CHUNK), '-n', String(bytes), '-J']
    if (zerocopy) args.push('-Z')
    const stdout = await new Promise((resolve, reject) => {
      execFile('iperf3', args, { maxBuffer: 64 * MiB, encoding: 'utf8' }, (err, out) => {
        let why = err && err.message
        try {
          const j = JSON.parse(out)
          if (j.error) why = j.error
        } catch {}
        if (why) reject(new Error(`iperf3 ${args.join(' ')}: ${why}`))
        else resolve(out)
      })
    })
    const sent = JSON.parse(stdout).end.sum_sent
    const got = { bytes: sent.bytes, rate: sent.bits_per_second / 8 }
    const done = await Promise.race([server.exited, new Promise((resolve) => setTimeout(resolve, 5000, null))])
    if (!done) throw new Error('the iperf3 server did not end after its one test')
    return got
  } finally {
    server.kill('SIGTERM') // a no-op once it has ended
  }
}

/**
 * The iperf3 contender of interleave(): run() returns iperf3's own report, and the figures
 * are iperf3's sender rates (not the wall time of starting two processes), as an
 * interleave()-style result: { times: bytes / rate per repetition, median }.
 */
function iperf3Contender(bytes, options) {
  const times = []
  return {
    contender: {
      run: () => iperf3(bytes, options),
      after(rep, got) {
        check(got.bytes >= bytes, `iperf3 sent ${got.bytes} bytes, expected ${bytes}`)
        if (rep < 0) return
        times.push(bytes / got.rate)
        if (opts.verbose) log(`    rep ${rep + 1} iperf3: ${u.fmtRate(got.rate, 'GB/s')} (its sender's figure)`)
      },
    },
    result: () => ({ times, median: u.median(times) }),
  }
}

// ---------------------------------------------------------------------------
// the senders

/** Resolves with the first `n` bytes the socket receives (the sink's reply). */
function nodeReply(socket, n) {
  const p = new Promise((resolve, reject) => {
    const chunks = []
    let got = 0
    const done = (err) => {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', done)
      if (err) reject(err)
      else resolve(Buffer.concat(chunks).subarray(0, n))
    }
    const onData = (d) => {
      chunks.push(d)
      got += d.length
      if (got >= n) done()
    }
    const onEnd = () => done(new Error(`wrong result: the sink replied ${got} bytes, expected ${n}`))
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('error', done)
  })
  p.catch(noop) // awaited later; an error before then must not count as unhandled
  return p
}

/** Node: 1 MiB writes, awaiting 'drain' whenever write() says so. Resolves with the sink's count. */
async function nodeSend(port, src, total) {
  const socket = net.connect({ host: HOST, port })
  try {
    const reply = nodeReply(socket, 8)
    await once(socket, 'connect')
    for (let off = 0; off < total; off += CHUNK) {
      if (!socket.write(src.subarray(off, off + CHUNK))) await once(socket, 'drain')
    }
    socket.end()
    return u64(await reply, 0)
  } finally {
    socket.destroy()
  }
}

/** abio: 1 MiB writes. Resolves with the sink's count. */
async function abioSend(port, src, total) {
  const sock = await abio.connect({ host: HOST, port })
  try {
    // As a user writes for throughput: up to ABIO_WINDOW writes in flight (each holds its
    // view of `src`, no copy; they go out in call order), awaiting the oldest before the next.
    const pending = []
    for (let off = 0; off < total; off += CHUNK) {
      if (pending.length === ABIO_WINDOW) await pending.shift()
      pending.push(sock.write(src.subarray(off, off + CHUNK)))
    }
    for (const p of pending) await p
    await sock.end()
    return u64(await sock.readExactly(8), 0)
  } finally {
    sock.close()
  }
}

/** Node: createReadStream(file, 1 MiB).pipe(socket). Resolves with the sink's count. */
async function nodeSendFile(port, file) {
  const socket = net.connect({ host: HOST, port })
  let rs
  try {
    const reply = nodeReply(socket, 8)
    await once(socket, 'connect')
    rs = fs.createReadStream(file, { highWaterMark: MiB })
    rs.on('error', (e) => socket.destroy(e))
    rs.pipe(socket) // ends the socket after the last byte
    return u64(await reply, 0)
  } finally {
    if (rs) rs.destroy()
    socket.destroy()
  }
}

/** abio: sendFile (sendfile(2)). Resolves with { sent, count }: sendFile's result, the sink's count. */
async function abioSendFile(port, file) {
  const sock = await abio.connect({ host: HOST, port })
  try {
    const sent = await sock.sendFile(file)
    await sock.end()
    return { sent, count: u64(await sock.readExactly(8), 0) }
  } finally {
    sock.close()
  }
}

function deadline(seconds) {
  return u.now() + BigInt(Math.round(seconds * 1e9))
}

// Frames: a u32 big-endian length, then the payload. Each sender writes FRAME_BATCH frames,
// then looks at backpressure and the clock; they all resolve with { frames, stats }: the
// frames sent and the frames sink's reply.

/**
 * Node: frames for `seconds`, FRAME_BATCH at a time written by `writeBatch(socket, payload)`
 * (which returns write()'s last answer), awaiting 'drain' when told to.
 */
async function nodeFrames(port, payload, seconds, writeBatch) {
  const socket = net.connect({ host: HOST, port })
  try {
    const reply = nodeReply(socket, 48)
    await once(socket, 'connect')
    const end = deadline(seconds)
    let frames = 0
    do {
      const ok = writeBatch(socket, payload)
      frames += FRAME_BATCH
      if (!ok) await once(socket, 'drain')
    } while (u.now() < end)
    socket.end()
    return { frames, stats: frameStats(await reply) }
  } finally {
    socket.destroy()
  }
}

/** socket.write(header), socket.write(payload), per frame. */
function twoWrites(socket, payload) {
  let ok = true
  for (let i = 0; i < FRAME_BATCH; i++) {
    const h = Buffer.allocUnsafe(4)
    h.writeUInt32BE(payload.length, 0)
    socket.write(h)
    ok = socket.write(payload)
  }
  return ok
}

/** Node: two writes per frame. */
const nodeFramesTwoWrites = (port, payload, seconds) => nodeFrames(port, payload, seconds, twoWrites)

/** Node: the same two writes per frame, corked for each batch (one writev per batch). */
const nodeFramesCorked = (port, payload, seconds) =>
  nodeFrames(port, payload, seconds, (socket, p) => {
    socket.cork()
    const ok = twoWrites(socket, p)
    socket.uncork()
    return ok
  })

/** Node: header and payload copied into one Buffer per frame, one socket.write. */
const nodeFramesOneWrite = (port, payload, seconds) =>
  nodeFrames(port, payload, seconds, (socket, p) => {
    let ok = true
    for (let i = 0; i < FRAME_BATCH; i++) {
      const f = Buffer.allocUnsafe(4 + p.length)
      f.writeUInt32BE(p.length, 0)
      p.copy(f, 4)
      ok = socket.write(f)
    }
    return ok
  })

/** abio: writeFrame(payload) per frame. */
async function abioFrames(port, payload, seconds) {
  const sock = await abio.connect({ host: HOST, port })
  try {
    const end = deadline(seconds)
    let frames = 0
    let prevLast
    do {
      // As a user writes for throughput: no await per frame. Writes settle in call order, so
      // when a batch's last promise has resolved the whole batch has; awaiting the previous
      // batch's last after issuing this one keeps up to 2 x FRAME_BATCH frames in flight.
      let last
      for (let i = 0; i < FRAME_BATCH; i++) last = sock.writeFrame(payload)
      if (prevLast) await prevLast
      prevLast = last
      frames += FRAME_BATCH
    } while (u.now() < end)
    await prevLast
    await sock.end()
    return { frames, stats: frameStats(await sock.readExactly(48)) }
  } finally {
    sock.close()
  }
}

// ---------------------------------------------------------------------------
// shared data

let source // the bytes to send: one buffer, filled once with a pattern
function getSource() {
  if (!source) source = u.fillPattern(Buffer.allocUnsafeSlow(cfg.size), 20240607)
  return source
}

let bigFile // a file holding getSource(), written once, synced and read once (so: cached)
function getBigFile() {
  if (!bigFile) {
    const size = cfg.size
    const st = fs.statfsSync(root)
    const free = st.bavail * st.bsize
    if (free < size + 256 * MiB) {
      throw new Error(`not enough space for a ${u.humanBytes(size)} file in ${root}: ${u.fmtInt(free / MiB)} MiB free`)
    }
    const file = path.join(root, 'send.bin')
    const fd = fs.openSync(file, 'w')
    try {
      const src = getSource()
      for (let off = 0; off < size;) off += fs.writeSync(fd, src, off, Math.min(64 * MiB, size - off), off)
      fs.fsyncSync(fd) // no writeback during the timed runs
    } finally {
      fs.closeSync(fd)
    }
    // read it once, so it is in the page cache
    const buf = Buffer.allocUnsafe(CHUNK)
    const rfd = fs.openSync(file, 'r')
    try {
      while (fs.readSync(rfd, buf, 0, CHUNK, null) > 0);
    } finally {
      fs.closeSync(rfd)
    }
    bigFile = file
  }
  return bigFile
}

// ---------------------------------------------------------------------------
// result rows

const rows = []
/** Records one comparison (u.record); `node`: the interleave() result of the Node contender, abio: null when it did not run. */
function record({ node, ...comparison }) {
  return u.record(rows, { ...comparison, other: node, abioMissing }, { otherKey: 'node', otherLabel: 'node' })
}

function onRep(rep, name, seconds) {
  // iperf3's wall time includes starting two processes: its own figure is printed instead (iperf3Contender)
  if (opts.verbose && name !== 'iperf3') log(`    rep ${rep + 1} ${name}: ${u.fmtSeconds(seconds)}`)
}

/** Time budgets (seconds) of the timed repetitions of each case: a slow or busy machine gets fewer reps, not a longer run. */
const BUDGET = { send: 30, sendFile: 30, frames: 60 }
function onReduce(reps, perRep) {
  log(`  (one repetition takes ${u.fmtSeconds(perRep)}: running ${reps} repetitions to stay within the time budget)`)
}

/**
 * The target of a bytes case: >= `times` x Node, or >= 0.9 x iperf3 where that is lower
 * (where Node is already near the loopback limit, the target is the limit).
 */
function bytesTarget(times, nodeRate, limitRate) {
  const viaLimit = limitRate ? Math.round((90 * limitRate) / nodeRate) / 100 : Infinity
  if (viaLimit >= times) return { target: times }
  return { target: viaLimit, targetNote: '0.9x iperf3' }
}

// ---------------------------------------------------------------------------
// cases

const CASES = [
  {
    id: 'send',
    aliases: ['write'],
    title: () =>
      `send ${u.humanBytes(cfg.size)} in 1 MiB writes vs socket.write + 'drain'` +
      (iperf3Version ? '; iperf3 -l 1M' : ''),
    async run() {
      const total = cfg.size
      const src = getSource()
      const port = await sinkPort('bytes')

      const ip = iperf3Version && iperf3Contender(total)
      const contenders = {}
      if (!abioMissing) {
        contenders.abio = {
          run: () => abioSend(port, src, total),
          after: (rep, n) => check(n === total, `the sink counted ${n} bytes from abio, expected ${total}`),
        }
      }
      contenders.node = {
        run: () => nodeSend(port, src, total),
        after: (rep, n) => check(n === total, `the sink counted ${n} bytes from node, expected ${total}`),
      }
      if (ip) contenders.iperf3 = ip.contender

      // correctness first: one full, checked run of each (untimed; the timed ones are checked too)
      for (const c of Object.values(contenders)) c.after(-1, await c.run())

      const res = await u.interleave(contenders, {
        reps: cfg.sendReps,
        warmup: 0,
        onRep,
        onReduce,
        budget: BUDGET.send,
      })
      const nodeRate = total / res.node.median
      const limit = ip && { rate: total / ip.result().median, label: 'iperf3 -l 1M' }
      record({
        id: 'send',
        work: `send ${u.humanBytes(total)} in 1 MiB writes`,
        against: "socket.write + 'drain'",
        unit: 'GB/s',
        amount: total,
        abio: res.abio || null,
        node: res.node,
        limit,
        ...bytesTarget(1.1, nodeRate, limit && limit.rate),
        reps: res.reps,
      })
    },
  },

  {
    id: 'sendFile',
    title: () =>
      `sendFile of a ${u.humanBytes(cfg.size)} cached file vs createReadStream(1 MiB).pipe(socket)` +
      (iperf3Version ? '; iperf3 -Z' : ''),
    async run() {
      const total = cfg.size
      const file = getBigFile()
      const port = await sinkPort('bytes')

      const ip = iperf3Version && iperf3Contender(total, { zerocopy: true })
      const contenders = {}
      if (!abioMissing) {
        contenders.abio = {
          run: () => abioSendFile(port, file),
          after(rep, { sent, count }) {
            check(sent === total, `abio sendFile resolved with ${sent}, expected ${total}`)
            check(count === total, `the sink counted ${count} bytes from abio, expected ${total}`)
          },
        }
      }
      contenders.node = {
        run: () => nodeSendFile(port, file),
        after: (rep, n) => check(n === total, `the sink counted ${n} bytes from node, expected ${total}`),
      }
      if (ip) contenders.iperf3 = ip.contender

      for (const c of Object.values(contenders)) c.after(-1, await c.run())

      const res = await u.interleave(contenders, {
        reps: cfg.sendFileReps,
        warmup: 0,
        onRep,
        onReduce,
        budget: BUDGET.sendFile,
      })
      const nodeRate = total / res.node.median
      const limit = ip && { rate: total / ip.result().median, label: 'iperf3 -Z' }
      record({
        id: 'sendFile',
        work: `sendFile of a ${u.humanBytes(total)} cached file`,
        against: 'createReadStream(1 MiB).pipe(socket)',
        unit: 'GB/s',
        amount: total,
        abio: res.abio || null,
        node: res.node,
        limit,
        ...bytesTarget(1.5, nodeRate, limit && limit.rate),
        reps: res.reps,
      })
    },
  },

  {
    id: 'frames',
    title: () =>
      `frames of 1 KiB, one way, ${cfg.seconds} s: writeFrame vs a hand-written u32 BE length prefix + socket.write (best of 3 ways)`,
    async run() {
      const payload = u.fillPattern(Buffer.alloc(FRAME), 77)
      let payloadSum = 0
      for (const b of payload) payloadSum += b
      const port = await sinkPort('frames')

      const senders = {}
      if (!abioMissing) senders.abio = abioFrames
      senders['node write(header), write(payload)'] = nodeFramesTwoWrites
      senders['node the same, corked per batch'] = nodeFramesCorked
      senders['node one write per frame (copied together)'] = nodeFramesOneWrite

      /** Every frame arrived, whole: count, lengths, payload bytes (by their sum), nothing left over. */
      const verify = (name, { frames, stats: s }) => {
        check(s.frames === frames, `${name}: the sink parsed ${s.frames} frames, ${frames} were sent`)
        check(s.leftover === 0, `${name}: ${s.leftover} bytes of an incomplete frame at the end`)
        check(
          s.minLen === FRAME && s.maxLen === FRAME,
          `${name}: frame lengths ${s.minLen}..${s.maxLen}, expected ${FRAME}`,
        )
        check(s.payload === frames * FRAME, `${name}: ${s.payload} payload bytes, expected ${frames * FRAME}`)
        check(s.sum === frames * payloadSum, `${name}: the payload bytes differ from those sent (sum ${s.sum})`)
      }

      // correctness first: a short, checked run of each (it also warms them up)
      for (const [name, send] of Object.entries(senders))
        verify(name, await send(port, payload, Math.min(0.3, cfg.seconds)))

      // Each repetition runs `seconds` and sends as many frames as it can: its figure is its
      // seconds (connect to the sink's reply) per frame; the medians of those are recorded.
      const perFrame = {} // name -> seconds per frame, one per repetition
      const sent = {} // name -> frames sent in its latest repetition
      const contenders = {}
      for (const [name, send] of Object.entries(senders)) {
        perFrame[name] = []
        contenders[name] = {
          run: () => send(port, payload, cfg.seconds),
          after(rep, got) {
            verify(name, got)
            sent[name] = got.frames
          },
        }
      }
      const res = await u.interleave(contenders, {
        reps: cfg.framesReps,
        warmup: 0,
        onRep(rep, name, seconds) {
          perFrame[name].push(seconds / sent[name])
          if (opts.verbose) log(`    rep ${rep + 1} ${name}: ${u.fmtRate(sent[name] / seconds, 'frames/s')}`)
        },
        onReduce,
        budget: BUDGET.frames,
      })
      const result = (name) => ({ times: perFrame[name], median: u.median(perFrame[name]) })
      const nodeNames = Object.keys(senders).filter((n) => n !== 'abio')
      for (const n of nodeNames) log(`    ${n}: ${u.fmtRate(1 / result(n).median, 'frames/s')}`)
      // The issue's baseline is Node with a hand-written prefix and socket.write: the better
      // of its two plain ways is the target's. Corking a batch (one writev per batch, and no
      // promise per frame) is shown beside it for information: per frame it costs less than
      // abio's one promise per writeFrame.
      const corked = 'node the same, corked per batch'
      const plain = nodeNames.filter((n) => n !== corked)
      const best = plain.reduce((a, b) => (result(b).median < result(a).median ? b : a))
      for (const [id, against, target] of [
        ['frames', `${best} (the better plain Node way)`, 2],
        ['frames-corked', `${corked} (information: no promise per frame)`, null],
      ]) {
        record({
          id,
          work: `frames of 1 KiB, one way, ${cfg.seconds} s`,
          against,
          unit: 'frames/s',
          amount: 1, // the figures are seconds per frame
          abio: abioMissing ? null : result('abio'),
          node: result(id === 'frames' ? best : corked),
          target,
          reps: res.reps,
        })
      }
    },
  },
]

// ---------------------------------------------------------------------------
// main

function printHelp() {
  log(`usage: node bench/tcp.js [--quick] [--reps N] [--duration S] [--verbose] [case ...]

cases (a unique prefix is enough):`)
  for (const c of CASES) log(`  ${c.id.padEnd(9)} ${c.title()}`)
  log(`
--duration S: seconds each frames run lasts (default 3, 1 with --quick).
BENCH_DIR=dir puts the sink binary and the sendFile file under dir (default ${os.tmpdir()}).
Needs cc (to build bench/sink.c); iperf3, if installed, gives the loopback limit.`)
}

/**
 * One connection with abio.connect to a throwaway Node server: undefined when it works, or why
 * abio's side cannot run when the addon has no sockets yet (lib/ ahead of a rebuilt binding).
 * Any other failure is left for the cases to report as an error.
 */
async function probeAbio() {
  const srv = net.createServer((s) => s.destroy())
  srv.listen(0, HOST)
  await once(srv, 'listening')
  try {
    const sock = await abio.connect({ host: HOST, port: srv.address().port })
    sock.close()
    return undefined
  } catch (e) {
    if (e instanceof TypeError && /is not a function/.test(e.message)) {
      return `abio.connect fails: ${e.message} (is the addon built with sockets?)`
    }
    return undefined
  } finally {
    srv.close()
  }
}

async function main() {
  if (opts.help) return printHelp()
  const selected = u.selectCases(CASES, opts.cases, fail)
  try {
    abio = require('..')
    if (typeof abio.connect !== 'function') abioMissing = 'abio.connect is not there yet'
  } catch (e) {
    abioMissing = `the addon does not load: ${String(e.message).split('\n')[0]}`
  }
  if (!abioMissing) abioMissing = await probeAbio()

  fs.mkdirSync(baseDir, { recursive: true })
  root = fs.mkdtempSync(path.join(baseDir, 'abio-bench-tcp-'))
  if (!buildSink()) {
    cleanup()
    log('bench/tcp.js: skipped: no C compiler (cc) to build the TCP sink, bench/sink.c')
    return
  }
  iperf3Version = findIperf3()

  const info = u.machineInfo(root)
  log(
    `abio TCP benchmarks${opts.quick ? ' (--quick)' : ''}: node ${info.node}, ${info.platform}, ${info.cores} x ${info.cpu}, ` +
      `${info.memGiB} GiB; loopback ${HOST}; a C sink receives; ${iperf3Version || 'no iperf3'}; files in ${root} (${info.fs || 'unknown fs'})`,
  )
  if (!iperf3Version) log('iperf3 not found: apt-get install iperf3 (the loopback limit is left out)')
  if (abioMissing) log(`abio's side is skipped (${abioMissing}): Node and iperf3 only, nothing judged`)
  log('medians of interleaved repetitions; ratio = abio throughput / node throughput (higher = abio faster)')

  const t0 = u.now()
  const errors = await u.runCases(selected, rows)

  log(`\ncleaning up ${root} ...`)
  cleanup()

  u.report({
    bench: 'tcp',
    header: `abio vs node net${opts.quick ? ` (--quick: ${u.humanBytes(cfg.size)}, ${cfg.seconds} s of frames, fewer repetitions)` : ''} — ${info.node}, ${info.cores} cores, loopback; total ${u.fmtSeconds(u.since(t0))}`,
    otherKey: 'node',
    limitTitle: 'iperf3 (limit)',
    rows,
    errors,
    quick: opts.quick,
    machine: { ...info, dir: undefined, iperf3: iperf3Version },
  })
  if (strayRejections) log(`(${strayRejections} unawaited writes rejected)`)
  // A missed target is reported, not failed; a wrong result or a crash is a failure.
  process.exitCode = errors.length ? 1 : 0
}

main().catch((e) => {
  cleanup()
  console.error(e)
  process.exitCode = 1
})
