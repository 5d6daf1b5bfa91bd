'use strict'
// What the TCP suites (net-*.test.js) share: Node and abio peers (tracked, closed after each
// test), a recorder of what a Node socket receives, every kind of Data, frames, and error checks.
//
// Every test talks to a real peer: Node's own `net` in this process (both ways: abio client
// -> Node server and Node client -> abio server), or abio itself, and checks the bytes
// exactly, computed from the input, never hard-coded. Lifecycle tests run in child
// processes. Jest runs each suite in its own realm, so ArrayBuffers are recognised by their
// tag, not by `instanceof`.

const fs = require('fs')
const os = require('os')
const path = require('path')
const net = require('net')
const crypto = require('crypto')

const abio = require('../..')
const { ab, sab, poolSlice } = require('./inputs')
const { bufferOver, expectBytes, bytesOf } = require('./bytes')
const { tag } = require('./throws')
const { track } = require('./cleanup')

const noop = () => {}

const ROOT = path.join(__dirname, '..', '..')
const KiB = 1024
const MiB = 1024 * 1024
const ERRNO = os.constants.errno
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const rnd = (n) => crypto.randomBytes(n)

// Peers

/** A queue of connections a server accepted: `next()` is the next one. */
function connectionQueue() {
  const queue = []
  const waiters = []
  return {
    push(s) {
      if (waiters.length) waiters.shift()(s)
      else queue.push(s)
    },
    next() {
      return queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve))
    },
  }
}

/** Node sockets must never throw 'error' at jest: it is kept on `sock.lastError` instead. */
function quiet(sock) {
  sock.on('error', (e) => (sock.lastError = e))
  return sock
}

/** A Node `net` server; `next()` resolves with the next Node socket it accepts. */
async function nodeServer(listenOptions = { host: '127.0.0.1', port: 0 }, serverOptions = {}) {
  const q = connectionQueue()
  const server = track(
    'node-server',
    net.createServer(serverOptions, (s) => q.push(quiet(track('node-socket', s)))),
  )
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(listenOptions, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const a = server.address()
  if (typeof a === 'string') return { server, port: 0, host: a, next: q.next } // a Unix socket
  return { server, port: a.port, host: a.address, next: q.next }
}

/** An abio server; `next()` resolves with the next abio Socket it accepts. */
async function abioServer(options = { host: '127.0.0.1', port: 0 }) {
  const q = connectionQueue()
  const server = track('abio-server', await abio.listen(options, (s) => q.push(track('abio-socket', s))))
  return { server, port: server.port, host: server.host, next: q.next }
}

/** A connected Node client socket. */
function nodeConnect(options) {
  return new Promise((resolve, reject) => {
    const s = track('node-socket', net.connect(options))
    s.once('error', reject)
    s.once('connect', () => {
      s.off('error', reject)
      resolve(quiet(s))
    })
  })
}

async function abioConnect(options) {
  return track('abio-socket', await abio.connect(options))
}

/**
 * A connected pair over 127.0.0.1: `a` is abio, `n` is Node. `side` 'client': abio connects
 * to a Node server; 'server': a Node client connects to an abio server. `srv` is the server.
 */
async function pair(side, { abioOptions = {}, nodeOptions = {} } = {}) {
  if (side === 'client') {
    const srv = await nodeServer({ host: '127.0.0.1', port: 0 }, nodeOptions)
    const [a, n] = await Promise.all([abioConnect({ host: '127.0.0.1', port: srv.port, ...abioOptions }), srv.next()])
    return { a, n, srv }
  }
  const srv = await abioServer({ host: '127.0.0.1', port: 0, ...abioOptions })
  const [n, a] = await Promise.all([nodeConnect({ host: '127.0.0.1', port: srv.port, ...nodeOptions }), srv.next()])
  return { a, n, srv }
}

/** Two connected abio sockets: `c` connected to the abio server that accepted `s`. */
async function abioPair(options = {}) {
  const srv = await abioServer({ host: '127.0.0.1', port: 0, ...options })
  const [c, s] = await Promise.all([abioConnect({ host: '127.0.0.1', port: srv.port, ...options }), srv.next()])
  return { c, s, srv }
}

const SIDES = [
  ['abio client -> Node server', 'client'],
  ['Node client -> abio server', 'server'],
]

/** Records what a Node socket receives; waits on its length and its end. */
function record(sock) {
  const rec = { chunks: [], length: 0, ended: false, closed: false }
  let waiting = []
  const notify = () => {
    const w = waiting
    waiting = []
    for (const f of w) f()
  }
  sock.on('data', (c) => {
    rec.chunks.push(c)
    rec.length += c.length
    notify()
  })
  sock.on('end', () => {
    rec.ended = true
    notify()
  })
  sock.on('close', () => {
    rec.closed = true
    notify()
  })
  rec.until = (pred, what, ms = 10000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}: got ${rec.length} bytes, ended: ${rec.ended}`)),
        ms,
      )
      const check = () => {
        if (pred()) {
          clearTimeout(timer)
          resolve()
        } else waiting.push(check)
      }
      check()
    })
  rec.bytes = () => Buffer.concat(rec.chunks)
  /** Everything until the peer's end (Node's 'end' event). */
  rec.all = async (ms) => {
    await rec.until(() => rec.ended || rec.closed, 'the end of the stream', ms)
    return rec.bytes()
  }
  return rec
}

/** Writes `buf` to a Node socket in pieces of `sizes` (cycled), `delay` ms apart. */
async function writeInPieces(sock, buf, sizes, delay = 3) {
  sock.setNoDelay(true)
  let off = 0
  for (let i = 0; off < buf.length; i++) {
    const n = Math.min(sizes[i % sizes.length], buf.length - off)
    sock.write(buf.subarray(off, off + n))
    off += n
    await sleep(delay)
  }
}

// ---------------------------------------------------------------------------
// Bytes

/** One value of every Bytes type (views with an offset into a larger buffer), and a string. */
function everyKind() {
  const floats = new Float32Array(ab(400), 12, 50)
  floats.set([1.5, -2.25, Math.PI, NaN, Infinity, 1e-40, 0, -0], 3)
  return [
    ['ArrayBuffer', ab(1000)],
    ['SharedArrayBuffer', sab(777)],
    ['Buffer (a pool slice)', poolSlice('a Buffer from the pool: ✓')],
    ['Uint8Array with an offset', new Uint8Array(ab(300), 17, 200)],
    ['Float32Array with an offset', floats],
    ['DataView with an offset', new DataView(ab(500), 3, 101)],
    ['string (UTF-8)', 'héllo wörld — 日本語 🎉 \u0000 end\n'],
  ].map(([name, value]) => ({ name, value, bytes: bytesOf(value) }))
}

/** x is an ArrayBuffer (any realm) holding exactly `expected`. */
function expectArrayBuffer(x, expected) {
  expect(tag(x)).toBe('[object ArrayBuffer]')
  expect(x.byteLength).toBe(bufferOver(expected).length)
  expectSame(x, expected)
}
/** Byte equality, fast for big buffers (expectBytes only to describe a difference). */
function expectSame(actual, expected) {
  if (bufferOver(actual).equals(bufferOver(expected))) return
  expectBytes(actual, expected)
}

/** A u32 big-endian length, then the bytes. */
function frameOf(buf) {
  const h = Buffer.alloc(4)
  h.writeUInt32BE(buf.length)
  return Buffer.concat([h, buf])
}
/** Parses a stream of frames by hand; throws on a partial frame. */
function parseFrames(buf) {
  const frames = []
  let off = 0
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new Error(`a partial header at ${off}`)
    const len = buf.readUInt32BE(off)
    if (off + 4 + len > buf.length) throw new Error(`a frame of ${len} bytes at ${off} runs past the end`)
    frames.push(buf.subarray(off + 4, off + 4 + len))
    off += 4 + len
  }
  return frames
}

let big64
/** 64 MiB of random bytes, made once. */
const big64MiB = () => (big64 ??= rnd(64 * MiB))

// ---------------------------------------------------------------------------
// Kernel buffers

/** The largest a TCP socket's send buffer and its peer's receive buffer may grow (Linux), plus 1 MiB. */
function inKernel() {
  const maxOf = (f) => Number(fs.readFileSync(f, 'utf8').trim().split(/\s+/).pop())
  return maxOf('/proc/sys/net/ipv4/tcp_wmem') + maxOf('/proc/sys/net/ipv4/tcp_rmem') + MiB
}

/**
 * The bytes the kernel holds for the TCP connection between local ports `portA` and `portB`:
 * both sockets' send and receive queues (Linux's /proc/net/tcp and tcp6); null where the OS
 * does not say.
 */
function kernelQueued(portA, portB) {
  let total = 0
  let found = 0
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text
    try {
      text = fs.readFileSync(f, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length < 5) continue
      const local = parseInt(cols[1].split(':')[1], 16)
      const remote = parseInt(cols[2].split(':')[1], 16)
      if ((local === portA && remote === portB) || (local === portB && remote === portA)) {
        const [tx, rx] = cols[4].split(':').map((h) => parseInt(h, 16))
        total += tx + rx
        found++
      }
    }
  }
  return found === 0 ? null : total
}

// ---------------------------------------------------------------------------
// Errors

function expectAbortError(e) {
  expect({ name: e.name, code: e.code }).toEqual({ name: 'AbortError', code: 'ABORT_ERR' })
}
function expectClosed(e) {
  expect(tag(e)).toBe('[object Error]')
  expect(e.code).toBe('ABIO_ERR_CLOSED')
}
const netFields = (e) => ({
  code: e.code,
  errno: e.errno,
  syscall: e.syscall,
  address: e.address,
  port: e.port,
  message: e.message,
})
/** The error Node's net.connect fails with. */
function nodeConnectError(options) {
  return new Promise((resolve, reject) => {
    const s = track('node-socket', net.connect(options))
    s.once('error', resolve)
    s.once('connect', () => reject(new Error('Node connected')))
  })
}
/** A port nothing listens on (it was just closed). */
async function closedPort() {
  const srv = net.createServer()
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address()
  await new Promise((resolve) => srv.close(resolve))
  return port
}
/** Resolves `true` if `p` settled within `ms`, `false` if it is still pending. */
function settlesWithin(p, ms) {
  let timer
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer))
}

module.exports = {
  noop,
  ROOT,
  KiB,
  MiB,
  ERRNO,
  sleep,
  rnd,
  connectionQueue,
  quiet,
  nodeServer,
  abioServer,
  nodeConnect,
  abioConnect,
  pair,
  abioPair,
  SIDES,
  record,
  writeInPieces,
  everyKind,
  expectArrayBuffer,
  expectSame,
  frameOf,
  parseFrames,
  big64MiB,
  inKernel,
  kernelQueued,
  expectAbortError,
  expectClosed,
  netFields,
  nodeConnectError,
  closedPort,
  settlesWithin,
}
