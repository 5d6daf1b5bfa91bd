'use strict'
// The raw peer of ws-conformance.test.js: our own end of a WebSocket, written by hand on a
// `net` socket, facing abio in either role. As a client it upgrades with helpers/ws.js's
// `rawUpgrade` and sends masked frames; as a server (`rawServer`) it answers the upgrade
// itself (Sec-WebSocket-Accept from sha1) and sends unmasked ones. Either way it reads abio's
// frames with helpers/ws.js's `RawReader` and checks that they are masked as abio's role asks.
//
// Frames from abio are compared as plain objects (`frameView`): opcode name, FIN, RSV, and the
// payload in hex (a digest when large), or a close frame's code and reason.

const net = require('net')
const crypto = require('crypto')

const { track } = require('./cleanup')
const { REFERENCE, HOST, GUID, sha256, waitFor, Inbox, RawReader, frame, rawUpgrade, closePayload } = require('./ws')
const { recordingServer, abioConnect, FAILED_BY_US, TEXT, BINARY, CLOSE, PING, PONG } = require('./ws')
const { rawConnect } = require('./http-peers')

const OPCODES = {
  0: 'continuation',
  [TEXT]: 'text',
  [BINARY]: 'binary',
  [CLOSE]: 'close',
  [PING]: 'ping',
  [PONG]: 'pong',
}
/** Payloads up to this many bytes are shown in hex; larger ones by length and sha256. */
const SHOWN = 300

/** Resolves after a turn of the event loop (its poll phase included). */
const turn = () => new Promise((resolve) => setImmediate(resolve))

/** A payload as compared: its hex, or its length and digest when large. */
function payloadView(payload) {
  const b = Buffer.from(payload)
  return b.length <= SHOWN ? b.toString('hex') : `${b.length} bytes, sha256 ${sha256(b)}`
}

/**
 * A frame as compared: `{ opcode, fin, rsv, payload }`, or for a close frame
 * `{ opcode: 'close', fin, rsv, code, reason }` (code `null` when the payload is empty).
 */
function frameView(f) {
  const view = { opcode: OPCODES[f.opcode] ?? f.opcode, fin: f.fin, rsv: f.rsv }
  if (f.opcode !== CLOSE) return { ...view, payload: payloadView(f.payload) }
  const p = f.payload
  if (p.length === 1) return { ...view, code: `a 1-byte payload ${p.toString('hex')}`, reason: '' }
  return { ...view, code: p.length === 0 ? null : p.readUInt16BE(0), reason: p.subarray(2).toString() }
}

// The views of what abio should send. A failure's close (abio closing for a violation) has a
// reason of abio's own; it is told from an echoed close by `isFailure`.
const failures = new WeakSet()
const want = {
  text: (s) => frameView({ opcode: TEXT, fin: true, rsv: 0, payload: Buffer.from(s) }),
  binary: (b) => frameView({ opcode: BINARY, fin: true, rsv: 0, payload: Buffer.from(b) }),
  pong: (b = '') => frameView({ opcode: PONG, fin: true, rsv: 0, payload: Buffer.from(b) }),
  /** An echoed close: `code` null for one with no payload. */
  close: (code, reason = '') => ({ opcode: 'close', fin: true, rsv: 0, code, reason }),
  /** abio's close for a violation: `code`, any reason. */
  failure(code) {
    const v = { opcode: 'close', fin: true, rsv: 0, code, reason: expect.any(String) }
    failures.add(v)
    return v
  },
}
const isFailure = (v) => failures.has(v)

/** One end of a WebSocket written by hand: 'client' (masks its frames) or 'server'. */
class RawPeer {
  /**
   * @param {net.Socket} sock
   * @param {RawReader} reader
   * @param {'client' | 'server'} role
   * @param {() => Promise<{ code: number, reason: string }>} abioClosed abio's report of the close
   */
  constructor(sock, reader, role, abioClosed) {
    this.sock = sock
    this.reader = reader
    this.role = role
    this.abioClosed = abioClosed
    sock.setNoDelay(true)
  }

  /** Whether this end masks its frames (a client's must, a server's must not). */
  get masks() {
    return this.role === 'client'
  }

  /** A frame as this end sends it (masked if a client); `options` as helpers/ws.js `frame`. */
  frame(opcode, payload = Buffer.alloc(0), options = {}) {
    return frame(opcode, payload, { mask: this.masks, ...options })
  }

  /** Writes the frames (or any bytes) in one `write`; resolves once written. */
  send(...parts) {
    const bytes = Buffer.concat(parts.flat().map((p) => Buffer.from(p)))
    return new Promise((resolve) => this.sock.write(bytes, () => resolve()))
  }

  /**
   * Writes `bytes` `size` bytes per `write`, each once the last was written and the event loop
   * went round: abio runs on this same thread, and reads what came before the next is written.
   */
  async sendInPieces(bytes, size = 1) {
    for (let at = 0; at < bytes.length; at += size) {
      await this.send(bytes.subarray(at, at + size))
      await turn()
    }
  }

  /** Writes each frame in its own `write`, as `sendInPieces` does its pieces. */
  async sendEach(...frames) {
    for (const f of frames.flat()) {
      await this.send(f)
      await turn()
    }
  }

  /**
   * The next frame from abio ({ fin, rsv, opcode, masked, payload }), or null once the stream
   * ended; fails if it is masked other than abio's role asks (RFC 6455 5.1).
   */
  async next() {
    const f = await this.reader.frame()
    if (f !== null) {
      const masked = this.role === 'server'
      expect({ frame: frameView(f), masked: f.masked }).toEqual({ frame: frameView(f), masked })
    }
    return f
  }

  /** The views of the next `n` frames from abio, fewer if the stream ends first. */
  async frames(n) {
    const got = []
    while (got.length < n) {
      const f = await this.next()
      if (f === null) break
      got.push(frameView(f))
    }
    return got
  }

  /** Expects the stream to end (abio closed the TCP connection) with no frame (and no byte) more. */
  async expectEnd() {
    const after = []
    for (let f; (f = await this.next()) !== null;) after.push(frameView(f))
    expect({ framesAfterTheLast: after }).toEqual({ framesAfterTheLast: [] })
    await waitFor(this.reader.ended, 'abio to close the TCP connection')
  }
}

/** A raw client of abio's server at `port`, upgraded (the 101 checked). */
async function rawClientOf(port, abioClosed) {
  const { sock, reader } = await rawUpgrade(port)
  return new RawPeer(sock, reader, 'client', abioClosed)
}

/**
 * A raw WebSocket server on 127.0.0.1 (closed after the test): `accepted` holds a RawPeer
 * (role 'server') for each connection whose upgrade it answered, `{ error }` for one it
 * could not.
 */
async function rawServer() {
  const accepted = new Inbox()
  const server = net.createServer((sock) => {
    track('node-socket', sock)
    sock.on('error', (e) => (sock.lastError = e))
    const reader = new RawReader(sock)
    reader.head().then(
      (head) => {
        const key = /^sec-websocket-key:[ \t]*(\S+)[ \t]*$/im.exec(head)
        if (!/^GET \S+ HTTP\/1\.1$/m.test(head.split('\r\n')[0]) || key === null) {
          sock.destroy()
          accepted.push({ error: new Error(`not a WebSocket upgrade request:\n${head}`) })
          return
        }
        const accept = crypto
          .createHash('sha1')
          .update(key[1] + GUID)
          .digest('base64')
        sock.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
        )
        accepted.push({ peer: new RawPeer(sock, reader, 'server'), head })
      },
      (error) => accepted.push({ error }),
    )
  })
  track('node-server', server)
  await new Promise((resolve) => server.listen(0, HOST, resolve))
  const port = server.address().port
  return { server, port, url: `ws://${HOST}:${port}/`, accepted }
}

/**
 * A raw peer facing abio in `role`, which echoes every message:
 * - 'server': abio's server (its `message` handler sends each message back) with `options` as
 *   its `websocket` options, and a raw client;
 * - 'client': abio's client (`for await (const m of ws) ws.send(m)`) with `options` as
 *   connectWebSocket's, and a raw server.
 * `peer.abioClosed()` resolves with abio's report of the close: the server's `close` handler's
 * code and reason, or the client's `closed`.
 */
async function rawPeerFacing(role, options = {}) {
  if (role === 'server') {
    const srv = await recordingServer(options)
    return rawClientOf(srv.port, async () => {
      const [{ code, reason }] = await srv.closes.until(1, 'the close handler')
      return { code, reason }
    })
  }
  const srv = await rawServer()
  const ws = await abioConnect(srv.url, options)
  ;(async () => {
    for await (const m of ws) ws.send(m)
  })()
  const [{ peer, error }] = await srv.accepted.until(1, 'the upgrade')
  if (error) throw error
  peer.abioClosed = () => ws.closed
  peer.ws = ws
  return peer
}

/** Every value of the header `name` (any case) in an HTTP head (its lines after the first). */
function headerValues(head, name) {
  const lower = name.toLowerCase()
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => /^([^:]+):[ \t]*(.*?)[ \t]*$/.exec(line))
    .filter((m) => m !== null && m[1].toLowerCase() === lower)
    .map((m) => m[2])
}

/**
 * A raw client of abio's server at `port`, as `rawClientOf`, whose upgrade request carries
 * `headers` too ([name, value] pairs, e.g. Sec-WebSocket-Extensions): a RawPeer (role
 * 'client') whose `head` is abio's 101 answer (its Sec-WebSocket-Accept checked).
 */
async function rawClientWith(port, headers = [], abioClosed, urlPath = '/') {
  const sock = await rawConnect(port)
  const reader = new RawReader(sock)
  const key = crypto.randomBytes(16).toString('base64')
  sock.write(
    `GET ${urlPath} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      headers.map(([n, v]) => `${n}: ${v}\r\n`).join('') +
      '\r\n',
  )
  const head = await reader.head()
  expect(head).toMatch(/^HTTP\/1\.1 101 /)
  const accept = crypto
    .createHash('sha1')
    .update(key + GUID)
    .digest('base64')
  expect(headerValues(head, 'sec-websocket-accept')).toEqual([accept])
  const peer = new RawPeer(sock, reader, 'client', abioClosed)
  peer.head = head
  return peer
}

/**
 * A raw WebSocket server as `rawServer`, whose 101 answers also carry the header lines
 * `answer(head)` returns for the request `head` (e.g. ['Sec-WebSocket-Extensions: x']).
 * `accepted` holds { peer, head } for each connection it answered, `{ error }` for one it could not.
 */
async function rawServerAnswering(answer) {
  const accepted = new Inbox()
  const server = net.createServer((sock) => {
    track('node-socket', sock)
    sock.on('error', (e) => (sock.lastError = e))
    const reader = new RawReader(sock)
    reader.head().then(
      (head) => {
        const key = /^sec-websocket-key:[ \t]*(\S+)[ \t]*$/im.exec(head)
        if (!/^GET \S+ HTTP\/1\.1$/m.test(head.split('\r\n')[0]) || key === null) {
          sock.destroy()
          accepted.push({ error: new Error(`not a WebSocket upgrade request:\n${head}`) })
          return
        }
        const accept = crypto
          .createHash('sha1')
          .update(key[1] + GUID)
          .digest('base64')
        const more = answer(head).map((line) => `${line}\r\n`)
        sock.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${accept}\r\n${more.join('')}\r\n`,
        )
        accepted.push({ peer: new RawPeer(sock, reader, 'server'), head })
      },
      (error) => accepted.push({ error }),
    )
  })
  track('node-server', server)
  await new Promise((resolve) => server.listen(0, HOST, resolve))
  const port = server.address().port
  return { server, port, url: `ws://${HOST}:${port}/`, accepted }
}

/** The close codes abio may report for a connection it failed with `code` (the peer sees `code`). */
const reportedForFailure = (code) => (REFERENCE ? FAILED_BY_US(code) : [code])

module.exports = {
  RawPeer,
  rawClientOf,
  rawServer,
  rawPeerFacing,
  rawClientWith,
  rawServerAnswering,
  headerValues,
  frameView,
  payloadView,
  want,
  isFailure,
  reportedForFailure,
  closePayload,
  TEXT,
  BINARY,
  CLOSE,
  PING,
  PONG,
}
