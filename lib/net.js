// @ts-check
'use strict'
// TCP and Unix sockets: argument checks, AbortSignal wiring and write batching in front of
// src/tcp/. No I/O here.

const binding = require('../binding.js')
const { toHeldData, toHeldPart } = require('./bytes')
const { pullStream, sinkStream } = require('./streams')
const { serverContext, connectContext, handshakeTimeout } = require('./tls')
const { invalidType, invalidValue, outOfRange, abortError, closedError } = require('./errors')
const {
  checkPath,
  optionNames,
  checkObject,
  checkBool,
  checkIndex,
  checkPort,
  checkSignal,
  checkArray,
  isThenable,
  withSignal,
} = require('./args')

// Read kinds and frame limits as src/kinds.rs defines them.
const CHUNK = binding.ReadKind.Chunk
const EXACTLY = binding.ReadKind.Exactly
const FRAME = binding.ReadKind.Frame
/** @typedef {import('../binding.js').NativeSocket} NativeSocket */
/** @typedef {import('./bytes').Part} Part */

const MAX_FRAME = binding.MAX_FRAME
const DEFAULT_MAX_FRAME = binding.DEFAULT_MAX_FRAME

// Sockets whose writes were handed to Rust and are not all settled, by id: Rust tells which
// settled through one callback, in order (see src/tcp/ `report_writes`).
/** @type {Map<number, Socket>} */
const unsettled = new Map()
const settle = Symbol('settle')
/** @type {(id: number, ok: number, failed: number, error: unknown) => void} */
const onWrites = (id, ok, failed, error) => {
  const socket = unsettled.get(id)
  if (socket !== undefined) socket[settle](ok, failed, error)
}
binding.setWriteCallback(onWrites)
const DEFAULT_MAX_BYTES = 1024 * 1024

/** The names of SocketOptions, ConnectOptions and ListenOptions. */
const SOCKET_KEYS = ['noDelay', 'keepAlive', 'allowHalfOpen']
const CONNECT_KEYS = optionNames(SOCKET_KEYS, ['host', 'port', 'path', 'timeout', 'signal', 'tls'])
const LISTEN_KEYS = optionNames(SOCKET_KEYS, [
  'host',
  'port',
  'path',
  'backlog',
  'reusePort',
  'tls',
  'handshakeTimeout',
  'signal',
])
/** The names of the options of a socket's sendFile, read and readFrame. */
const SEND_FILE_KEYS = optionNames(['offset', 'length', 'onProgress', 'signal'])
const READ_KEYS = optionNames(['maxBytes'])
const READ_FRAME_KEYS = optionNames(['maxSize'])

/**
 * @param {unknown} value
 * @param {string} name
 * @returns {string | undefined}
 */
function checkHost(value, name) {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw invalidType(name, 'of type string', value)
  return value
}

/**
 * `{ host, port, path }` of connect/listen: a Unix socket path, or a TCP host and port.
 * @param {Record<string, unknown>} o
 * @param {string | undefined} defaultHost
 * @param {number | undefined} defaultPort
 * @returns {[host: string | undefined, port: number, path: string | undefined]}
 */
function endpoint(o, defaultHost, defaultPort) {
  if (o.path !== undefined) {
    if (o.port !== undefined || o.host !== undefined)
      throw invalidValue('options', 'must give either path or host/port, not both', o)
    return [undefined, 0, checkPath(o.path, 'options.path')]
  }
  return [checkHost(o.host, 'options.host') ?? defaultHost, checkPort(o.port, 'options.port', defaultPort), undefined]
}

/**
 * @param {Record<string, unknown>} o
 * @returns {import('../binding.js').SocketOptions}
 */
function socketOptions(o) {
  return {
    // Writes already leave in batches (one sendmsg per microtask turn), so Nagle's
    // algorithm only adds delay: on by default, as in Bun and Deno (and Node's http).
    noDelay: o.noDelay === undefined ? true : checkBool(o.noDelay, 'options.noDelay'),
    keepAlive: checkBool(o.keepAlive, 'options.keepAlive'),
    allowHalfOpen: checkBool(o.allowHalfOpen, 'options.allowHalfOpen'),
  }
}

/**
 * Bytes of a frame's parts, to refuse one over the u32 length before queuing it.
 * @param {Part | Part[]} data
 */
function frameLength(data) {
  if (!Array.isArray(data)) return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
  let n = 0
  for (const p of data) n += typeof p === 'string' ? Buffer.byteLength(p) : p.byteLength
  return n
}

/** @param {number} len */
function frameTooLarge(len) {
  const err = new RangeError(`A frame of ${len} bytes is over the limit of ${MAX_FRAME}`)
  return Object.assign(err, { code: 'ABIO_ERR_FRAME_TOO_LARGE' })
}

/** A connected TCP or Unix socket, from `connect()` or a server's `onConnection`. */
class Socket {
  /** @type {NativeSocket} */
  #native
  /** @type {number} */
  #id
  // The writes of this microtask turn, not handed to Rust yet (all frames, or all not).
  /** @type {Array<Part | Part[]>} */
  #batch = []
  #framed = false
  #flushQueued = false
  // resolve, reject of every write not settled yet, in call order; from #head on.
  /** @type {Array<(value: unknown) => void>} */
  #settlers = []
  #head = 0
  // Of those, how many Rust has (the rest are in #batch).
  #handed = 0
  // The web streams, made on first access.
  /** @type {ReadableStream<Uint8Array> | undefined} */
  #readable
  /** @type {WritableStream<unknown> | undefined} */
  #writable
  #flushTask = () => {
    this.#flushQueued = false
    this.#flush()
  }

  /**
   * @internal Use `connect()` or `listen()`.
   * @param {NativeSocket} native
   */
  constructor(native) {
    if (!(native instanceof binding.NativeSocket)) throw new TypeError('Illegal constructor: use abio.connect()')
    this.#native = native
    this.#id = native.id
  }

  /**
   * Writes made in one microtask turn leave together: one call into Rust, one sendmsg.
   * @param {Part | Part[]} item
   * @param {boolean} framed
   * @returns {Promise<void>}
   */
  #push(item, framed) {
    if (this.#batch.length !== 0 && this.#framed !== framed) this.#flush()
    this.#framed = framed
    this.#batch.push(item)
    const settlers = this.#settlers
    const promise = new Promise((resolve, reject) => {
      settlers.push(resolve, reject)
    })
    if (!this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(this.#flushTask)
    }
    return promise
  }

  /** Hands the turn's writes to Rust (before anything else is queued there: order). */
  #flush() {
    const batch = this.#batch
    if (batch.length === 0) return
    this.#batch = []
    this.#handed += batch.length
    unsettled.set(this.#id, this)
    this.#native.writeBatch(batch, this.#framed)
  }

  /**
   * @internal Rust settled the next `ok` writes, then failed `failed` with `error`.
   * @param {number} ok
   * @param {number} failed
   * @param {unknown} error
   */
  [settle](ok, failed, error) {
    const s = this.#settlers
    let i = this.#head
    for (const end = i + 2 * ok; i < end; i += 2) s[i](undefined)
    for (const end = i + 2 * failed; i < end; i += 2) s[i + 1](error)
    this.#handed -= ok + failed
    if (i === s.length) {
      this.#settlers = []
      this.#head = 0
    } else {
      this.#head = i
    }
    if (this.#handed === 0) unsettled.delete(this.#id)
  }

  /**
   * @param {unknown} data
   */
  write(data) {
    return this.#push(toHeldPart(data, 'data'), false)
  }

  /**
   * @param {unknown} parts
   */
  writev(parts) {
    checkArray(parts, 'parts')
    return this.#push(toHeldData(parts, 'parts'), false)
  }

  /**
   * @param {unknown} data
   */
  writeFrame(data) {
    const d = toHeldData(data, 'data')
    const len = frameLength(d)
    if (len > MAX_FRAME) return Promise.reject(frameTooLarge(len))
    return this.#push(d, true)
  }

  /**
   * @param {unknown} path
   * @param {unknown} [options]
   */
  sendFile(path, options) {
    const p = checkPath(path)
    const o = checkObject(options, 'options', SEND_FILE_KEYS) ?? {}
    const offset = checkIndex(o.offset, 'options.offset', 0)
    const length = checkIndex(o.length, 'options.length', -1)
    const onProgress = /** @type {((sent: number, total: number) => void) | undefined} */ (o.onProgress ?? undefined)
    if (onProgress !== undefined && typeof onProgress !== 'function')
      throw invalidType('options.onProgress', 'of type function', onProgress)
    const signal = checkSignal(o.signal, 'options.signal')
    this.#flush()
    return withSignal(signal, (token) => this.#native.sendFile(p, offset, length, onProgress, token ?? undefined))
  }

  /**
   * @param {unknown} [options]
   */
  read(options) {
    const o = checkObject(options, 'options', READ_KEYS)
    const max = o === undefined ? DEFAULT_MAX_BYTES : checkIndex(o.maxBytes, 'options.maxBytes', DEFAULT_MAX_BYTES)
    if (max < 1 || max > 2 ** 31 - 1) throw outOfRange('options.maxBytes', '>= 1 and <= 2^31 - 1', max)
    return this.#native.read(CHUNK, max)
  }

  /**
   * @param {unknown} n
   */
  readExactly(n) {
    const len = checkIndex(n, 'n')
    if (len === undefined) throw invalidType('n', 'of type number', n)
    return this.#native.read(EXACTLY, len)
  }

  /**
   * @param {unknown} [options]
   */
  readFrame(options) {
    const o = checkObject(options, 'options', READ_FRAME_KEYS)
    const max = o === undefined ? DEFAULT_MAX_FRAME : checkIndex(o.maxSize, 'options.maxSize', DEFAULT_MAX_FRAME)
    if (max > MAX_FRAME) throw outOfRange('options.maxSize', '<= 2^32 - 1 (the u32 length field)', max)
    return this.#native.read(FRAME, max)
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      const chunk = await this.read()
      if (chunk === null) return
      yield chunk
    }
  }

  /**
   * The bytes that arrive, as a WHATWG ReadableStream of `Uint8Array`s over the exact
   * `ArrayBuffer`s `read()` returns; one read per chunk a reader asks for.
   */
  get readable() {
    this.#readable ??= pullStream(
      () => this.read().then((ab) => (ab === null ? undefined : new Uint8Array(ab))),
      () => this.close(),
    )
    return this.#readable
  }

  /** A WHATWG WritableStream: chunks are `write()`n, close() is `end()`, abort() is `close()`. */
  get writable() {
    this.#writable ??= sinkStream(
      (chunk) => this.write(chunk),
      () => this.end(),
      () => this.close(),
    )
    return this.#writable
  }

  end() {
    this.#flush()
    return this.#native.end()
  }

  close() {
    // Writes of this turn not handed over yet fail as those Rust has do.
    const pending = this.#batch.length
    this.#batch = []
    this.#native.close()
    if (pending !== 0) {
      this.#handed += pending
      this[settle](0, pending, closedError())
    }
  }

  ref() {
    this.#native.ref()
    return this
  }

  unref() {
    this.#native.unref()
    return this
  }

  get closed() {
    return this.#native.closed
  }

  get remoteAddress() {
    return this.#native.remoteAddress
  }

  get remotePort() {
    return this.#native.remotePort
  }

  get remoteFamily() {
    return this.#native.remoteFamily
  }

  get localAddress() {
    return this.#native.localAddress
  }

  get localPort() {
    return this.#native.localPort
  }

  /** Whether the socket speaks TLS (`connect({ tls })`, `listen({ tls })`). */
  get encrypted() {
    return this.#native.tlsInfo() !== null
  }

  /** The ALPN protocol agreed, or `false` (as Node's `tls.TLSSocket`). */
  get alpnProtocol() {
    return this.#native.tlsInfo()?.alpnProtocol ?? false
  }

  /** `'TLSv1.3'` or `'TLSv1.2'` on a TLS socket, else `null` (as Node's `getProtocol()`). */
  getProtocol() {
    return this.#native.tlsInfo()?.protocol ?? null
  }

  [Symbol.asyncDispose]() {
    this.close()
    return Promise.resolve()
  }
}

/**
 * @param {unknown} options
 */
function connect(options) {
  const o = checkObject(options, 'options', CONNECT_KEYS)
  if (o === undefined) throw invalidType('options', 'an object', options)
  const [host, port, path] = endpoint(o, 'localhost', undefined)
  const opts = socketOptions(o)
  const timeout = checkIndex(o.timeout, 'options.timeout', 0)
  const signal = checkSignal(o.signal, 'options.signal')
  const tls = connectContext(o.tls)
  if (signal === undefined) {
    return binding.connect(host, port, path, opts, timeout, undefined, tls).then((native) => new Socket(native))
  }
  if (signal.aborted) return Promise.reject(abortError(signal.reason))
  const token = new binding.CancelToken()
  const onAbort = () => token.cancel()
  signal.addEventListener('abort', onAbort, { once: true })
  return binding.connect(host, port, path, opts, timeout, token, tls).then(
    (native) => {
      signal.removeEventListener('abort', onAbort)
      // Aborted after the connection was made: do not hand out a socket nobody expects.
      if (signal.aborted) {
        native.close()
        throw abortError(signal.reason)
      }
      return new Socket(native)
    },
    (err) => {
      signal.removeEventListener('abort', onAbort)
      throw signal.aborted ? abortError(signal.reason) : err
    },
  )
}

/** @typedef {import('../binding.js').NativeServer | import('../binding.js').NativeHttpServer} NativeListening */

/** @type {(server: Listening) => NativeListening} */
let nativeOf
/** @type {(server: Listening, signal: AbortSignal) => void} */
let watchSignal

/** What every listening server has: its address, close(), ref()/unref(). */
class Listening {
  /** @type {NativeListening} */
  #native
  // Removes the listener of the signal that closes this server (see `closeOnAbort`).
  /** @type {(() => void) | undefined} */
  #unwatch

  /** @param {NativeListening} native */
  constructor(native) {
    this.#native = native
  }

  static {
    /** The native half of a server, for the subclasses' own methods. */
    nativeOf = (server) => server.#native
    watchSignal = (server, signal) => {
      // Errors of a close nobody awaits have nowhere to go (Node's close() on abort drops them too).
      const onAbort = () => void server.close().catch(() => {})
      signal.addEventListener('abort', onAbort, { once: true })
      server.#unwatch = () => signal.removeEventListener('abort', onAbort)
    }
  }

  get port() {
    return this.#native.port
  }

  get host() {
    return this.#native.host
  }

  close() {
    // A closed server lets go of its signal (a long-lived one may outlive many servers).
    const unwatch = this.#unwatch
    if (unwatch !== undefined) {
      this.#unwatch = undefined
      unwatch()
    }
    return this.#native.close()
  }

  ref() {
    this.#native.ref()
    return this
  }

  unref() {
    this.#native.unref()
    return this
  }

  [Symbol.asyncDispose]() {
    return this.close()
  }
}

/**
 * `listen({ signal })`, `serve({ signal })`: closes `server` when `signal` aborts, as Node's
 * `server.listen({ signal })` does (the listening socket is closed, open connections stay).
 * An already aborted signal closes it at once, and the promise resolves once it is closed
 * (its port free again), with the server: Node's listen neither throws nor reports an error
 * then, it closes right away. Call it on the server the native listen resolved with, before
 * handing the server out; `close()` removes the signal's listener.
 * @template {Listening} S
 * @param {S} server
 * @param {AbortSignal | undefined} signal from `checkSignal(o.signal, 'options.signal')`
 * @returns {Promise<S>}
 */
function closeOnAbort(server, signal) {
  if (signal === undefined) return Promise.resolve(server)
  if (signal.aborted) return server.close().then(() => server)
  watchSignal(server, signal)
  return Promise.resolve(server)
}

/** A listening server, from `listen()`. */
class Server extends Listening {
  /**
   * @internal Use `listen()`.
   * @param {import('../binding.js').NativeServer} native
   */
  constructor(native) {
    if (!(native instanceof binding.NativeServer)) throw new TypeError('Illegal constructor: use abio.listen()')
    super(native)
  }
}

/**
 * An `onConnection` that threw or rejected: its socket is closed and the server goes on
 * accepting (as a fetch handler's failure is a 500, not the process's crash).
 * @param {Socket} socket
 * @param {unknown} err
 */
function handlerFailed(socket, err) {
  socket.close()
  console.error('abio: an onConnection handler threw or rejected; closed its socket:', err)
}

/**
 * @param {unknown} options
 * @param {unknown} onConnection
 */
function listen(options, onConnection) {
  const o = checkObject(options, 'options', LISTEN_KEYS) ?? {}
  if (typeof onConnection !== 'function') throw invalidType('onConnection', 'of type function', onConnection)
  const [host, port, path] = endpoint(o, undefined, 0)
  const backlog = checkIndex(o.backlog, 'options.backlog', 511)
  const reusePort = checkBool(o.reusePort, 'options.reusePort')
  const opts = socketOptions(o)
  const tls = serverContext(o.tls, 'options.tls', [])
  const timeout = handshakeTimeout(o.handshakeTimeout, 'options.handshakeTimeout')
  const signal = checkSignal(o.signal, 'options.signal')
  /** @param {NativeSocket} native */
  const accept = (native) => {
    // Accepted before the abort closed the listening socket, delivered after: dropped, as a
    // connection waiting in the backlog of a closed Node server is.
    if (signal !== undefined && signal.aborted) return native.close()
    const socket = new Socket(native)
    let result
    try {
      result = onConnection(socket)
    } catch (err) {
      return handlerFailed(socket, err)
    }
    if (isThenable(result)) Promise.resolve(result).catch((err) => handlerFailed(socket, err))
  }
  return binding
    .listen(host, port, path, Math.min(backlog, 65535), reusePort, opts, accept, tls, timeout)
    .then((native) => closeOnAbort(new Server(native), signal))
}

// Listening, nativeOf and closeOnAbort are for lib/http.js; index.js exports the rest.
module.exports = {
  connect,
  listen,
  Socket,
  Server,
  Listening,
  closeOnAbort,
  nativeOf: /** @param {Listening} server */ (server) => nativeOf(server),
}
