// @ts-check
'use strict'
// WebSocket: the connection (send batching, events, topics, streams) in front of src/ws/, and
// `connectWebSocket()`. A server's upgrades and options are lib/ws-server.js's; the options
// both share, lib/ws-options.js's. No I/O here.

const binding = require('../binding.js')
const { toPart, toHeldPart, held } = require('./bytes')
const { invalidType, invalidValue, outOfRange, closedError, invalidState } = require('./errors')
const { pullStream, sinkStream } = require('./streams')
const { optionNames, checkObject, checkBool, checkSignal, headerList, parseUrl, withSignal } = require('./args')
const { requestContext, TLS_CLIENT_KEYS } = require('./tls')
const { CONNECTION_KEYS, connectionOptions, protocolList } = require('./ws-options')

/** @typedef {import('../binding.js').NativeWebSocket} NativeWebSocket */
/** @typedef {import('../binding.js').WsOptions} WsOptions */
/** @typedef {string | ArrayBuffer | Buffer | Blob} Message A message, binary ones as `binaryType` makes them */
/** @typedef {{ method: string, url: string, path: string, headers: Record<string, string> }} UpgradeRequest */
/**
 * A server's `websocket` handlers (a client has none; lib/ws-server.js checks them).
 * @typedef {object} Handlers
 * @property {(ws: WebSocket, req: UpgradeRequest) => void} [open]
 * @property {(ws: WebSocket, message: Message) => void} [message]
 * @property {(ws: WebSocket, code: number, reason: string) => void} [close]
 * @property {(ws: WebSocket, data: ArrayBuffer) => void} [pong]
 */

/** The names of connectWebSocket's options. */
const CLIENT_KEYS = optionNames(CONNECTION_KEYS, TLS_CLIENT_KEYS, ['headers', 'signal', 'protocols'])
/** The names of `send()`'s options. */
const SEND_KEYS = optionNames(['compress'])
const CONNECTING = 0
const OPEN = 1
const CLOSING = 2
const CLOSED = 3
const BINARY_TYPES = ['arraybuffer', 'nodebuffer', 'blob']

// Close codes that end `readable` (and `writable.close()`) normally: normal closure, going
// away, none given. Any other ends them with an error.
const NORMAL_CLOSE = new Set([1000, 1001, 1005])
// The code `readable.cancel(reason)` and `writable.abort(reason)` close with when the reason is
// an error: the peer learns the stream failed ("internal error", RFC 6455 7.4.1).
const FAILED_CLOSE = 1011
// Messages an async iterator may have waiting before reading pauses.
const INBOX_HIGH = 1024

const deliver = Symbol('deliver')
const ended = Symbol('ended')
const flushNow = Symbol('flushNow')
const ponged = Symbol('ponged')
const opened = Symbol('opened')

// Payloads of up to COPY_IN bytes are copied at the call, as the typings promise (the caller may
// reuse its memory at once): into a scratch area shared by this thread's connections. The flush
// hands them to Rust, which copies payloads this small into its frames (src/bytes/ `COPY_IN`),
// so the area is reused as soon as no unflushed batch refers to it. Larger ones are held.
const COPY_IN = binding.COPY_IN
const SCRATCH = 256 * 1024
/** @type {Uint8Array | null} */
let scratch = null
let scratchUsed = 0
let scratchUsers = 0

/**
 * A copy of the small `view` in the scratch area.
 * @param {ArrayBufferView} view
 */
function copySmall(view) {
  const n = view.byteLength
  let area = scratch
  if (area === null || scratchUsed + n > SCRATCH) {
    // Batches still holding views of a full area keep it alive; new copies go to a fresh one.
    area = scratch = new Uint8Array(SCRATCH)
    scratchUsed = 0
  }
  area.set(view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, n), scratchUsed)
  const copy = area.subarray(scratchUsed, scratchUsed + n)
  scratchUsed += n
  return copy
}

// Connections with messages not handed to Rust yet: a broadcast first hands theirs over, so that
// every connection's messages leave in call order.
/** @type {Set<WebSocket>} */
const unflushed = new Set()

/** Hands every connection's pending messages to Rust (before a broadcast queues its frames). */
function flushPending() {
  for (const ws of unflushed) ws[flushNow]()
}

// Connections whose server has `publish` frames queued by them this turn: sent at its end.
/** @type {Set<NativeWebSocket>} */
const published = new Set()
const flushPublished = () => {
  for (const native of published) native.flushPublished()
  published.clear()
}

/**
 * A topic name.
 * @param {unknown} topic
 * @returns {string}
 */
function checkTopic(topic) {
  if (typeof topic !== 'string') throw invalidType('topic', 'of type string', topic)
  return topic
}

// Open connections by id; events for an id not registered yet wait in `early` (a
// connection's first messages can be dispatched before its promise's reactions run).
/** @type {Map<number, WebSocket>} */
const open = new Map()
/** @typedef {['m', Message[]] | ['c', number, string]} Early */
/** @type {Map<number, Early[]>} */
const early = new Map()

binding.setWebSocketCallbacks(
  (id, messages, last) => {
    const ws = open.get(id)
    if (ws === undefined) early.set(id, [...(early.get(id) ?? []), ['m', messages]])
    else {
      ws[deliver](messages)
      // The connection ends after these: what its handlers sent goes out before the close frame.
      if (last) ws[flushNow]()
    }
  },
  (id, code, reason) => {
    const ws = open.get(id)
    open.delete(id)
    if (ws !== undefined) ws[ended](code, reason)
    else early.set(id, [...(early.get(id) ?? []), ['c', code, reason]])
  },
  (id, payload) => open.get(id)?.[ponged](payload),
)

/**
 * The close code of a cancel or abort: 1000 without a reason or for an `AbortError` (a consumer
 * that stopped: a Node stream destroyed without an error gives one), 1011 for any other.
 * @param {unknown} reason
 */
function closeCodeFor(reason) {
  if (reason === undefined || reason === null) return 1000
  return /** @type {{ name?: unknown }} */ (reason).name === 'AbortError' ? 1000 : FAILED_CLOSE
}

/**
 * What `readable` and `writable.close()` fail with after a close that is not normal.
 * @param {number} code
 * @param {string} reason
 */
function abnormalClose(code, reason) {
  const err = closedError('WebSocket')
  err.message = `The WebSocket closed with code ${code}${reason === '' ? '' : ` (${reason})`}`
  return Object.assign(err, { closeCode: code, reason })
}

/**
 * @param {string} what
 * @param {unknown} err
 */
function report(what, err) {
  console.error(`abio: a websocket ${what} handler threw:`, err)
}

/**
 * The `close` event: `code`, `reason` and `wasClean`, as the browser's `CloseEvent` (Node's own
 * from Node 23).
 */
const CloseEvent =
  /** @type {{ CloseEvent?: typeof Event }} */ (globalThis).CloseEvent ??
  class CloseEvent extends Event {
    #code
    #reason
    #wasClean
    /**
     * @param {string} type
     * @param {{ code?: number, reason?: string, wasClean?: boolean }} [init]
     */
    constructor(type, init = {}) {
      super(type)
      this.#code = init.code ?? 0
      this.#reason = init.reason ?? ''
      this.#wasClean = init.wasClean ?? false
    }
    get code() {
      return this.#code
    }
    get reason() {
      return this.#reason
    }
    get wasClean() {
      return this.#wasClean
    }
  }

/** A WebSocket connection: one side of a server's upgrade, or a client's. */
class WebSocket extends EventTarget {
  static CONNECTING = CONNECTING
  static OPEN = OPEN
  static CLOSING = CLOSING
  static CLOSED = CLOSED
  /** @type {NativeWebSocket} */
  #native
  /** @type {number} */
  #id
  /** @type {number} */
  #limit
  /** @type {number} */
  #maskBytes
  #client
  /** @type {Handlers} */
  #handlers
  // This microtask turn's messages, not handed to Rust yet, and their bytes.
  /** @type {import('./bytes').Part[]} */
  #batch = []
  // The indices in #batch of messages sent with `compress: false`.
  /** @type {number[] | null} */
  #plain = null
  #queued = 0
  // Whether #batch holds copies in the scratch area.
  #scratch = false
  // What Rust had queued after the last hand-over (it only shrinks until the next).
  #snapshot = 0
  #flushQueued = false
  #closed = false
  #closing = false
  /** @type {Promise<{ code: number, reason: string }>} */
  #closedPromise
  /** @type {(closed: { code: number, reason: string }) => void} */
  #resolveClosed = () => {}
  /** @type {{ code: number, reason: string } | undefined} */
  #closeInfo
  // The web streams, made on first access.
  /** @type {ReadableStream<Message> | undefined} */
  #readable
  /** @type {WritableStream<unknown> | undefined} */
  #writable
  // For async iteration: messages not taken yet, and the consumers waiting for one.
  /** @type {Message[]} */
  #inbox = []
  /** @type {Array<(value?: unknown) => void>} */
  #waiting = []
  #paused = false
  // Messages go to 'message' listeners (a listener was added, or `onmessage` set) instead of the
  // queue the async iterator reads.
  #listened = false
  /** @type {'arraybuffer' | 'nodebuffer' | 'blob'} */
  #binaryType = 'arraybuffer'
  /** @type {Record<string, ((event: Event) => void) | null>} */
  #on = { open: null, message: null, close: null, error: null }
  // A client's events until its `open` event: code after `await connectWebSocket()` sets its
  // listeners first, so nothing that came meanwhile (a greeting, even the close) is missed.
  /** @type {{ messages: Message[], end: [number, string] | undefined } | null} */
  #held = null
  /**
   * What the server's `upgrade` hook attached (any value; yours to set).
   * @type {unknown}
   */
  data = undefined
  // The messages of one turn of the event loop leave together: the flush runs in its check
  // phase (setImmediate), after every I/O callback of the turn and their microtasks, so an
  // echo loop over a read's messages (even through `for await`) answers in one sendmsg.
  #flushTask = () => {
    this.#flushQueued = false
    this.#flush()
  }

  /**
   * @internal Made by `serve({ websocket })` and `connectWebSocket()`.
   * @param {NativeWebSocket} native
   * @param {number} limit
   * @param {Handlers | undefined} handlers
   */
  constructor(native, limit, handlers, client = false) {
    if (!(native instanceof binding.NativeWebSocket))
      throw new TypeError('Illegal constructor: use abio.connectWebSocket() or serve({ websocket })')
    super()
    this.#native = native
    this.#id = native.id
    this.#limit = limit
    this.#maskBytes = client ? 4 : 0
    this.#client = client
    if (client) this.#held = { messages: [], end: undefined }
    this.#handlers = handlers ?? {}
    this.#closedPromise = new Promise((resolve) => (this.#resolveClosed = resolve))
    open.set(this.#id, this)
    const before = early.get(this.#id)
    if (before !== undefined) {
      early.delete(this.#id)
      open.delete(this.#id)
      for (const e of before) {
        if (e[0] === 'm') this[deliver](e[1])
        else this[ended](e[1], e[2])
      }
      if (!this.#closed) open.set(this.#id, this)
    }
  }

  /** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3), as the browser's. */
  get readyState() {
    return this.#closed ? CLOSED : this.#closing ? CLOSING : OPEN
  }

  /** The subprotocol agreed in the handshake, or `''`. */
  get protocol() {
    return this.#native.protocol
  }

  /** The extensions agreed in the handshake (`Sec-WebSocket-Extensions`), or `''`. */
  get extensions() {
    return this.#native.extensions
  }

  /** The peer's IP address. */
  get remoteAddress() {
    return this.#native.remoteAddress
  }

  /** What binary messages are made into: `'arraybuffer'` (the default), `'nodebuffer'` or `'blob'`. */
  get binaryType() {
    return this.#binaryType
  }

  set binaryType(value) {
    if (!BINARY_TYPES.includes(value))
      throw invalidValue('binaryType', "must be 'arraybuffer', 'nodebuffer' or 'blob'", value)
    this.#binaryType = value
  }

  /**
   * Queues `data` (a string as text, bytes as binary); the messages of one turn of the event loop
   * leave together. Returns false when more than `backpressureLimit` bytes are waiting (the
   * message is queued anyway); after the connection closed, drops it and returns false.
   * @param {unknown} data
   * @param {unknown} [options]
   */
  send(data, options) {
    const plain = options !== undefined && checkSendOptions(options)
    let part = toPart(data, 'data')
    if (this.#closing || this.#closed) return false
    const len = typeof part === 'string' ? Buffer.byteLength(part) : part.byteLength
    if (typeof part !== 'string') {
      // Small: copied now (whatever buffer it is over). Large: held until sent.
      if (len > COPY_IN) part = held(part)
      else {
        part = copySmall(part)
        if (!this.#scratch) {
          this.#scratch = true
          scratchUsers++
        }
      }
    }
    if (this.#batch.length === 0) unflushed.add(this)
    if (plain) (this.#plain ??= []).push(this.#batch.length)
    this.#batch.push(part)
    // As Rust counts it: the frame, header included (a client's has a 4-byte mask too).
    this.#queued += len + (len < 126 ? 2 : len < 65536 ? 4 : 10) + this.#maskBytes
    if (!this.#flushQueued) {
      this.#flushQueued = true
      setImmediate(this.#flushTask)
    }
    if (this.#snapshot + this.#queued <= this.#limit) return true
    // What Rust had may have drained since: look again (only when it would say false).
    this.#snapshot = this.#native.bufferedAmount
    return this.#snapshot + this.#queued <= this.#limit
  }

  #flush() {
    if (this.#batch.length === 0) return
    const batch = this.#batch
    const plain = this.#plain ?? undefined
    this.#dropBatch()
    this.#snapshot = this.#native.sendBatch(batch, plain)
  }

  /** @internal Hands this turn's messages to Rust now (a broadcast is about to queue). */
  [flushNow]() {
    this.#flush()
  }

  /** Forgets the pending messages (sent, or the connection is gone) and their scratch copies. */
  #dropBatch() {
    this.#batch = []
    this.#plain = null
    this.#queued = 0
    unflushed.delete(this)
    if (this.#scratch) {
      this.#scratch = false
      if (--scratchUsers === 0) scratchUsed = 0
    }
  }

  /** Bytes queued and not yet handed to the kernel. */
  get bufferedAmount() {
    return this.#native.bufferedAmount + this.#queued
  }

  /** Resolves once every queued message has been handed to the kernel (or the connection is gone). */
  drained() {
    this.#flush()
    return this.#native.drained()
  }

  /**
   * Starts the closing handshake; `closed` settles when it is over.
   * @param {unknown} [code]
   * @param {unknown} [reason]
   */
  close(code, reason) {
    const c = code === undefined ? 1000 : code
    if (typeof c !== 'number' || !Number.isInteger(c) || !(c === 1000 || (c >= 3000 && c <= 4999)))
      throw outOfRange('code', '1000 or an integer >= 3000 and <= 4999', c)
    const r = reason === undefined ? '' : reason
    if (typeof r !== 'string') throw invalidType('reason', 'of type string', r)
    if (Buffer.byteLength(r) > 123) throw outOfRange('reason', 'at most 123 bytes in UTF-8', r)
    this.#closeWith(c, r)
  }

  /**
   * Sends a ping (at most 125 bytes of payload); the peer's pong comes as a `pong` event (and
   * the server's `pong` handler).
   * @param {unknown} [data]
   */
  ping(data) {
    const part = data === undefined ? '' : toPart(data, 'data')
    const len = typeof part === 'string' ? Buffer.byteLength(part) : part.byteLength
    if (len > 125) throw outOfRange('data', 'at most 125 bytes', len)
    if (this.#closing || this.#closed) return
    // Behind the messages sent before it.
    this.#flush()
    this.#native.ping(part)
  }

  /**
   * Subscribes this (server) connection to `topic`, for `publish`; it leaves its topics when it
   * closes.
   * @param {unknown} topic
   */
  subscribe(topic) {
    this.#server('subscribe')
    this.#native.subscribe(checkTopic(topic))
  }

  /**
   * Unsubscribes from `topic`.
   * @param {unknown} topic
   */
  unsubscribe(topic) {
    this.#server('unsubscribe')
    this.#native.unsubscribe(checkTopic(topic))
  }

  /**
   * Whether this connection is subscribed to `topic`.
   * @param {unknown} topic
   */
  isSubscribed(topic) {
    return this.#native.isSubscribed(checkTopic(topic))
  }

  /** The topics this connection is subscribed to. */
  get subscriptions() {
    return this.#native.subscriptions
  }

  /**
   * Sends `data` to every subscriber of `topic` but this connection, framed once; returns how
   * many it was queued for (a subscriber over its `backpressureLimit` is skipped). Leaves in
   * call order with `send`, at the end of the turn.
   * @param {unknown} topic
   * @param {unknown} data
   */
  publish(topic, data) {
    this.#server('publish')
    const t = checkTopic(topic)
    const part = toHeldPart(data, 'data')
    flushPending()
    const n = this.#native.publish(t, [part])
    if (n !== 0) {
      if (published.size === 0) setImmediate(flushPublished)
      published.add(this.#native)
    }
    return n
  }

  /**
   * Throws when this is a client's connection (topics are a server's).
   * @param {string} what
   */
  #server(what) {
    if (this.#client) throw invalidState(`${what}() is for a server's WebSocket connections: a client has no topics`)
  }

  /** Ends the connection at once, without the closing handshake (the peer sees it vanish: 1006). */
  terminate() {
    // What was held for the open event is reported first: the close comes before this returns.
    this.#release()
    if (this.#closed) return
    this.#closing = true
    this.#dropBatch()
    this.#native.terminate()
  }

  /** Settles with `{ code, reason }` when the connection is gone. */
  get closed() {
    return this.#closedPromise
  }

  /**
   * The next message not taken yet, or `undefined` once the connection is gone.
   * @returns {Promise<Message | undefined>}
   */
  async #take() {
    while (true) {
      if (this.#inbox.length !== 0) {
        const m = this.#inbox.shift()
        if (this.#paused && this.#inbox.length < INBOX_HIGH / 2) {
          this.#paused = false
          this.#native.pause(false)
        }
        return m
      }
      if (this.#closed) return undefined
      await new Promise((resolve) => this.#waiting.push(resolve))
    }
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      const m = await this.#take()
      if (m === undefined) return
      yield m
    }
  }

  /**
   * The messages, as a WHATWG ReadableStream (taken from the queue the async iterator reads):
   * ends at a normal close, errors at any other.
   */
  get readable() {
    this.#readable ??= pullStream(
      async () => {
        const m = await this.#take()
        if (m === undefined) this.#checkClose()
        return m
      },
      (reason) => this.#closeWith(closeCodeFor(reason)),
    )
    return this.#readable
  }

  /**
   * A WHATWG WritableStream of messages: each chunk is `send()`, waiting for `drained()` when
   * over `backpressureLimit` or held; close() closes with 1000, abort(error) with 1011.
   */
  get writable() {
    this.#writable ??= sinkStream(
      async (chunk) => {
        if (this.#closing || this.#closed) throw closedError('WebSocket')
        const ok = this.send(chunk)
        // A held payload (over COPY_IN) is the caller's memory until sent: the chunk is done then.
        const held =
          typeof chunk === 'object' && chunk !== null && /** @type {ArrayBufferView} */ (chunk).byteLength > COPY_IN
        if (!ok || held) await this.drained()
      },
      async () => {
        this.#closeWith(1000)
        await this.#closedPromise
        this.#checkClose()
      },
      (reason) => this.#closeWith(closeCodeFor(reason)),
    )
    return this.#writable
  }

  /** Throws what the streams end with if the connection closed other than normally. */
  #checkClose() {
    const info = this.#closeInfo
    if (info !== undefined && !NORMAL_CLOSE.has(info.code)) throw abnormalClose(info.code, info.reason)
  }

  /**
   * Starts the closing handshake with `code` and `reason` (checked by the caller), unless
   * closing already.
   * @param {number} code
   */
  #closeWith(code, reason = '') {
    if (this.#closing || this.#closed) return
    this.#closing = true
    this.#flush()
    this.#native.close(code, reason)
  }

  /**
   * @internal Messages of one read.
   * @param {Message[]} received
   */
  [deliver](received) {
    if (this.#held !== null) {
      for (const m of received) this.#held.messages.push(m)
      return
    }
    const messages = this.#binaryType === 'arraybuffer' ? received : received.map((m) => this.#binary(m))
    const onMessage = this.#handlers.message
    if (this.#listened) {
      for (const data of messages) this.dispatchEvent(new MessageEvent('message', { data }))
      if (onMessage === undefined) return
    }
    if (onMessage !== undefined) {
      for (const m of messages) {
        try {
          onMessage(this, m)
        } catch (err) {
          report('message', err)
        }
      }
      return
    }
    for (const m of messages) this.#inbox.push(m)
    if (!this.#paused && this.#inbox.length >= INBOX_HIGH) {
      this.#paused = true
      this.#native.pause(true)
    }
    this.#wake()
  }

  /**
   * @internal The connection is gone.
   * @param {number} code
   * @param {string} reason
   */
  [ended](code, reason) {
    if (this.#held !== null) {
      this.#held.end = [code, reason]
      return
    }
    this.#closed = true
    this.#closeInfo = { code, reason }
    this.#dropBatch()
    this.#resolveClosed({ code, reason })
    this.#wake()
    const onClose = this.#handlers.close
    if (onClose !== undefined) {
      try {
        onClose(this, code, reason)
      } catch (err) {
        report('close', err)
      }
    }
    // As a browser's: an error first when the connection failed without a closing handshake.
    if (code === 1006) this.dispatchEvent(new Event('error'))
    this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean: code !== 1006 }))
  }

  /**
   * @internal A pong came.
   * @param {ArrayBuffer} data
   */
  [ponged](data) {
    const onPong = this.#handlers.pong
    if (onPong !== undefined) {
      try {
        onPong(this, data)
      } catch (err) {
        report('pong', err)
      }
    }
    this.dispatchEvent(new MessageEvent('pong', { data }))
  }

  /**
   * A message from Rust (text, or an exact `ArrayBuffer`) as `binaryType` asks.
   * @param {Message} m
   * @returns {Message}
   */
  #binary(m) {
    if (!(m instanceof ArrayBuffer)) return m
    return this.#binaryType === 'nodebuffer' ? Buffer.from(m) : new Blob([m])
  }

  /**
   * Also takes messages from the queue the async iterator reads, for a `message` listener.
   * @param {string} type
   * @param {Parameters<EventTarget['addEventListener']>[1]} listener
   * @param {Parameters<EventTarget['addEventListener']>[2]} [options]
   */
  addEventListener(type, listener, options) {
    if (type === 'message' && listener !== null) this.#listened = true
    super.addEventListener(type, listener, options)
  }

  /** Called on `open` (a client's, once the connection is open). */
  get onopen() {
    return this.#on.open
  }
  set onopen(f) {
    this.#setOn('open', f)
  }
  /** Called with each message as a `MessageEvent` (instead of the async iterator's queue). */
  get onmessage() {
    return this.#on.message
  }
  set onmessage(f) {
    this.#setOn('message', f)
  }
  /** Called with a `CloseEvent` when the connection is gone. */
  get onclose() {
    return this.#on.close
  }
  set onclose(f) {
    this.#setOn('close', f)
  }
  /** Called when the connection failed (before `close`, whose code is then 1006). */
  get onerror() {
    return this.#on.error
  }
  set onerror(f) {
    this.#setOn('error', f)
  }

  /**
   * An `on<type>` handler: one listener that calls whichever function is set now.
   * @param {string} type
   * @param {unknown} f
   */
  #setOn(type, f) {
    const handler = typeof f === 'function' ? /** @type {(event: Event) => void} */ (f) : null
    const had = this.#on[type] !== null
    this.#on[type] = handler
    if (!had && handler !== null)
      this.addEventListener(type, (/** @type {Event} */ event) => this.#on[type]?.call(this, event))
  }

  /** @internal A client's `open` event, once its promise has settled. */
  [opened]() {
    setImmediate(() => this.#release())
  }

  /** A client's `open` event, then the events held until it (once). */
  #release() {
    const held = this.#held
    if (held === null) return
    this.#held = null
    this.dispatchEvent(new Event('open'))
    if (held.messages.length !== 0) this[deliver](held.messages)
    if (held.end !== undefined) this[ended](...held.end)
  }

  #wake() {
    const waiting = this.#waiting
    this.#waiting = []
    for (const resolve of waiting) resolve()
  }
}

for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSING, CLOSED }))
  Object.defineProperty(WebSocket.prototype, name, { value, enumerable: true })

/**
 * `send()`'s options: whether the message goes uncompressed (`compress: false`).
 * @param {unknown} options
 */
function checkSendOptions(options) {
  const o = checkObject(options, 'options', SEND_KEYS)
  return o !== undefined && o.compress !== undefined && !checkBool(o.compress, 'options.compress')
}

/**
 * `ws://host:port/path?query` (or `wss:`) as [host, port, target, secure].
 * @param {unknown} url
 * @returns {[host: string, port: number, target: string, secure: boolean]}
 */
function checkUrl(url) {
  const u = parseUrl(url)
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:')
    throw invalidValue('url', `has the scheme '${u.protocol}': only ws: and wss: URLs are supported`, u.href)
  const secure = u.protocol === 'wss:'
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  return [host, u.port === '' ? (secure ? 443 : 80) : Number(u.port), `${u.pathname}${u.search}`, secure]
}

/**
 * @param {unknown} url
 * @param {unknown} [options]
 */
function connectWebSocket(url, options) {
  const [host, port, target, secure] = checkUrl(url)
  const o = checkObject(options, 'options', CLIENT_KEYS) ?? {}
  const connection = connectionOptions(o, 'options')
  const tls = secure ? requestContext(o) : undefined
  const flat = headerList(o.headers, 'options.headers')
  const signal = checkSignal(o.signal, 'options.signal')
  const protocols = o.protocols === undefined ? [] : protocolList(o.protocols, 'options.protocols')
  /** @type {WebSocket | undefined} */
  let ws
  /** @param {NativeWebSocket} native */
  const made = (native) => {
    ws = new WebSocket(native, connection.backpressureLimit, undefined, true)
    ws[opened]()
    return ws
  }
  return withSignal(signal, (token) =>
    binding.connectWebSocket(host, port, target, flat, protocols, connection, token, secure, tls).then(made),
  ).catch((err) => {
    // Aborted just as it opened: the connection nobody will get is closed, not leaked.
    if (ws !== undefined) ws.close(1000, 'aborted')
    throw err
  })
}

module.exports = { WebSocket, connectWebSocket, flushPending, report }
