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
const { spawnSync } = require('child_process')
const u = require('./util')
const { findIperf3, iperf3Contender } = require('./util/iperf3')
const { log, check } = u
let abio // loaded in main(), so --help works without the addon
let abioMissing // why abio's side cannot run, or undefined when it can
let iperf3Version // e.g. 'iperf 3.12', or undefined when there is no iperf3

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB
const HOST = '127.0.0.1'
const CHUNK = MiB // one write, and iperf3 -l
const FRAME = KiB // payload of one frame
const FRAME_BATCH = 256 // frames written between two looks at the clock and at backpressure
const ABIO_WINDOW = 4 // abio writes of the 1 GiB case in flight at once

// ---------------------------------------------------------------------------
// command line: the shared options, and --duration

const { opts, fail } = u.commandLine('bench/tcp.js', { duration: 'seconds' })
const cfg = opts.quick
  ? { size: 256 * MiB, sendReps: 3, sendFileReps: 3, framesReps: 3, seconds: opts.duration ?? 1 }
  : { size: GiB, sendReps: 5, sendFileReps: 5, framesReps: 3, seconds: opts.duration ?? 3 }
if (opts.reps) for (const k of Object.keys(cfg)) if (k.endsWith('Reps')) cfg[k] = opts.reps

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

const run = u.resources() // run.root: the sink's binary, the sendFile file; children: sinks, iperf3 servers
let sinkBin
const sinks = {} // mode -> { proc, port }

/** Compiles bench/sink.c; false when there is no `cc`. */
function buildSink() {
  const out = path.join(run.root, 'sink')
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
  const proc = run.startChild(`the ${mode} sink`, sinkBin, ['0', mode], { stdin: 'ignore', raw: true })
  const line = await proc.next()
  const m = /^listening (\d+)$/.exec(line)
  check(m, `the ${mode} sink said ${JSON.stringify(line)}, expected "listening <port>"`)
  const port = Number(m[1])
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

/** abio: sendFile (sendfile(2)), checking that it resolves with `total`. Resolves with the sink's count. */
async function abioSendFile(port, file, total) {
  const sock = await abio.connect({ host: HOST, port })
  try {
    const sent = await sock.sendFile(file)
    await sock.end()
    const count = u64(await sock.readExactly(8), 0)
    check(sent === total, `abio sendFile resolved with ${sent}, expected ${total}`)
    return count
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
    const st = fs.statfsSync(run.root)
    const free = st.bavail * st.bsize
    if (free < size + 256 * MiB) {
      throw new Error(
        `not enough space for a ${u.humanBytes(size)} file in ${run.root}: ${u.fmtInt(free / MiB)} MiB free`,
      )
    }
    const file = path.join(run.root, 'send.bin')
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
const recordRow = u.recorder(rows, { otherKey: 'node', otherLabel: 'node' })
/** Records one comparison (u.record); `node`: the interleave() result of the Node contender, abio: null when it did not run. */
const record = (comparison) => recordRow({ ...comparison, abioMissing })

const progress = u.progress(opts.verbose)
const { onReduce } = progress
function onRep(rep, name, seconds) {
  // iperf3's wall time includes starting two processes: its own figure is printed instead (iperf3Contender)
  if (name !== 'iperf3') progress.onRep(rep, name, seconds)
}

/** Time budgets (seconds) of the timed repetitions of each case: a slow or busy machine gets fewer reps, not a longer run. */
const BUDGET = { send: 30, sendFile: 30, frames: 60 }

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

/**
 * A bytes case: cfg.size bytes to the bytes sink by each of `senders` ({ name: (port, data,
 * total) => the sink's count }; abio's only where it runs), `data` made by prepare(), beside
 * iperf3 (`zerocopy`: -Z) when installed. Every run's count is checked, the first untimed.
 * Target: >= `times` x Node, or 0.9x iperf3 where that is lower.
 */
function bytesCase({ id, aliases, title, work, against, times, zerocopy, limitLabel, prepare, senders }) {
  return {
    id,
    aliases,
    title: () => title() + (iperf3Version ? `; ${limitLabel}` : ''),
    async run() {
      const total = cfg.size
      const data = prepare()
      const port = await sinkPort('bytes')

      const contenders = {}
      for (const [name, send] of Object.entries(senders)) {
        if (name === 'abio' && abioMissing) continue
        contenders[name] = {
          run: () => send(port, data, total),
          after: (rep, n) => check(n === total, `the sink counted ${n} bytes from ${name}, expected ${total}`),
        }
      }
      if (iperf3Version)
        contenders.iperf3 = iperf3Contender(run, total, { chunk: CHUNK, zerocopy, verbose: opts.verbose })

      // correctness first: one full, checked run of each (untimed; the timed ones are checked too)
      for (const c of Object.values(contenders)) c.after(-1, await c.run())

      const res = await u.interleave(contenders, {
        reps: cfg[`${id}Reps`],
        warmup: 0,
        onRep,
        onReduce,
        budget: BUDGET[id],
      })
      const nodeRate = total / res.node.median
      const limit = res.iperf3 && { rate: total / res.iperf3.median, label: limitLabel }
      record({
        id,
        work: work(total),
        against,
        unit: 'GB/s',
        amount: total,
        abio: res.abio || null,
        node: res.node,
        limit,
        ...bytesTarget(times, nodeRate, limit && limit.rate),
        reps: res.reps,
      })
    },
  }
}

const CASES = [
  bytesCase({
    id: 'send',
    aliases: ['write'],
    title: () => `send ${u.humanBytes(cfg.size)} in 1 MiB writes vs socket.write + 'drain'`,
    work: (total) => `send ${u.humanBytes(total)} in 1 MiB writes`,
    against: "socket.write + 'drain'",
    times: 1.1,
    limitLabel: 'iperf3 -l 1M',
    prepare: getSource,
    senders: { abio: abioSend, node: nodeSend },
  }),

  bytesCase({
    id: 'sendFile',
    title: () => `sendFile of a ${u.humanBytes(cfg.size)} cached file vs createReadStream(1 MiB).pipe(socket)`,
    work: (total) => `sendFile of a ${u.humanBytes(total)} cached file`,
    against: 'createReadStream(1 MiB).pipe(socket)',
    times: 1.5,
    zerocopy: true,
    limitLabel: 'iperf3 -Z',
    prepare: getBigFile,
    senders: { abio: abioSendFile, node: nodeSendFile },
  }),

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
      const contenders = {}
      for (const [name, send] of Object.entries(senders)) {
        contenders[name] = {
          run: () => send(port, payload, cfg.seconds),
          after: (rep, got) => verify(name, got),
          figure: (got, seconds) => seconds / got.frames,
        }
      }
      const res = await u.interleave(contenders, {
        reps: cfg.framesReps,
        warmup: 0,
        onRep(rep, name, seconds, perFrame) {
          if (opts.verbose) log(`    rep ${rep + 1} ${name}: ${u.fmtRate(1 / perFrame, 'frames/s')}`)
        },
        onReduce,
        budget: BUDGET.frames,
      })
      const nodeNames = Object.keys(senders).filter((n) => n !== 'abio')
      for (const n of nodeNames) log(`    ${n}: ${u.fmtRate(1 / res[n].median, 'frames/s')}`)
      // The issue's baseline is Node with a hand-written prefix and socket.write: the better
      // of its two plain ways is the target's. Corking a batch (one writev per batch, and no
      // promise per frame) is shown beside it for information: per frame it costs less than
      // abio's one promise per writeFrame.
      const corked = 'node the same, corked per batch'
      const plain = nodeNames.filter((n) => n !== corked)
      const best = plain.reduce((a, b) => (res[b].median < res[a].median ? b : a))
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
          abio: res.abio || null,
          node: res[id === 'frames' ? best : corked],
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
  u.printHelp('bench/tcp.js', CASES, {
    duration: true,
    notes: `--duration S: seconds each frames run lasts (default 3, 1 with --quick).
BENCH_DIR=dir puts the sink binary and the sendFile file under dir (default ${os.tmpdir()}).
Needs cc (to build bench/sink.c); iperf3, if installed, gives the loopback limit.`,
  })
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
  ;({ abio, missing: abioMissing } = u.loadAbio('connect'))
  if (!abioMissing) abioMissing = await probeAbio()

  const root = run.makeRoot('abio-bench-tcp-')
  if (!buildSink()) {
    run.cleanup()
    log('bench/tcp.js: skipped: no C compiler (cc) to build the TCP sink, bench/sink.c')
    return
  }
  iperf3Version = findIperf3()

  const info = u.machineInfo(root)
  log(
    `abio TCP benchmarks${opts.quick ? ' (--quick)' : ''}: ${u.machineLine(info)}; loopback ${HOST}; a C sink receives; ${iperf3Version || 'no iperf3'}; files in ${root} (${info.fs || 'unknown fs'})`,
  )
  if (!iperf3Version) log('iperf3 not found: apt-get install iperf3 (the loopback limit is left out)')
  if (abioMissing) log(`abio's side is skipped (${abioMissing}): Node and iperf3 only, nothing judged`)
  log('medians of interleaved repetitions; ratio = abio throughput / node throughput (higher = abio faster)')

  const ran = await u.runCases(selected, rows)

  run.cleanup({ say: true })

  u.report({
    bench: 'tcp',
    header: `abio vs node net${opts.quick ? ` (--quick: ${u.humanBytes(cfg.size)}, ${cfg.seconds} s of frames, fewer repetitions)` : ''} — ${info.node}, ${info.cores} cores, loopback`,
    otherKey: 'node',
    limitTitle: 'iperf3 (limit)',
    quick: opts.quick,
    machine: { ...info, dir: undefined, iperf3: iperf3Version },
    ...ran,
  })
  if (strayRejections) log(`(${strayRejections} unawaited writes rejected)`)
}

u.runMain(main, run.cleanup)
