'use strict'
// Tests for abio's WebSocket support (design.md section 8): serve({ websocket }) against the
// `ws` package as a client, connectWebSocket against a `ws` server, and raw `net` sockets that
// do the HTTP upgrade by hand and then misbehave (vanish, send malformed frames, unmasked
// frames, invalid UTF-8), reading the close frame the server answers with (RFC 6455 7.4).
// Every message is checked byte for byte; every test also checks that the server goes on
// serving its other clients. Jest runs this file in its own realm, so values are recognised
// by their tag, not by `instanceof`.
//
// ABIO_WS_IMPL=reference runs the same tests against fixtures/ws-reference.js (abio's API over
// Node's http and `ws`): the proof that the tests ask only what a trusted peer does.

const fs = require('fs')
const net = require('net')
const http = require('http')
const crypto = require('crypto')
const { WebSocket: WsClient, WebSocketServer } = require('ws')

const REFERENCE = process.env.ABIO_WS_IMPL === 'reference'
const abio = REFERENCE ? require('./fixtures/ws-reference') : require('..')
const { ab, sab, poolSlice } = require('./helpers/inputs')
const { bufferOver, expectBytes, copyOf } = require('./helpers/bytes')
const { within } = require('./helpers/time')
const { track, closeAll } = require('./helpers/cleanup')
const { thrownBy, tag } = require('./helpers/throws')
const { rawConnect } = require('./helpers/http-peers')

jest.setTimeout(20000)

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
afterEach(async () => {
  for (const c of wsClients.splice(0)) c.terminate()
  for (const s of wsServers.splice(0)) {
    for (const c of s.clients) c.terminate()
    await new Promise((resolve) => s.close(() => resolve()))
  }
  await closeAll()
})

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

/** A `ws` server (port 0) recording its connections: `conns` holds { ws, req }; each ws has `inbox`, `closedP`. */
async function wsServer({ echo = false, ...options } = {}) {
  const wss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false, ...options })
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
  await new Promise((resolve) => wss.once('listening', resolve))
  wss.port = wss.address().port
  wss.url = `ws://${HOST}:${wss.port}`
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

// ---------------------------------------------------------------------------
// 1. Messages between abio's server and a ws client

describe('abio server, ws client: messages', () => {
  it('send() of every Data kind arrives as the right frame type, byte-exact; send() returns true', async () => {
    const kinds = dataKinds()
    const wants = kinds.map(([, v]) => (typeof v === 'string' ? v : copyOf(v)))
    const results = []
    const { url } = await recordingServer({
      open(ws) {
        for (const [, v] of kinds) results.push(ws.send(v))
      },
    })
    const c = await wsConnect(url)
    const got = await c.inbox.until(kinds.length)
    kinds.forEach(([name], i) => expectWsMessage(name, got[i], wants[i]))
    expect(results).toEqual(kinds.map(() => true))
    await sleep(50)
    expect(c.inbox.items.length).toBe(kinds.length)
  })

  it('messages from a ws client reach message() as exact ArrayBuffers or strings; the same ws object everywhere', async () => {
    const kinds = dataKinds()
    const wants = kinds.map(([, v]) => (typeof v === 'string' ? v : copyOf(v)))
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    for (const [, v] of kinds) c.send(typeof v === 'string' ? v : copyOf(v), { binary: typeof v !== 'string' })
    const got = await srv.messages.until(kinds.length)
    kinds.forEach(([name], i) => expectAbioMessage(name, got[i].data, wants[i]))
    c.close(1000)
    const [closed] = await srv.closes.until(1, 'close callbacks')
    const [{ ws: opened }] = srv.opened.items
    expect(got.every((m) => m.ws === opened)).toBe(true)
    expect(closed.ws).toBe(opened)
  })

  it('a ws client gets back exactly what it sent through an echoing message()', async () => {
    const { url } = await recordingServer()
    const c = await wsConnect(url)
    const kinds = dataKinds()
    for (const [, v] of kinds) c.send(typeof v === 'string' ? v : copyOf(v), { binary: typeof v !== 'string' })
    const got = await c.inbox.until(kinds.length, 'echoes')
    kinds.forEach(([name, v], i) => expectWsMessage(name, got[i], typeof v === 'string' ? v : copyOf(v)))
  })

  it('16 MiB binary both ways (the default maxPayload, exactly) arrives whole (sha256)', async () => {
    const up = Buffer.from(ab(16 * MiB))
    const down = ab(16 * MiB)
    const downHash = sha256(down)
    const srv = await recordingServer({
      echo: false,
      message(ws, data) {
        srv.messages.push({ ws, data })
        ws.send(`${tag(data)} ${data.byteLength} ${sha256(data)}`)
        ws.send(down)
      },
    })
    const c = await wsConnect(srv.url)
    c.send(up)
    const [summary, big] = await c.inbox.until(2, 'the hash and 16 MiB', 15000)
    expect(summary.data.toString()).toBe(`[object ArrayBuffer] ${16 * MiB} ${sha256(up)}`)
    expect(big.isBinary).toBe(true)
    expect(big.data.length).toBe(16 * MiB)
    expect(sha256(big.data)).toBe(downHash)
  })

  it('fragmented messages from ws (binary, and text split inside a UTF-8 sequence, pings between) arrive reassembled', async () => {
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    const parts = [ab(1000), ab(1), ab(0), ab(70000)].map((x) => Buffer.from(x))
    parts.forEach((p, i) => {
      c.send(p, { binary: true, fin: i === parts.length - 1 })
      if (i === 1) c.ping('between fragments')
    })
    const text = Buffer.from('aé\u{1F600}z')
    // the emoji's 4 bytes are split 1 + 3 across fragments
    c.send(text.subarray(0, 4), { binary: false, fin: false })
    c.send(text.subarray(4, 7), { binary: false, fin: false })
    c.ping()
    c.send(text.subarray(7), { binary: false, fin: true })
    c.send('after')
    const got = await srv.messages.until(3)
    expectAbioMessage('binary in 4 fragments', got[0].data, Buffer.concat(parts))
    expectAbioMessage('text in 3 fragments', got[1].data, 'aé\u{1F600}z')
    expectAbioMessage('the next message', got[2].data, 'after')
    await sleep(50)
    expect(srv.messages.items.length).toBe(3)
  })

  it('a ping from ws is answered with a pong carrying the same payload', async () => {
    const { url } = await recordingServer()
    const c = await wsConnect(url)
    const pongs = new Inbox()
    c.on('pong', (data) => pongs.push(data))
    const payloads = [Buffer.alloc(0), Buffer.from('abc'), crypto.randomBytes(125)]
    for (const p of payloads) c.ping(p)
    const got = await pongs.until(payloads.length, 'pongs')
    payloads.forEach((p, i) => expectBytes(got[i], p))
  })

  it('without a message callback, server-side async iteration gets the messages', async () => {
    const done = []
    const { port } = await serve({
      open(ws) {
        done.push(
          (async () => {
            for await (const m of ws) ws.send(typeof m === 'string' ? `text:${m}` : m)
          })(),
        )
      },
    })
    const c = await wsConnect(`ws://${HOST}:${port}/`)
    const bin = crypto.randomBytes(3000)
    c.send('one')
    c.send(bin)
    c.send('')
    const got = await c.inbox.until(3)
    expectWsMessage('text', got[0], 'text:one')
    expectWsMessage('binary', got[1], bin)
    expectWsMessage('empty text', got[2], 'text:')
    c.close(1000)
    await waitFor(Promise.all(done), 'the iteration to end when the client closes')
  })
})

// ---------------------------------------------------------------------------
// 2. Close handshakes

describe('abio server, ws client: close', () => {
  it("abio close(4001, 'bye'): ws sees 4001/'bye'; close() and closed give the same", async () => {
    const srv = await recordingServer({
      message(ws, data) {
        if (data === 'close me') ws.close(4001, 'bye')
      },
    })
    const c = await wsConnect(srv.url)
    c.send('close me')
    expect(await waitFor(c.closedP, 'the ws client to close')).toEqual({ code: 4001, reason: 'bye' })
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect([cl.code, cl.reason]).toEqual([4001, 'bye'])
    const [{ ws }] = srv.opened.items
    expect(await waitFor(ws.closed, 'ws.closed')).toEqual({ code: 4001, reason: 'bye' })
  })

  it('abio close() with no code sends 1000 (or no code: 1005)', async () => {
    const srv = await recordingServer({
      open(ws) {
        ws.close()
      },
    })
    const c = await wsConnect(srv.url)
    const { code } = await waitFor(c.closedP, 'the ws client to close')
    expect([1000, 1005]).toContain(code)
    await srv.closes.until(1, 'close callbacks')
  })

  it("ws close(4002, 'x') (and a non-ASCII reason): close callback and closed give them", async () => {
    const srv = await recordingServer()
    const a = await wsConnect(srv.url)
    const b = await wsConnect(srv.url)
    const [oa, ob] = await srv.opened.until(2, 'opens')
    a.close(4002, 'x')
    b.close(1000, 'adiós ✓')
    const closes = await srv.closes.until(2, 'close callbacks')
    const byWs = new Map(closes.map((c) => [c.ws, [c.code, c.reason]]))
    expect(byWs.get(oa.ws)).toEqual([4002, 'x'])
    expect(byWs.get(ob.ws)).toEqual([1000, 'adiós ✓'])
    expect(await waitFor(oa.ws.closed, 'closed')).toEqual({ code: 4002, reason: 'x' })
    expect(await waitFor(ob.ws.closed, 'closed')).toEqual({ code: 1000, reason: 'adiós ✓' })
    expect(await a.closedP).toEqual({ code: 4002, reason: 'x' })
  })

  it('a ws client that terminates (no close frame) gives close code 1006; the others go on', async () => {
    const srv = await recordingServer()
    const bystander = await wsConnect(srv.url)
    const c = await wsConnect(srv.url)
    const [, o] = await srv.opened.until(2, 'opens')
    c.terminate()
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(cl.ws).toBe(o.ws)
    expect(cl.code).toBe(1006)
    expect((await o.ws.closed).code).toBe(1006)
    await expectStillServing(srv.url, bystander)
  })

  it('send() after the connection is gone does not throw; the server goes on', async () => {
    const srv = await recordingServer()
    const c = await wsConnect(srv.url)
    const [o] = await srv.opened.until(1, 'opens')
    c.close(1000)
    await o.ws.closed
    expect(() => o.ws.send('late')).not.toThrow()
    await expectStillServing(srv.url)
  })
})

// ---------------------------------------------------------------------------
// 3. maxPayload

describe('maxPayload', () => {
  it('a message over maxPayload closes that connection with 1009; exactly maxPayload passes; others go on', async () => {
    const srv = await recordingServer({ maxPayload: 1000 })
    const bystander = await wsConnect(srv.url)
    const c = await wsConnect(srv.url)
    c.send(crypto.randomBytes(1000))
    await c.inbox.until(1, 'the echo of exactly maxPayload bytes')
    c.send(crypto.randomBytes(1001))
    expect((await waitFor(c.closedP, 'the close')).code).toBe(1009)
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(FAILED_BY_US(1009)).toContain(cl.code)
    await expectStillServing(srv.url, bystander)
    await expectStillServing(srv.url)
  })

  it('fragments each under maxPayload but over it together close with 1009', async () => {
    const srv = await recordingServer({ maxPayload: 1000 })
    const c = await wsConnect(srv.url)
    for (let i = 0; i < 4; i++) c.send(crypto.randomBytes(300), { fin: i === 3 })
    expect((await waitFor(c.closedP, 'the close')).code).toBe(1009)
    expect(srv.messages.items.length).toBe(0)
    await expectStillServing(srv.url)
  })

  it('a frame announcing 1 TiB is refused with 1009 at once, before its payload (default maxPayload)', async () => {
    const srv = await recordingServer()
    const { reader, sock } = await rawUpgrade(srv.port)
    sock.write(frame(BINARY, Buffer.alloc(0), { length: 2 ** 40 }).subarray(0, 14)) // header and mask only
    const cf = await reader.closeFrame()
    expect(cf && cf.code).toBe(1009)
    await waitFor(reader.ended, 'the server to close the socket')
    await expectStillServing(srv.url)
  })

  it("abio's client with maxPayload closes with 1009 when a bigger message comes", async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url, { maxPayload: 1000 })
    const [{ ws }] = await wss.conns.until(1, 'connections')
    ws.send(crypto.randomBytes(1000))
    const [m] = await nextMessages(c, 1)
    expect(m.byteLength).toBe(1000)
    ws.send(crypto.randomBytes(1001))
    expect((await waitFor(ws.closedP, 'the ws server side to close')).code).toBe(1009)
    expect(FAILED_BY_US(1009)).toContain((await waitFor(c.closed, 'closed')).code)
  })
})

// ---------------------------------------------------------------------------
// 4. Misbehaving clients (raw sockets)

describe('misbehaving clients', () => {
  it('one that vanishes without a close frame: close callback with 1006; others unaffected', async () => {
    const srv = await recordingServer()
    const bystander = await wsConnect(srv.url)
    const { sock } = await rawUpgrade(srv.port)
    sock.write(frame(TEXT, 'hi'))
    const [, m] = await srv.opened.until(2, 'opens')
    await srv.messages.until(1)
    expect(srv.messages.items[0].data).toBe('hi')
    sock.destroy()
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(cl.ws).toBe(m.ws)
    expect(cl.code).toBe(1006)
    await expectStillServing(srv.url, bystander)
  })

  const protocolErrors = [
    ['RSV1 set without an extension', () => frame(BINARY, 'x', { rsv: 4 })],
    ['RSV2 set', () => frame(TEXT, 'x', { rsv: 2 })],
    ['RSV3 set', () => frame(BINARY, 'x', { rsv: 1 })],
    ['a reserved data opcode (3)', () => frame(3, 'x')],
    ['a reserved control opcode (0xB)', () => frame(0xb, 'x')],
    ['a ping of 126 bytes (control frames are <= 125)', () => frame(PING, Buffer.alloc(126))],
    ['a fragmented ping', () => frame(PING, 'x', { fin: false })],
    ['a continuation with no message started', () => frame(0, 'x')],
    [
      'a new text frame inside a fragmented message',
      () => Buffer.concat([frame(TEXT, 'a', { fin: false }), frame(TEXT, 'b')]),
    ],
    ['an unmasked frame', () => frame(BINARY, 'x', { mask: false })],
    ['a close frame with a 1-byte payload', () => frame(CLOSE, Buffer.from([3]))],
    ['a close frame with code 1005 (never sent on the wire)', () => frame(CLOSE, closePayload(1005))],
    ['a close frame with code 999', () => frame(CLOSE, closePayload(999))],
  ]

  it.each(protocolErrors)('%s: closed with 1002; the server and the others go on', async (_, bytes) => {
    const srv = await recordingServer()
    const bystander = await wsConnect(srv.url)
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(frame(TEXT, 'fine'))
    await srv.messages.until(1)
    sock.write(bytes())
    const cf = await reader.closeFrame()
    expect(cf && cf.code).toBe(1002)
    await waitFor(reader.ended, 'the server to close the socket')
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(FAILED_BY_US(1002)).toContain(cl.code)
    expect(srv.messages.items.map((m) => m.data)).toEqual(['fine'])
    await expectStillServing(srv.url, bystander)
  })

  const invalidUtf8 = [
    ['a text message with 0xFF', () => frame(TEXT, Buffer.from([0x61, 0xff, 0x62]))],
    ['a text message ending inside a UTF-8 sequence', () => frame(TEXT, Buffer.from([0x61, 0xe2, 0x82]))],
    ['an overlong encoding', () => frame(TEXT, Buffer.from([0xc0, 0xaf]))],
    ['a UTF-16 surrogate encoded in UTF-8', () => frame(TEXT, Buffer.from([0xed, 0xa0, 0x80]))],
    [
      'fragments whose whole is invalid',
      () => Buffer.concat([frame(TEXT, Buffer.from([0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0x61]))]),
    ],
    ['a close reason that is not UTF-8', () => frame(CLOSE, Buffer.concat([closePayload(1000), Buffer.from([0xff])]))],
  ]

  it.each(invalidUtf8)('%s: closed with 1007; the server and the others go on', async (_, bytes) => {
    const srv = await recordingServer()
    const bystander = await wsConnect(srv.url)
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(bytes())
    const cf = await reader.closeFrame()
    expect(cf && cf.code).toBe(1007)
    await waitFor(reader.ended, 'the server to close the socket')
    expect(srv.messages.items.length).toBe(0)
    await expectStillServing(srv.url, bystander)
  })

  it('a raw client doing the close handshake right gets its code echoed, then the server closes TCP', async () => {
    const srv = await recordingServer()
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(frame(PING, 'p'))
    const pong = await reader.frame()
    expect([pong.opcode, pong.payload.toString(), pong.masked]).toEqual([PONG, 'p', false])
    sock.write(frame(CLOSE, closePayload(4005, 'raw')))
    const cf = await reader.closeFrame()
    expect(cf.code).toBe(4005)
    await waitFor(reader.ended, 'the server to close the socket')
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect([cl.code, cl.reason]).toEqual([4005, 'raw'])
  })

  it('an empty close frame: the close callback gets 1005', async () => {
    const srv = await recordingServer()
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(frame(CLOSE))
    expect(await reader.closeFrame()).not.toBeNull()
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(cl.code).toBe(1005)
  })
})

// ---------------------------------------------------------------------------
// 5. broadcast

describe('broadcast', () => {
  it('reaches each of 100 ws clients exactly once per message, in order; returns 100, then 90 after 10 leave', async () => {
    const srv = await recordingServer()
    const clients = await Promise.all(Array.from({ length: 100 }, () => wsConnect(srv.url)))
    await srv.opened.until(100, 'opens')
    const messages = [
      ab(1024),
      'text ✓',
      new Uint8Array(ab(5000), 100, 3000),
      poolSlice('pooled'),
      new ArrayBuffer(0),
      sab(100),
      'x✓'.repeat(30000),
    ]
    const wants = messages.map((m) => (typeof m === 'string' ? m : copyOf(m)))
    const counts = messages.map((m) => srv.server.broadcast(m))
    expect(counts).toEqual(messages.map(() => 100))
    expect(srv.server.broadcast('end')).toBe(100)
    for (const c of clients) {
      const got = await c.inbox.until(messages.length + 1)
      messages.forEach((_, i) => expectWsMessage(`message ${i}`, got[i], wants[i]))
      expectWsMessage('end', got[messages.length], 'end')
    }
    await sleep(50)
    expect(clients.map((c) => c.inbox.items.length)).toEqual(clients.map(() => messages.length + 1))

    for (const c of clients.slice(0, 10)) c.close(1000)
    await srv.closes.until(10, 'close callbacks')
    expect(srv.server.broadcast('ninety')).toBe(90)
    for (const c of clients.slice(10)) {
      const got = await c.inbox.until(messages.length + 2)
      expectWsMessage('ninety', got[messages.length + 1], 'ninety')
    }
  })

  it('with no connection, broadcast returns 0', async () => {
    const { server } = await recordingServer()
    expect(server.broadcast('nobody')).toBe(0)
  })
})

// ---------------------------------------------------------------------------
// 6. Backpressure

describe('backpressure', () => {
  it('send() returns false over backpressureLimit against a client that does not read; drained() resolves once it reads', async () => {
    const LIMIT = 256 * KiB
    const SIZE = 64 * KiB
    const srv = await recordingServer({ backpressureLimit: LIMIT })
    const c = await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    c._socket.pause()
    let seq = 0
    const send = () => {
      const m = Buffer.alloc(SIZE, seq & 0xff)
      m.writeUInt32LE(seq++)
      return ws.send(m)
    }
    expect(ws.bufferedAmount).toBe(0)
    expect(send()).toBe(true)
    // Fill the kernel's buffers, then abio's queue: rounds of sends until send() says false,
    // until bufferedAmount stays put (nothing more is taken while the client does not read).
    let still = 0
    let falses = 0
    while (still < 5) {
      while (send()) if (seq > 2048) throw new Error('128 MiB sent and send() never returned false')
      falses++
      const before = ws.bufferedAmount
      await sleep(20)
      still = before > LIMIT && ws.bufferedAmount === before ? still + 1 : 0
      if (seq > 2048) throw new Error(`128 MiB sent and bufferedAmount never settled (${ws.bufferedAmount})`)
    }
    expect(falses).toBeGreaterThan(0)
    expect(ws.bufferedAmount).toBeGreaterThan(LIMIT)
    expect(send()).toBe(false) // still queued: it must arrive too
    let drained = false
    ws.drained().then(() => (drained = true))
    await sleep(200)
    expect(drained).toBe(false)
    c._socket.resume()
    await waitFor(ws.drained(), 'drained() after the client reads again', 10000)
    expect(ws.bufferedAmount).toBeLessThanOrEqual(LIMIT)
    const got = await c.inbox.until(seq, 'every message sent, the refused ones too', 10000)
    got.forEach((m, i) => {
      if (m.data.length !== SIZE || m.data.readUInt32LE(0) !== i) expect({ i, len: m.data.length }).toBe('in order')
    })
    expect(ws.bufferedAmount).toBe(0)
    expect(send()).toBe(true)
    await waitFor(ws.drained(), 'drained() with nothing queued')
  })
})

describe('held memory and order (issue: trust)', () => {
  it('send() copies a payload of up to 16 KiB at the call: a scratch buffer reused in one turn sends each content', async () => {
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    for (const size of [1, 1000, 16 * KiB]) {
      const scratch = new Uint8Array(size)
      const before = c.inbox.items.length
      for (let i = 0; i < 5; i++) {
        scratch.fill(i + 1)
        ws.send(scratch)
      }
      // Overwritten before the flush at the end of the turn: what was sent must not change.
      scratch.fill(0xee)
      const got = (await c.inbox.until(before + 5, `5 messages of ${size} B`)).slice(before)
      expect(got.map((m) => [m.data.length, [...new Set(m.data)]])).toEqual([1, 2, 3, 4, 5].map((v) => [size, [v]]))
    }
    // The client side too (its frames are masked copies, made at the call as well).
    const srv2 = await recordingServer({ echo: true })
    const client = await abioConnect(srv2.url)
    const dv = new DataView(new ArrayBuffer(64), 8, 32)
    for (let i = 0; i < 3; i++) {
      new Uint8Array(dv.buffer).fill(i + 10)
      client.send(dv)
    }
    new Uint8Array(dv.buffer).fill(0)
    const back = await nextMessages(client, 3)
    expect(back.map((m) => [...new Set(new Uint8Array(m))])).toEqual([[10], [11], [12]])
  })

  it("ws.send('A'); server.broadcast('B'); ws.send('C') in one turn arrive A, B, C", async () => {
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    const other = await wsConnect(srv.url)
    await srv.opened.until(2, 'opens')
    ws.send('A')
    srv.server.broadcast('B')
    ws.send('C')
    srv.server.broadcast(new Uint8Array([68]))
    ws.send('E')
    const got = await c.inbox.until(5, 'five messages')
    expect(got.map((m) => m.data.toString())).toEqual(['A', 'B', 'C', 'D', 'E'])
    const theirs = await other.inbox.until(2, 'two broadcasts')
    expect(theirs.map((m) => m.data.toString())).toEqual(['B', 'D'])
  })

  it('a client that floods pings and never reads keeps the server bounded (pongs count against backpressureLimit); others are served', async () => {
    const LIMIT = 64 * KiB
    const srv = await recordingServer({ backpressureLimit: LIMIT })
    const { sock } = await rawUpgrade(srv.port)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    sock.pause() // never reads: every pong stays queued
    const ping = frame(PING, Buffer.alloc(125, 7))
    const burst = Buffer.concat(Array.from({ length: 1024 }, () => ping)) // 131 KiB of pings
    // 16 MiB of pings (as fast as the server takes them), with the server watched meanwhile.
    // Ends when 16 MiB are written or the server has stopped taking them (5 waits for 'drain'
    // in a row time out: it no longer reads, which is the point).
    let written = 0
    let peak = 0
    let stalls = 0
    while (written < 16 * MiB && stalls < 5) {
      if (!sock.write(burst)) {
        const drained = await Promise.race([
          new Promise((r) => sock.once('drain', () => r(true))),
          sleep(100).then(() => false),
        ])
        stalls = drained ? 0 : stalls + 1
      }
      written += burst.length
      peak = Math.max(peak, ws.bufferedAmount)
    }
    await sleep(300)
    peak = Math.max(peak, ws.bufferedAmount)
    // Bounded by the limit plus what one read (64 KiB of pings) answers; before the fix the
    // server queued a pong for every ping it read (tens of MiB).
    expect(peak).toBeLessThan(LIMIT + 256 * KiB)
    await expectStillServing(srv.url)
    // A throttled connection still notices that its peer is gone.
    sock.destroy()
    const [closed] = await srv.closes.until(1, 'the close of the flooding client', 15000)
    expect(closed.ws).toBe(ws)
  })

  it("open()'s request headers have no prototype: a peer's constructor and __proto__ headers are headers", async () => {
    const srv = await recordingServer()
    const sock = await rawConnect(srv.port)
    const reader = new RawReader(sock)
    const key = crypto.randomBytes(16).toString('base64')
    sock.write(
      `GET / HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nconstructor: x\r\n__proto__: y\r\n\r\n`,
    )
    expect(await reader.head()).toMatch(/^HTTP\/1\.1 101 /)
    const [{ req }] = await srv.opened.until(1, 'opens')
    expect(Object.getPrototypeOf(req.headers)).toBe(null)
    expect(req.headers.constructor).toBe('x')
    expect(req.headers['__proto__']).toBe('y')
  })

  it('a view of a resizable ArrayBuffer or growable SharedArrayBuffer is copied at the call (send, broadcast)', async () => {
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    const N = 1 * MiB
    const rab = new ArrayBuffer(N, { maxByteLength: 2 * N })
    new Uint8Array(rab).fill(0x5a)
    ws.send(new Uint8Array(rab))
    rab.resize(0)
    const gsab = new SharedArrayBuffer(N, { maxByteLength: 2 * N })
    new Uint8Array(gsab).fill(0x6b)
    srv.server.broadcast(gsab)
    new Uint8Array(gsab).fill(0)
    const got = await c.inbox.until(2, 'two messages', 10000)
    expect(got.map((m) => [m.data.length, [...new Set(m.data)]])).toEqual([
      [N, [0x5a]],
      [N, [0x6b]],
    ])
  })
})

// ---------------------------------------------------------------------------
// 7. The path option, and HTTP on the same port

describe('websocket.path', () => {
  it('upgrades only on path; routes and fetch still answer HTTP on the same port; open gets the request', async () => {
    const srv = await recordingServer(
      { path: '/ws' },
      { routes: { '/hello': { body: 'hi' } }, fetch: (req) => ({ body: `fetched ${req.method} ${req.url}` }) },
    )
    const c = await wsConnect(`ws://${HOST}:${srv.port}/ws?x=1&y=%20`, { headers: { 'X-Test': 'yes v' } })
    const [{ req }] = await srv.opened.until(1, 'opens')
    expect([req.method, req.path, req.url]).toEqual(['GET', '/ws', '/ws?x=1&y=%20'])
    expect(req.headers['x-test']).toBe('yes v')
    expect(req.headers.upgrade.toLowerCase()).toBe('websocket')
    expect(req.headers['sec-websocket-version']).toBe('13')
    await expectStillServing(srv.url.replace(/\/$/, '/ws'), c)

    for (const p of ['/other', '/hello', '/', '/ws/']) {
      const err = await wsConnect(`ws://${HOST}:${srv.port}${p}`).then(
        () => ({ status: 101 }),
        (e) => e,
      )
      expect({ p, refused: err.status !== 101 && err.status !== undefined }).toEqual({ p, refused: true })
    }
    expect(srv.opened.items.length).toBe(1)

    const get = (p) =>
      new Promise((resolve, reject) =>
        http
          .get({ host: HOST, port: srv.port, path: p, agent: false }, (res) => {
            const chunks = []
            res.on('data', (d) => chunks.push(d))
            res.on('end', () => resolve([res.statusCode, Buffer.concat(chunks).toString()]))
          })
          .on('error', reject),
      )
    expect(await get('/hello')).toEqual([200, 'hi'])
    expect(await get('/x?q')).toEqual([200, 'fetched GET /x?q'])
    await expectStillServing(`ws://${HOST}:${srv.port}/ws`, c)
  })

  it('an upgrade on another path with no fetch handler gets 404', async () => {
    const srv = await recordingServer({ path: '/ws' }, { routes: { '/r': { body: 'r' } } })
    const err = await wsConnect(`ws://${HOST}:${srv.port}/nope`).then(
      () => ({ status: 101 }),
      (e) => e,
    )
    expect(err.status).toBe(404)
    expect(srv.opened.items.length).toBe(0)
  })

  it('without path, any path upgrades and open() sees it', async () => {
    const srv = await recordingServer()
    await wsConnect(`ws://${HOST}:${srv.port}/a/b?c`)
    await wsConnect(`ws://${HOST}:${srv.port}/`)
    const opened = await srv.opened.until(2, 'opens')
    expect(opened.map((o) => [o.req.path, o.req.url]).sort()).toEqual([
      ['/', '/'],
      ['/a/b', '/a/b?c'],
    ])
  })
})

// ---------------------------------------------------------------------------
// 8. pingInterval

describe('pingInterval', () => {
  it('pings a live ws client, which stays open; drops a silent one with 1006', async () => {
    const srv = await recordingServer({ pingInterval: 100 })
    const live = await wsConnect(srv.url)
    const pings = new Inbox()
    live.on('ping', (d) => pings.push(d))
    const { reader } = await rawUpgrade(srv.port) // never answers anything
    const t0 = Date.now()
    const [cl] = await srv.closes.until(1, 'the silent client to be dropped', 3000)
    expect(cl.code).toBe(1006)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90) // a whole interval after a ping (t0 is a little after open)
    await waitFor(reader.ended, 'the silent socket to be closed')
    await pings.until(3, 'pings to the live client', 5000)
    expect(live.readyState).toBe(WsClient.OPEN)
    expect(srv.closes.items.length).toBe(1)
    await expectStillServing(srv.url, live)
  })

  it('0 (the default) sends no ping', async () => {
    const srv = await recordingServer()
    const c = await wsConnect(srv.url)
    let pings = 0
    c.on('ping', () => pings++)
    await sleep(300)
    expect(pings).toBe(0)
  })
})

// ---------------------------------------------------------------------------
// 9. Arguments

describe('arguments', () => {
  it('bad websocket options throw ABIO_ERR_INVALID_ARG synchronously', () => {
    const bad = [
      ['websocket: 5', 5],
      ['path without /', { path: 'ws' }],
      ['path a number', { path: 5 }],
      ['maxPayload -1', { maxPayload: -1 }],
      ['maxPayload a string', { maxPayload: '1000' }],
      ['maxPayload 1.5', { maxPayload: 1.5 }],
      ['backpressureLimit -1', { backpressureLimit: -1 }],
      ['pingInterval -1', { pingInterval: -1 }],
      ['pingInterval NaN', { pingInterval: NaN }],
      ['open not a function', { open: 'x' }],
      ['message not a function', { message: {} }],
      ['close not a function', { close: 1 }],
    ]
    for (const [what, websocket] of bad) expectInvalidArg(() => abio.serve({ host: HOST, port: 0, websocket }), what)
  })

  it('bad send() and close() arguments throw ABIO_ERR_INVALID_ARG synchronously', async () => {
    const srv = await recordingServer()
    await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    for (const [what, v] of [
      ['a number', 5],
      ['undefined', undefined],
      ['null', null],
      ['an object', {}],
      ['an array', [1, 2]],
    ])
      expectInvalidArg(() => ws.send(v), `send(${what})`)
    for (const [what, args] of [
      ['code 999', [999]],
      ['code 1005', [1005]],
      ['code 1006', [1006]],
      ['code 5000', [5000]],
      ['code a string', ['1000']],
      ['a reason of 124 bytes', [1000, 'x'.repeat(124)]],
      ['a reason that is a number', [1000, 5]],
    ])
      expectInvalidArg(() => ws.close(...args), `close(${what})`)
    await expectStillServing(srv.url)
  })

  it('bad connectWebSocket arguments throw ABIO_ERR_INVALID_ARG synchronously', () => {
    for (const [what, args] of [
      ['no url', []],
      ['a number', [5]],
      ['http://', ['http://127.0.0.1:1/']],
      ['wss:// (not supported)', ['wss://127.0.0.1:1/']],
      ['not a URL', ['ws//x']],
      ['maxPayload -1', ['ws://127.0.0.1:1/', { maxPayload: -1 }]],
      ['headers a string', ['ws://127.0.0.1:1/', { headers: 'x: y' }]],
      ['signal not an AbortSignal', ['ws://127.0.0.1:1/', { signal: {} }]],
    ])
      expectInvalidArg(() => abio.connectWebSocket(...args), what)
  })
})

// ---------------------------------------------------------------------------
// 10. abio's client against a ws server

describe('connectWebSocket against a ws server', () => {
  it('a burst of 8 MiB in 1 KiB messages (many reads per wake-up) arrives whole, the last one included', async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const N = 8 * 1024
    for (let i = 0; i < N; i++) {
      // ws holds what it queues: a buffer per message.
      const m = Buffer.alloc(KiB)
      m.writeUInt32LE(i)
      ws.send(m)
    }
    ws.send('end')
    let n = 0
    for await (const got of c) {
      if (typeof got === 'string') {
        expect(got).toBe('end')
        break
      }
      expect(new DataView(got).getUint32(0, true)).toBe(n++)
    }
    expect(n).toBe(N)
  })

  it('sends every Data kind and receives each back exact, by async iteration', async () => {
    const wss = await wsServer({ echo: true })
    const c = await abioConnect(wss.url)
    const kinds = dataKinds()
    const wants = kinds.map(([, v]) => (typeof v === 'string' ? v : copyOf(v)))
    for (const [, v] of kinds) expect(c.send(v)).toBe(true)
    const got = await nextMessages(c, kinds.length)
    kinds.forEach(([name], i) => expectAbioMessage(name, got[i], wants[i]))
    const [{ ws }] = wss.conns.items
    const seen = await ws.inbox.until(kinds.length)
    kinds.forEach(([name], i) => expectWsMessage(name, seen[i], wants[i]))
  })

  it('16 MiB both ways (sha256)', async () => {
    const down = crypto.randomBytes(16 * MiB)
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const up = ab(16 * MiB)
    c.send(up)
    ws.send(down)
    const [m] = await nextMessages(c, 1, '16 MiB', 15000)
    expect(tag(m)).toBe('[object ArrayBuffer]')
    expect(m.byteLength).toBe(16 * MiB)
    expect(sha256(m)).toBe(sha256(down))
    const [got] = await ws.inbox.until(1, '16 MiB at the ws server', 15000)
    expect(sha256(got.data)).toBe(sha256(up))
  })

  it('fragmented messages and pings from the ws server; pongs from abio carry the payload', async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const pongs = new Inbox()
    ws.on('pong', (d) => pongs.push(d))
    const parts = [ab(10), ab(70000), ab(0), ab(5)].map((x) => Buffer.from(x))
    parts.forEach((p, i) => {
      ws.send(p, { binary: true, fin: i === parts.length - 1 })
      ws.ping(`p${i}`)
    })
    const text = Buffer.from('é\u{1F600}')
    ws.send(text.subarray(0, 1), { binary: false, fin: false })
    ws.send(text.subarray(1, 4), { binary: false, fin: false })
    ws.send(text.subarray(4), { binary: false, fin: true })
    const [bin, str] = await nextMessages(c, 2)
    expectAbioMessage('binary in 4 fragments', bin, Buffer.concat(parts))
    expectAbioMessage('text in 3 fragments', str, 'é\u{1F600}')
    const got = await pongs.until(4, 'pongs')
    expect(got.map(String)).toEqual(['p0', 'p1', 'p2', 'p3'])
  })

  it('async iteration ends when the server closes; closed gives its code and reason', async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    ws.send('a')
    ws.send(Buffer.from([1, 2, 3]))
    ws.send('c')
    ws.close(4003, 'done')
    const got = []
    const iterated = (async () => {
      for await (const m of c) got.push(m)
    })()
    await waitFor(iterated, 'the iteration to end')
    expect(got.length).toBe(3)
    expectAbioMessage('1', got[0], 'a')
    expectAbioMessage('2', got[1], Buffer.from([1, 2, 3]))
    expectAbioMessage('3', got[2], 'c')
    expect(await waitFor(c.closed, 'closed')).toEqual({ code: 4003, reason: 'done' })
    expect(await ws.closedP).toEqual({ code: 4003, reason: 'done' })
  })

  it("close(4004, 'bye') reaches the ws server; closed settles with it", async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    c.close(4004, 'bye')
    expect(await waitFor(ws.closedP, 'the ws server side to close')).toEqual({ code: 4004, reason: 'bye' })
    expect(await waitFor(c.closed, 'closed')).toEqual({ code: 4004, reason: 'bye' })
    expect(() => c.close()).not.toThrow() // idempotent
  })

  it('a server that vanishes (no close frame): closed gives 1006 and the iteration ends', async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    ws.terminate()
    expect((await waitFor(c.closed, 'closed')).code).toBe(1006)
    const r = await waitFor(c[Symbol.asyncIterator]().next(), 'the iteration to end')
    expect(r.done).toBe(true)
  })

  it('the headers option, the path and the query reach the server in the upgrade request', async () => {
    const wss = await wsServer()
    await abioConnect(`${wss.url}/p/q?a=1&b=%20`, { headers: { 'X-Token': 'abc', 'x-empty': '' } })
    const [{ req }] = await wss.conns.until(1, 'connections')
    expect(req.url).toBe('/p/q?a=1&b=%20')
    expect(req.headers['x-token']).toBe('abc')
    expect(req.headers['x-empty']).toBe('')
    expect(req.headers['sec-websocket-version']).toBe('13')
    expect(req.headers.host).toBe(`${HOST}:${wss.port}`)
  })

  it('a signal aborts a connect the server never answers: AbortError ABORT_ERR; an aborted signal rejects', async () => {
    const silent = net.createServer((s) => track('node-socket', s))
    track('node-server', silent)
    await new Promise((resolve) => silent.listen(0, HOST, resolve))
    const url = `ws://${HOST}:${silent.address().port}/`
    const ac = new AbortController()
    const p = abio.connectWebSocket(url, { signal: ac.signal })
    setTimeout(() => ac.abort(), 50)
    const err = await waitFor(
      p.then(
        (ws) => (ws.close(), 'connected'),
        (e) => e,
      ),
      'the abort',
    )
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
    const before = await abio.connectWebSocket(url, { signal: AbortSignal.abort() }).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(before).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
  })

  it('a refused connection rejects with ECONNREFUSED', async () => {
    const s = net.createServer()
    await new Promise((resolve) => s.listen(0, HOST, resolve))
    const port = s.address().port
    await new Promise((resolve) => s.close(resolve))
    const err = await abio.connectWebSocket(`ws://${HOST}:${port}/`).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(err).toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('a non-101 answer, or a 101 with the wrong accept key, rejects with ABIO_ERR_WS_HANDSHAKE', async () => {
    const h = http.createServer((req, res) => {
      res.writeHead(403, { 'content-length': 2 })
      res.end('no')
    })
    track('node-server', h)
    h.on('connection', (s) => track('node-socket', s))
    await new Promise((resolve) => h.listen(0, HOST, resolve))
    const err = await abio.connectWebSocket(`ws://${HOST}:${h.address().port}/`).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(err).toMatchObject({ code: 'ABIO_ERR_WS_HANDSHAKE' })

    const liar = net.createServer((s) => {
      track('node-socket', s)
      s.once('data', () =>
        s.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Accept: d3Jvbmcga2V5IGF0IGFsbCEhIQ==\r\n\r\n',
        ),
      )
    })
    track('node-server', liar)
    await new Promise((resolve) => liar.listen(0, HOST, resolve))
    const err2 = await abio.connectWebSocket(`ws://${HOST}:${liar.address().port}/`).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(err2).toMatchObject({ code: 'ABIO_ERR_WS_HANDSHAKE' })
  })

  it("abio's client talks to abio's server", async () => {
    const srv = await recordingServer()
    const c = await abioConnect(srv.url)
    const payload = ab(10000)
    const want = copyOf(payload)
    c.send(payload)
    c.send('ok ✓')
    const [bin, str] = await nextMessages(c, 2)
    expectAbioMessage('binary echo', bin, want)
    expectAbioMessage('text echo', str, 'ok ✓')
    c.close(1000, 'end')
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect([cl.code, cl.reason]).toEqual([1000, 'end'])
  })
})

// ---------------------------------------------------------------------------
// 7. Resources

describe('resources', () => {
  /** The socket inodes of this process's open descriptors. */
  function ourSockets() {
    const inodes = new Set()
    for (const fd of fs.readdirSync('/proc/self/fd')) {
      let target = ''
      try {
        target = fs.readlinkSync(`/proc/self/fd/${fd}`)
      } catch {} // the directory's own descriptor, gone by now
      const m = /^socket:\[(\d+)\]$/.exec(target)
      if (m) inodes.add(m[1])
    }
    return inodes
  }
  /** The inodes of the connected sockets with `port` at either end (/proc/net/tcp*). */
  function connectedOn(port) {
    const hex = ':' + port.toString(16).toUpperCase().padStart(4, '0')
    const inodes = new Set()
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      if (!fs.existsSync(table)) continue
      for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/)
        const listening = cols[3] === '0A'
        if (cols.length > 9 && !listening && (cols[1].endsWith(hex) || cols[2].endsWith(hex))) inodes.add(cols[9])
      }
    }
    return inodes
  }
  const linuxIt = fs.existsSync('/proc/net/tcp') ? it : it.skip

  linuxIt(
    'a closed WebSocket lets go of its socket at once, on both sides, while JS still holds the objects',
    async () => {
      const srv = await recordingServer()
      const first = await abioConnect(srv.url)
      first.close(1000)
      await first.closed
      await srv.closes.until(1, 'the first close')
      const kept = [] // held on purpose: no garbage collection may be what frees them
      const used = new Set() // both ends of each connection, seen while it was open
      for (let i = 0; i < 20; i++) {
        const c = await abioConnect(srv.url)
        c.send('hi')
        await nextMessages(c, 1)
        for (const inode of connectedOn(srv.port)) if (ourSockets().has(inode)) used.add(inode)
        c.close(1000)
        await c.closed
        kept.push(c)
      }
      await srv.closes.until(21, 'close callbacks')
      const stillOpen = () => [...ourSockets()].filter((inode) => used.has(inode)).length
      let open = stillOpen()
      for (let i = 0; i < 100 && open > 0; i++) {
        await sleep(20)
        open = stillOpen()
      }
      expect({ used: used.size, open, kept: kept.length }).toEqual({ used: 40, open: 0, kept: 20 })
      expect(srv.closes.items.map((c) => c.ws).every((ws) => ws.send('late') === false)).toBe(true)
    },
  )
})
