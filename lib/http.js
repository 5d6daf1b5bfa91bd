// @ts-check
'use strict'
// HTTP: argument checks in front of src/http/. No I/O here.

const { resolve } = require('node:path')
const { markAsUntransferable } = require('node:worker_threads')
const { isAnyArrayBuffer, isSharedArrayBuffer } = require('node:util/types')
const binding = require('../binding.js')
const { toHeldPart } = require('./bytes')
const { invalidType, invalidValue, outOfRange } = require('./errors')
const {
  checkObject,
  checkBool,
  checkIndex,
  checkPath,
  checkPort,
  checkSignal,
  headerList,
  isThenable,
  optionNames,
} = require('./args')
const { Listening, nativeOf, closeOnAbort } = require('./net')
const { serverContext, handshakeTimeout, HTTP1 } = require('./tls')
const { flushPending } = require('./ws')
const { serverOptions } = require('./ws-server')
const { ServeRequest, GlobalResponse, keptOf, installGlobals } = require('./web')

/** @typedef {import('../binding.js').NativeRequest} NativeRequest */

const SERVE_KEYS = optionNames([
  'host',
  'port',
  'routes',
  'fetch',
  'maxBodySize',
  'maxHeaderSize',
  'headersTimeout',
  'idleTimeout',
  'bodyTimeout',
  'reusePort',
  'websocket',
  'tls',
  'handshakeTimeout',
  'signal',
  'overrideGlobalObjects',
])
const RELOAD_KEYS = optionNames(['routes', 'tls'])
const ROUTE_KEYS = optionNames(['body', 'file', 'contentType', 'headers'])
const ANSWER_KEYS = optionNames(['status', 'headers', 'body'])
const FILE_KEYS = optionNames(['file'])

const OCTETS = 'application/octet-stream'
const TEXT = 'text/plain; charset=utf-8'

/**
 * Whether `value` is a plain object (`{ body }`, `{ file }`), not bytes.
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isShape(value) {
  return value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !isAnyArrayBuffer(value)
}

/**
 * `routes` as the route objects src/http/ takes: a body or a file (an absolute path), the
 * content type (undefined: the default), headers.
 * @param {unknown} routes
 * @param {string} name
 * @returns {import('../binding.js').RouteSpec[]}
 */
function routeTable(routes, name) {
  const o = checkObject(routes, name) ?? {}
  /** @type {import('../binding.js').RouteSpec[]} */
  const table = []
  for (const path of Object.keys(o)) {
    const at = `${name}['${path}']`
    if (!path.startsWith('/')) throw invalidValue(name, `must map paths that start with '/'`, path)
    const route = o[path]
    let body
    let file
    let type
    /** @type {string[]} */
    let extra = []
    if (isShape(route)) {
      checkObject(route, at, ROUTE_KEYS)
      if (route.file !== undefined) {
        if (route.body !== undefined) throw invalidValue(at, 'has both body and file', route)
        file = resolve(checkPath(route.file, `${at}.file`))
      } else {
        body = toHeldPart(route.body, `${at}.body`)
        type = typeof body === 'string' ? TEXT : OCTETS
      }
      if (route.contentType !== undefined) {
        if (typeof route.contentType !== 'string')
          throw invalidType(`${at}.contentType`, 'of type string', route.contentType)
        type = route.contentType
      }
      extra = headerList(route.headers, `${at}.headers`)
    } else {
      body = toHeldPart(route, at)
      if (typeof body === 'string')
        throw invalidType(at, 'Bytes, or an object { body, contentType, headers } or { file, contentType }', route)
      type = OCTETS
    }
    // The route holds this memory for as long as it exists: it must not be transferred
    // (postMessage, structuredClone) and freed under the server.
    if (body !== undefined && typeof body !== 'string' && !isSharedArrayBuffer(body.buffer))
      markAsUntransferable(body.buffer)
    table.push({ path, body, file, type, headers: extra })
  }
  return table
}

/**
 * @param {unknown} value
 * @param {string} name
 * @param {number} fallback
 */
function positive(value, name, fallback) {
  const n = checkIndex(value, name, fallback)
  if (n < 1) throw outOfRange(name, '>= 1', value)
  return n
}

/**
 * Whether `body` is produced as it goes: a `ReadableStream`, or an async iterable.
 * @param {unknown} body
 * @returns {body is ReadableStream | AsyncIterable<unknown>}
 */
function isStream(body) {
  return (
    body instanceof ReadableStream ||
    (body !== null &&
      typeof body === 'object' &&
      typeof (/** @type {{ [Symbol.asyncIterator]?: unknown }} */ (body)[Symbol.asyncIterator]) === 'function')
  )
}

/**
 * @param {unknown} status
 * @param {string} name
 */
function checkStatus(status, name) {
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999)
    throw outOfRange(name, 'an integer >= 100 and <= 999', status)
  return status
}

// The client's fault, answered by abio whatever the handler does (413, 400, or the connection
// closed): nothing to report when a handler passes their error on.
const PEER_FAULTS = new Set(['ABIO_ERR_BODY_TOO_LARGE', 'ABIO_ERR_HTTP_PARSE', 'ABIO_ERR_TIMEOUT', 'ABIO_ERR_CLOSED'])

/**
 * Reports a handler's failure, unless it is the client's (passed on by the handler).
 * @param {string} what
 * @param {unknown} err
 */
function report(what, err) {
  const code = err !== null && typeof err === 'object' ? /** @type {{ code?: unknown }} */ (err).code : undefined
  if (typeof code !== 'string' || !PEER_FAULTS.has(code)) console.error(`abio: ${what}:`, err)
}

/**
 * Sends `source`'s chunks as the body of a `status` answer, as they are produced: a chunk
 * waits for the client when 64 KiB are queued (the producer is not pulled meanwhile), and
 * the source is cancelled when the client goes away. A source that fails cuts the response.
 * @param {NativeRequest} native
 * @param {number} status
 * @param {string[]} flat
 * @param {ReadableStream | AsyncIterable<unknown>} source
 */
async function pump(native, status, flat, source) {
  /** @type {() => Promise<IteratorResult<unknown>>} */
  let next
  /** @type {(reason: unknown) => void} */
  let stop
  if (source instanceof ReadableStream) {
    const reader = source.getReader()
    next = () => reader.read()
    // Cancelling settles a read that waits (an idle event stream) and tells the source.
    stop = (reason) => void reader.cancel(reason).catch(() => {})
  } else {
    const it = source[Symbol.asyncIterator]()
    next = () => it.next()
    stop = () => void it.return?.()?.catch(() => {})
  }
  // Only once the source could be read (a locked or used stream throws above: a 500).
  const sink = native.respondStream(status, flat)
  let left = false
  native.closed().then((gone) => {
    if (gone && !left) {
      left = true
      stop(new DOMException('The client closed the connection', 'AbortError'))
    }
  })
  try {
    for (;;) {
      const { value, done } = await next()
      if (done || left) break
      if (!sink.write(toHeldPart(value, 'a chunk of the response body'))) await sink.drained()
    }
    sink.end()
  } catch (err) {
    sink.abort()
    if (!left) {
      left = true
      stop(err)
      report('a response body stream failed; the response was cut', err)
    }
  }
}

/**
 * Sends the handler's answer: a WHATWG `Response` (abio's, kept as given, or a real one), or
 * a plain `{ status, headers, body }`.
 * @param {NativeRequest} native
 * @param {unknown} res
 * @returns {Promise<void> | void}
 */
function send(native, res) {
  let status = 200
  /** @type {string[]} */
  let flat
  let body
  if (res instanceof GlobalResponse) {
    const kept = keptOf(res)
    if (kept !== undefined) {
      status = kept[0]
      body = kept[2]
      flat = headerList(kept[1], 'the response headers')
      // Said for a HEAD only (src/http/exchange.rs puts the body's length in other answers).
      if (kept[3] !== undefined && !flat.some((n, i) => i % 2 === 0 && n === 'content-length'))
        flat.push('content-length', String(kept[3]))
      if (typeof body === 'string' && !flat.some((n, i) => i % 2 === 0 && n === 'content-type'))
        flat.push('content-type', 'text/plain;charset=UTF-8')
      if (body instanceof Blob) {
        const blob = body
        if (blob.type !== '' && !flat.some((n, i) => i % 2 === 0 && n === 'content-type'))
          flat.push('content-type', blob.type)
        return blob.arrayBuffer().then((ab) => native.respond(status, flat, new Uint8Array(ab), undefined))
      }
    } else {
      status = res.status
      flat = headerList(res.headers, 'the response headers')
      body = res.body
    }
  } else {
    const o = checkObject(res, 'the response', ANSWER_KEYS)
    if (o === undefined) return native.respond(200, [], undefined, undefined)
    if (o.status !== undefined) status = checkStatus(o.status, 'the response status')
    flat = headerList(o.headers, 'the response headers')
    body = o.body
    if (
      isShape(body) &&
      !isStream(body) &&
      !(body instanceof Blob) &&
      checkObject(body, 'the response body', FILE_KEYS)
    )
      return native.respond(status, flat, undefined, resolve(checkPath(body.file, 'the response body.file')))
    if (body instanceof Blob) return send(native, new GlobalResponse(body, { status, headers: flat2pairs(flat) }))
  }
  if (body === undefined || body === null) return native.respond(status, flat, undefined, undefined)
  if (isStream(body)) return pump(native, status, flat, body)
  native.respond(status, flat, toHeldPart(body, 'the response body'), undefined)
}

/**
 * @param {string[]} flat
 * @returns {[string, string][]}
 */
function flat2pairs(flat) {
  /** @type {[string, string][]} */
  const pairs = []
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]])
  return pairs
}

/**
 * Calls `fetch(request, server)` for each request no route answers; a throw or rejection
 * (before anything was sent) is a 500.
 * @param {(req: InstanceType<typeof ServeRequest>, server: HttpServer | undefined) => unknown} fetch
 * @param {{ scheme: string, host: string, server: HttpServer | undefined }} origin
 * @returns {NonNullable<import('../binding.js').ServeOptions['fetch']>}
 */
function dispatcher(fetch, origin) {
  /** @type {(native: NativeRequest, err: unknown) => void} */
  const failed = (native, err) => {
    native.respond(500, [], undefined, undefined)
    report('a fetch handler threw or rejected; answered 500', err)
  }
  /** @type {(native: NativeRequest, res: unknown) => void} */
  const answer = (native, res) => {
    try {
      const sent = send(native, res)
      if (sent !== undefined) sent.catch((err) => failed(native, err))
    } catch (err) {
      failed(native, err)
    }
  }
  return (native, method, url, flat) => {
    let result
    try {
      result = fetch(new ServeRequest(native, method, url, flat, origin), origin.server)
    } catch (err) {
      failed(native, err)
      return
    }
    if (isThenable(result)) {
      result.then(
        (res) => answer(native, res),
        (err) => failed(native, err),
      )
    } else {
      answer(native, result)
    }
  }
}

/**
 * The native half of an `HttpServer`.
 * @param {HttpServer} server
 */
function httpNative(server) {
  return /** @type {import('../binding.js').NativeHttpServer} */ (nativeOf(server))
}

/** A listening HTTP server, from `serve()`. */
class HttpServer extends Listening {
  /**
   * @internal Use `serve()`.
   * @param {import('../binding.js').NativeHttpServer} native
   */
  constructor(native) {
    if (!(native instanceof binding.NativeHttpServer)) throw new TypeError('Illegal constructor: use abio.serve()')
    super(native)
  }

  #flushQueued = false

  /**
   * Sends `data` to every open WebSocket, framed once; returns how many it was queued for (a
   * connection over its `backpressureLimit` is skipped). The broadcasts and publishes of one
   * turn of the event loop leave together (one sendmsg per connection).
   * @param {unknown} data
   */
  broadcast(data) {
    const part = toHeldPart(data, 'data')
    // Messages sent earlier in this turn leave before the broadcast.
    flushPending()
    return this.#queued(httpNative(this).broadcast([part]))
  }

  /**
   * Sends `data` to every WebSocket subscribed to `topic`, framed once; returns how many it was
   * queued for (a subscriber over its `backpressureLimit` is skipped).
   * @param {unknown} topic
   * @param {unknown} data
   */
  publish(topic, data) {
    if (typeof topic !== 'string') throw invalidType('topic', 'of type string', topic)
    const part = toHeldPart(data, 'data')
    flushPending()
    return this.#queued(httpNative(this).publish(topic, [part]))
  }

  /**
   * How many WebSockets are subscribed to `topic`.
   * @param {unknown} topic
   */
  subscriberCount(topic) {
    if (typeof topic !== 'string') throw invalidType('topic', 'of type string', topic)
    return httpNative(this).subscriberCount(topic)
  }

  /**
   * Sends what was queued for `n` connections at the end of the turn.
   * @param {number} n
   */
  #queued(n) {
    if (!this.#flushQueued && n !== 0) {
      this.#flushQueued = true
      setImmediate(() => {
        this.#flushQueued = false
        httpNative(this).flushBroadcasts()
      })
    }
    return n
  }

  /**
   * @param {unknown} options
   */
  reload(options) {
    const o = checkObject(options, 'options', RELOAD_KEYS)
    if (o === undefined) throw invalidType('options', 'an object { routes, tls }', options)
    // Only what is given is replaced: `{ tls }` alone keeps the routes.
    const routes = o.tls !== undefined && o.routes === undefined ? undefined : routeTable(o.routes, 'options.routes')
    httpNative(this).reload(routes, serverContext(o.tls, 'options.tls', HTTP1))
  }
}

/**
 * @param {unknown} [options]
 */
function serve(options) {
  const o = checkObject(options, 'options', SERVE_KEYS) ?? {}
  if (o.fetch !== undefined && typeof o.fetch !== 'function')
    throw invalidType('options.fetch', 'a function (req) => Response | Promise<Response>', o.fetch)
  const host = o.host ?? undefined
  if (host !== undefined && typeof host !== 'string') throw invalidType('options.host', 'of type string', host)
  const port = checkPort(o.port, 'options.port', 0)
  const reusePort = checkBool(o.reusePort, 'options.reusePort')
  const limits = {
    maxHeaderSize: positive(o.maxHeaderSize, 'options.maxHeaderSize', 16 * 1024),
    headersTimeout: positive(o.headersTimeout, 'options.headersTimeout', 30000),
    idleTimeout: positive(o.idleTimeout, 'options.idleTimeout', 60000),
    bodyTimeout: positive(o.bodyTimeout, 'options.bodyTimeout', 30000),
    maxBodySize: checkIndex(o.maxBodySize, 'options.maxBodySize', 16 * 1024 * 1024),
  }
  const routes = routeTable(o.routes, 'options.routes')
  const signal = checkSignal(o.signal, 'options.signal')
  const globals =
    o.overrideGlobalObjects === undefined ? true : checkBool(o.overrideGlobalObjects, 'options.overrideGlobalObjects')
  /** @type {{ scheme: string, host: string, server: HttpServer | undefined }} */
  const origin = { scheme: o.tls === undefined ? 'http' : 'https', host: 'localhost', server: undefined }
  const handler = /** @type {(req: InstanceType<typeof ServeRequest>, server: HttpServer | undefined) => unknown} */ (
    o.fetch
  )
  const fetch = handler === undefined ? undefined : dispatcher(handler, origin)
  if (fetch !== undefined && globals) installGlobals()
  const websocket = serverOptions(o.websocket, origin)
  let listening
  try {
    const tls = serverContext(o.tls, 'options.tls', HTTP1)
    const handshake = handshakeTimeout(o.handshakeTimeout, 'options.handshakeTimeout')
    listening = binding.serve({
      host,
      port,
      reusePort,
      routes,
      limits,
      fetch,
      websocket,
      tls,
      handshakeTimeout: handshake,
    })
  } catch (err) {
    // A file route's file missing: an OS error, so a rejection, as listen errors are.
    if (/** @type {{ code?: unknown }} */ (err).code === 'ABIO_ERR_INVALID_ARG') throw err
    return Promise.reject(err)
  }
  return listening.then((native) => {
    const server = new HttpServer(native)
    const h = server.host
    origin.host = `${h.includes(':') ? `[${h}]` : h}:${server.port}`
    origin.server = server
    // Closed when the signal aborts, as Deno's serve and Node's listen do (at once when it
    // already has).
    return closeOnAbort(server, signal)
  })
}

module.exports = { serve, HttpServer, ServeRequest }
