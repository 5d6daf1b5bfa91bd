'use strict'
// What the WebSocket suites (ws-*.test.js) share: abio (or, with ABIO_WS_IMPL=reference,
// fixtures/ws-reference.js), servers and clients on both sides (closed after each test by
// `closeWsPeers`), a raw frame reader and writer, and the message checks.
//
// Every message is checked byte for byte; every test also checks that the server goes on serving
// its other clients. Jest runs each suite in its own realm, so values are recognised by their
// tag, not by `instanceof`. ABIO_WS_IMPL=reference runs the same tests against
// fixtures/ws-reference.js (abio's API over Node's http and `ws`): the proof that the tests ask
// only what a trusted peer does.

const tls = require('tls')
const crypto = require('crypto')
const { WebSocket: WsClient, WebSocketServer } = require('ws')

const { ab, sab, poolSlice } = require('./inputs')
const { bufferOver, expectBytes } = require('./bytes')
const { within } = require('./time')
const { track, closeAll } = require('./cleanup')
const { thrownBy, tag } = require('./throws')
const { rawConnect } = require('./http-peers')

const REFERENCE = process.env.ABIO_WS_IMPL === 'reference'
const abio = REFERENCE ? require('../fixtures/ws-reference') : require('../..')

const KiB = 1024
const MiB = 1024 * 1024
const HOST = '127.0.0.1'
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const sha256 = (x) => crypto.createHash('sha256').update(bufferOver(x)).digest('hex')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** `promise`'s value, or a thrown Error naming `what` after `ms`. */
async function waitFor(promise, what, ms = 15000) {
  const r = await within(
    promise.then((value) => ({ value })),
    ms,
  )
  if (r.timedOut) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
  return r.value
}

/** `fn` throws a TypeError or RangeError with code ABIO_ERR_INVALID_ARG, synchronously. */
function expectInvalidArg(fn, what) {
  const e = thrownBy(fn)
  expect({ what, tag: tag(e) }).toEqual({ what, tag: '[object Error]' })
  expect({ what, name: ['TypeError', 'RangeError'].includes(e.name) ? 'TypeError or RangeError' : e.name }).toEqual({
    what,
    name: 'TypeError or RangeError',
  })
  expect({ what, code: e.code }).toEqual({ what, code: 'ABIO_ERR_INVALID_ARG' })
}

/** Messages (or any events) in arrival order; `until(n)` waits for the first n. */
class Inbox {
  items = []
  #waiters = []
  push(x) {
    this.items.push(x)
    this.#waiters = this.#waiters.filter((w) => !w())
  }
  /** The first `n` items, once there are that many (an Error naming `what` after `ms`). */
  until(n, what = 'messages', ms = 15000) {
    const p = new Promise((resolve) => {
      const check = () => {
        if (this.items.length < n) return false
        resolve(this.items.slice(0, n))
        return true
      }
      if (!check()) this.#waiters.push(check)
    })
    return waitFor(p, `${n} ${what} (have ${this.items.length})`, ms).catch((e) => {
      e.message = `${e.message.replace(/\(have \d+\)/, '')}(have ${this.items.length})`
      throw e
    })
  }
}

// ---------------------------------------------------------------------------
// Cleanup: `ws` clients and servers are ended here, abio's and Node's by helpers/cleanup.

const wsClients = []
const wsServers = []
/** Every ws suite's afterEach: ends the `ws` clients and servers, then closes what cleanup.js tracked. */
async function closeWsPeers() {
  for (const c of wsClients.splice(0)) c.terminate()
  for (const s of wsServers.splice(0)) {
    for (const c of s.clients) c.terminate()
    await new Promise((resolve) => s.close(() => resolve()))
  }
  await closeAll()
}

// ---------------------------------------------------------------------------
// Peers

/** abio's server with a `websocket` section (host 127.0.0.1, any port); closed after the test. */
async function serve(websocket, options = {}) {
  return track('abio-server', await abio.serve({ host: HOST, port: 0, ...options, websocket }))
}

/**
 * An abio server that records what its callbacks see: `opened` (ws, req), `messages`
 * ({ ws, data }), `closes` ({ ws, code, reason }); `echo` (default true) sends every message back.
 */
async function recordingServer({ echo = true, ...websocket } = {}, options = {}) {
  const opened = new Inbox()
  const messages = new Inbox()
  const closes = new Inbox()
  const server = await serve(
    {
      open(ws, req) {
        opened.push({ ws, req })
      },
      message(ws, data) {
        messages.push({ ws, data })
        if (echo) ws.send(data)
      },
      close(ws, code, reason) {
        closes.push({ ws, code, reason })
      },
      ...websocket,
    },
    options,
  )
  return { server, port: server.port, url: `ws://${HOST}:${server.port}/`, opened, messages, closes }
}

/**
 * A `ws` client, open; `inbox` holds { data (Buffer), isBinary }, `closedP` resolves with
 * { code, reason }. Rejects with { status } on a non-101 answer.
 */
function wsConnect(url, options = {}) {
  const c = new WsClient(url, { perMessageDeflate: false, ...options })
  wsClients.push(c)
  c.inbox = new Inbox()
  c.on('message', (data, isBinary) => c.inbox.push({ data, isBinary }))
  c.on('error', (e) => (c.lastError = e))
  c.closedP = new Promise((resolve) => c.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  return new Promise((resolve, reject) => {
    c.once('open', () => resolve(c))
    c.once('unexpected-response', (req, res) => {
      res.resume()
      req.destroy()
      reject(Object.assign(new Error(`unexpected response ${res.statusCode}`), { status: res.statusCode }))
    })
    c.once('error', reject)
  })
}

/**
 * A `ws` server (port 0, or on `options.server`, an http or https server already listening)
 * recording its connections: `conns` holds { ws, req }; each ws has `inbox`, `closedP`.
 */
async function wsServer({ echo = false, ...options } = {}) {
  const own = options.server === undefined
  const wss = new WebSocketServer({ ...(own ? { host: HOST, port: 0 } : {}), perMessageDeflate: false, ...options })
  wsServers.push(wss)
  wss.conns = new Inbox()
  wss.on('connection', (ws, req) => {
    ws.inbox = new Inbox()
    ws.on('error', (e) => (ws.lastError = e))
    ws.on('message', (data, isBinary) => {
      ws.inbox.push({ data, isBinary })
      if (echo) ws.send(data, { binary: isBinary })
    })
    ws.closedP = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    )
    wss.conns.push({ ws, req })
  })
  if (own) await new Promise((resolve) => wss.once('listening', resolve))
  wss.port = wss.address().port
  wss.url = `${!own && options.server instanceof tls.Server ? 'wss' : 'ws'}://${HOST}:${wss.port}`
  return wss
}

/** abio's client, open; closed after the test. */
async function abioConnect(url, options) {
  return track('abio-socket', await abio.connectWebSocket(url, options))
}

/** The next `n` messages of an abio WebSocket, by async iteration. */
async function nextMessages(ws, n, what = 'messages', ms = 5000) {
  const it = ws[Symbol.asyncIterator]()
  const out = []
  for (let i = 0; i < n; i++) {
    const r = await waitFor(it.next(), `${what}: message ${i + 1} of ${n}`, ms)
    if (r.done) throw new Error(`${what}: the iteration ended after ${i} of ${n} messages`)
    out.push(r.value)
  }
  return out
}

/** A ws client that must still get an echo from `port` (the server goes on after a misbehaving peer). */
async function expectStillServing(url, bystander) {
  const c = bystander || (await wsConnect(url))
  const payload = crypto.randomBytes(100)
  const before = c.inbox.items.length
  c.send(payload)
  const [m] = (await c.inbox.until(before + 1, 'echo from the server')).slice(before)
  expect(m.isBinary).toBe(true)
  expectBytes(m.data, payload)
}

/** Reads a raw socket: the HTTP head, then WebSocket frames as the server sends them (unmasked). */
class RawReader {
  #buf = Buffer.alloc(0)
  #wake = null
  ended = false
  constructor(sock) {
    this.ended = new Promise((resolve) => sock.once('close', resolve))
    sock.on('data', (c) => {
      this.#buf = Buffer.concat([this.#buf, c])
      this.#notify()
    })
    sock.once('close', () => {
      this.closed = true
      this.#notify()
    })
  }
  #notify() {
    const w = this.#wake
    this.#wake = null
    if (w) w()
  }
  async #wait(what) {
    if (this.closed) return false
    await waitFor(new Promise((resolve) => (this.#wake = resolve)), what)
    return true
  }
  /** The status line and headers, as a string. */
  async head() {
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n')
      if (end >= 0) {
        const head = this.#buf.subarray(0, end).toString('latin1')
        this.#buf = this.#buf.subarray(end + 4)
        return head
      }
      if (!(await this.#wait('the upgrade answer'))) throw new Error('closed before the upgrade answer')
    }
  }
  /** The next frame { fin, rsv, opcode, masked, payload }, or null if the socket closed first. */
  async frame() {
    for (;;) {
      const f = parseFrame(this.#buf)
      if (f) {
        this.#buf = this.#buf.subarray(f.size)
        return f
      }
      if (!(await this.#wait('a frame from the server'))) return null
    }
  }
  /** Frames until a close frame: { code, reason, before: [opcodes of the frames before] }, or null. */
  async closeFrame() {
    const before = []
    for (;;) {
      const f = await this.frame()
      if (!f) return null
      if (f.opcode !== 8) {
        before.push(f.opcode)
        continue
      }
      expect(f.masked).toBe(false) // a server never masks (RFC 6455 5.1)
      return {
        code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005,
        reason: f.payload.subarray(2).toString(),
        before,
      }
    }
  }
}

function parseFrame(b) {
  if (b.length < 2) return null
  let len = b[1] & 0x7f
  let at = 2
  if (len === 126) {
    if (b.length < 4) return null
    len = b.readUInt16BE(2)
    at = 4
  } else if (len === 127) {
    if (b.length < 10) return null
    len = Number(b.readBigUInt64BE(2))
    at = 10
  }
  const masked = (b[1] & 0x80) !== 0
  if (masked) at += 4
  if (b.length < at + len) return null
  let payload = Buffer.from(b.subarray(at, at + len))
  if (masked) {
    const key = b.subarray(at - 4, at)
    payload = payload.map((x, i) => x ^ key[i & 3])
  }
  return { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, masked, payload, size: at + len }
}

/** One frame as a client sends it (masked unless `mask: false`); `length` may lie about the payload. */
function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, length } = {}) {
  payload = Buffer.from(payload)
  const len = length ?? payload.length
  let head
  if (len < 126) head = Buffer.from([0, len])
  else if (len < 65536) {
    head = Buffer.alloc(4)
    head[1] = 126
    head.writeUInt16BE(len, 2)
  } else {
    head = Buffer.alloc(10)
    head[1] = 127
    head.writeBigUInt64BE(BigInt(len), 2)
  }
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode
  if (!mask) return Buffer.concat([head, payload])
  head[1] |= 0x80
  const key = crypto.randomBytes(4)
  return Buffer.concat([head, key, payload.map((x, i) => x ^ key[i & 3])])
}

const TEXT = 1
const BINARY = 2
const CLOSE = 8
const PING = 9
const PONG = 10
/**
 * The codes abio's own close callback or `closed` may report for a connection abio failed with
 * `code` (1002, 1007, 1009): that code, or 1006 when, as `ws` does, it counts the close frame
 * the peer never sent back. The peer always sees `code` itself.
 */
const FAILED_BY_US = (code) => [code, 1006]
const closePayload = (code, reason = '') => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason))
  b.writeUInt16BE(code)
  b.write(reason, 2)
  return b
}

/** A raw socket that did the upgrade by hand: `{ sock, reader }`; the 101 answer is checked. */
async function rawUpgrade(port, urlPath = '/') {
  const sock = await rawConnect(port)
  const reader = new RawReader(sock)
  const key = crypto.randomBytes(16).toString('base64')
  sock.write(
    `GET ${urlPath} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  const head = await reader.head()
  expect(head).toMatch(/^HTTP\/1\.1 101 /)
  const accept = crypto
    .createHash('sha1')
    .update(key + GUID)
    .digest('base64')
  expect(head.toLowerCase()).toContain(`sec-websocket-accept: ${accept.toLowerCase()}`)
  return { sock, reader }
}

// ---------------------------------------------------------------------------
// Inputs

/** Every kind of Data abio sends, as [name, value, isBinary]. */
function dataKinds() {
  const u8 = new Uint8Array(ab(300), 17, 200)
  u8.fill(0, 10, 20)
  const dvBuf = ab(64)
  return [
    ['string (non-ASCII)', 'héllo wörld \u{1F600} ✓', false],
    ['ArrayBuffer', ab(1000), true],
    ['SharedArrayBuffer', sab(777), true],
    ['Uint8Array at an offset', u8, true],
    ['Float32Array', new Float32Array([0, -0, 1.5, NaN, Infinity, -1e-30]), true],
    ['DataView at an offset', new DataView(dvBuf, 8, 48), true],
    ['Buffer from the pool', poolSlice('pool\0slice\0'), true],
    ['0-byte ArrayBuffer', new ArrayBuffer(0), true],
    ['empty view at an offset', new Uint8Array(ab(10), 5, 0), true],
    ['0-length string', '', false],
    ['64 KiB Uint8Array (16-bit length)', new Uint8Array(ab(64 * KiB)), true],
    ['70,000-byte Buffer (64-bit length)', Buffer.from(ab(70000)), true],
    // Over the 16 KiB that are copied: a string is encoded, never held.
    ['40,000-char non-ASCII string', 'ü€'.repeat(20000), false],
  ]
}

/** Expects `got` (from abio) to be `want` (a Data value): a string, or an exact ArrayBuffer of its bytes. */
function expectAbioMessage(name, got, want) {
  if (typeof want === 'string') {
    expect({ name, got }).toEqual({ name, got: want })
    return
  }
  expect({ name, tag: tag(got) }).toEqual({ name, tag: '[object ArrayBuffer]' })
  expect({ name, byteLength: got.byteLength }).toEqual({ name, byteLength: bufferOver(want).length })
  expectBytes(got, want)
}

/** Expects `m` (a ws client inbox item) to be `want`. */
function expectWsMessage(name, m, want) {
  expect({ name, isBinary: m.isBinary }).toEqual({ name, isBinary: typeof want !== 'string' })
  if (typeof want === 'string') expect({ name, text: m.data.toString('utf8') }).toEqual({ name, text: want })
  else expectBytes(m.data, want)
}

/**
 * The abio WebSockets of both sides a suite sees, each of whose `closed` must settle once the
 * peers are closed: `server()` is recordingServer() with its connections remembered (and pushed
 * to `opened`), `connect()` is abioConnect() remembered, `track(ws)` remembers one more, and
 * `settle()` (for afterEach) closes the peers and waits for every one.
 */
function trackedAbio() {
  const sockets = []
  const track = (ws) => {
    sockets.push(ws)
    return ws
  }
  return {
    track,
    async server(websocket = {}, options = {}) {
      const srv = await recordingServer(
        {
          ...websocket,
          open(ws, req) {
            track(ws)
            if (websocket.open) websocket.open(ws, req)
            srv.opened.push({ ws, req })
          },
        },
        options,
      )
      return srv
    },
    async connect(url, options) {
      return track(await abioConnect(url, options))
    },
    async settle() {
      await closeWsPeers()
      const all = sockets.splice(0)
      await waitFor(Promise.all(all.map((ws) => ws.closed)), `${all.length} abio WebSockets to close`, 15000)
    },
  }
}

module.exports = {
  trackedAbio,
  REFERENCE,
  abio,
  KiB,
  MiB,
  HOST,
  GUID,
  sha256,
  sleep,
  waitFor,
  expectInvalidArg,
  Inbox,
  closeWsPeers,
  serve,
  recordingServer,
  wsConnect,
  wsServer,
  abioConnect,
  nextMessages,
  expectStillServing,
  RawReader,
  parseFrame,
  frame,
  TEXT,
  BINARY,
  CLOSE,
  PING,
  PONG,
  FAILED_BY_US,
  closePayload,
  rawUpgrade,
  dataKinds,
  expectAbioMessage,
  expectWsMessage,
}
