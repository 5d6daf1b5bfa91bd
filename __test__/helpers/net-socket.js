'use strict'
// abio's TCP shape (design.md section 6: connect, listen, Socket with write, writeFrame, read,
// readExactly, readFrame, end, close) over Node's `net`. A test written against abio's API runs
// with this module in abio's place: today, before abio's TCP exists, and beside it after, as
// the baseline the same test must also pass. Reads are one at a time (no concurrent reads).
const net = require('net')

const HIGH_WATER = 4 << 20 // pause the socket above this many unread bytes
const DEFAULT_MAX_FRAME = 64 << 20

/** A Buffer over any ArrayBuffer, view or Buffer (no copy), or a string's UTF-8. */
function bytesOf(x) {
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength)
  return Buffer.from(x) // a string (UTF-8) or an ArrayBuffer
}
/** An ArrayBuffer of exactly these bytes, as abio returns (copies only a view into a larger buffer). */
function exactArrayBuffer(b) {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b.buffer
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
}
function closedEarly(want, have) {
  return Object.assign(new Error(`the stream ended after ${have} of ${want} bytes`), { code: 'ABIO_ERR_CLOSED' })
}

class Socket {
  #sock
  #chunks = []
  #buffered = 0
  #ended = false
  #error = null
  #wake = null

  constructor(sock) {
    this.#sock = sock
    sock.on('data', (c) => {
      this.#chunks.push(c)
      this.#buffered += c.length
      if (this.#buffered >= HIGH_WATER) sock.pause()
      this.#notify()
    })
    sock.on('end', () => {
      this.#ended = true
      this.#notify()
    })
    sock.on('error', (e) => {
      this.#error = e
      this.#notify()
    })
    sock.on('close', () => {
      this.#ended = true
      this.#notify()
    })
  }

  get remoteAddress() {
    return this.#sock.remoteAddress
  }
  get remotePort() {
    return this.#sock.remotePort
  }
  get localPort() {
    return this.#sock.localPort
  }

  #notify() {
    const wake = this.#wake
    this.#wake = null
    if (wake) wake()
  }

  /** Wait until `n` bytes are buffered; false if the stream ended first. */
  async #fill(n) {
    if (this.#wake) throw new Error('net-socket: one read at a time')
    while (this.#buffered < n) {
      if (this.#error) throw this.#error
      if (this.#ended) return false
      if (this.#sock.isPaused()) this.#sock.resume() // a frame larger than HIGH_WATER
      await new Promise((resolve) => (this.#wake = resolve))
    }
    return true
  }

  #take(n) {
    let out
    const first = this.#chunks[0]
    if (n === 0) out = Buffer.alloc(0)
    else if (first.length === n) out = this.#chunks.shift()
    else if (first.length > n) {
      out = first.subarray(0, n)
      this.#chunks[0] = first.subarray(n)
    } else {
      out = Buffer.allocUnsafe(n)
      for (let off = 0; off < n;) {
        const c = this.#chunks[0]
        const k = Math.min(c.length, n - off)
        c.copy(out, off, 0, k)
        off += k
        if (k === c.length) this.#chunks.shift()
        else this.#chunks[0] = c.subarray(k)
      }
    }
    this.#buffered -= n
    if (this.#buffered < HIGH_WATER && this.#sock.isPaused() && !this.#ended) this.#sock.resume()
    return out
  }

  /** @returns {Promise<ArrayBuffer | null>} what is buffered (at least 1 byte), null at end of stream */
  async read({ maxBytes = Infinity } = {}) {
    if (!(await this.#fill(1))) return null
    return exactArrayBuffer(this.#take(Math.min(this.#buffered, maxBytes)))
  }

  /** @returns {Promise<ArrayBuffer>} */
  async readExactly(n) {
    if (!(await this.#fill(n))) throw closedEarly(n, this.#buffered)
    return exactArrayBuffer(this.#take(n))
  }

  /** @returns {Promise<ArrayBuffer | null>} the next frame's bytes, null at end of stream between frames */
  async readFrame({ maxSize = DEFAULT_MAX_FRAME } = {}) {
    if (!(await this.#fill(4))) {
      if (this.#buffered === 0) return null
      throw closedEarly(4, this.#buffered)
    }
    const len = (this.#chunks[0].length >= 4 ? this.#chunks[0] : Buffer.concat(this.#chunks)).readUInt32BE(0)
    if (len > maxSize)
      throw Object.assign(new RangeError(`frame of ${len} bytes is over maxSize ${maxSize}`), {
        code: 'ABIO_ERR_FRAME_TOO_LARGE',
      })
    if (!(await this.#fill(4 + len))) throw closedEarly(4 + len, this.#buffered)
    this.#take(4)
    return exactArrayBuffer(this.#take(len))
  }

  /** Resolves once the kernel has taken every byte. */
  write(data) {
    return new Promise((resolve, reject) => this.#sock.write(bytesOf(data), (e) => (e ? reject(e) : resolve())))
  }

  writev(parts) {
    return this.write(Buffer.concat(parts.map(bytesOf)))
  }

  /** A u32 big-endian length, then the bytes (of all parts, for an array). */
  writeFrame(data) {
    const parts = (Array.isArray(data) ? data : [data]).map(bytesOf)
    const header = Buffer.alloc(4)
    header.writeUInt32BE(parts.reduce((n, p) => n + p.length, 0))
    const done = new Promise((resolve, reject) => {
      this.#sock.cork()
      this.#sock.write(header)
      for (let i = 0; i < parts.length - 1; i++) this.#sock.write(parts[i])
      this.#sock.write(parts[parts.length - 1], (e) => (e ? reject(e) : resolve()))
      this.#sock.uncork()
    })
    return done
  }

  /** Half-close after pending writes. */
  end() {
    return new Promise((resolve, reject) => this.#sock.end((e) => (e ? reject(e) : resolve())))
  }

  close() {
    this.#sock.destroy()
  }
  ref() {
    this.#sock.ref()
  }
  unref() {
    this.#sock.unref()
  }
}

class Server {
  #server
  constructor(server) {
    this.#server = server
  }
  get port() {
    return this.#server.address().port
  }
  get host() {
    return this.#server.address().address
  }
  /** Stops listening; resolves once the connections it accepted are closed too (Node's semantics). */
  close() {
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }
  ref() {
    this.#server.ref()
  }
  unref() {
    this.#server.unref()
  }
}

/** @returns {Promise<Socket>} */
function connect({ host = 'localhost', port, noDelay = false, allowHalfOpen = false } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, noDelay, allowHalfOpen })
    sock.once('error', reject)
    sock.once('connect', () => {
      sock.off('error', reject)
      resolve(new Socket(sock))
    })
  })
}

/** @returns {Promise<Server>} */
function listen({ host, port = 0, backlog, noDelay = false, allowHalfOpen = false } = {}, onConnection) {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay, allowHalfOpen }, (sock) => onConnection(new Socket(sock)))
    server.once('error', reject)
    server.listen({ host, port, backlog }, () => {
      server.off('error', reject)
      resolve(new Server(server))
    })
  })
}

module.exports = { connect, listen, Socket, Server }
