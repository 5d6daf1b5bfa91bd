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
  headerRecord,
  isThenable,
  writeOptions,
  withSignal,
} = require('./args')
const { Listening, nativeOf } = require('./net')
const { serverContext, handshakeTimeout, HTTP1 } = require('./tls')
const { serverOptions, flushPending } = require('./ws')

/** @typedef {import('../binding.js').NativeRequest} NativeRequest */

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
 * `{ name: value }` headers as the flat `[name, value, ...]` list Rust takes.
 * @param {unknown} h
 * @param {string} name
 */
function flatHeaders(h, name, numbers = false) {
  /** @type {string[]} */
  const flat = []
  const o = checkObject(h, name)
  if (o === undefined) return flat
  for (const k of Object.keys(o)) {
    const v = o[k]
    if (typeof v === 'string') flat.push(k, v)
    else if (numbers && typeof v === 'number') flat.push(k, String(v))
    else throw invalidType(`${name}['${k}']`, 'of type string', v)
  }
  return flat
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
      extra = flatHeaders(route.headers, `${at}.headers`)
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

/** A request for a `fetch` handler. */
class Request {
  /** @type {NativeRequest} */
  #native

  /**
   * @internal Made by the server.
   * @param {NativeRequest} native
   * @param {string} method
   * @param {string} url
   * @param {string[]} flat
   */
  constructor(native, method, url, flat) {
    this.#native = native
    this.method = method
    this.url = url
    const q = url.indexOf('?')
    this.path = q < 0 ? url : url.slice(0, q)
    this.headers = headerRecord(flat)
  }

  body() {
    return this.#native.body()
  }

  /**
   * @param {unknown} path
   * @param {unknown} [options]
   */
  bodyToFile(path, options) {
    const p = checkPath(path)
    const [flags, mode, signal] = writeOptions(options, true)
    return withSignal(signal, (token) => this.#native.bodyToFile(p, flags, mode, token))
  }
}

/**
 * The handler's `{ status, headers, body }` as `respond()`'s arguments.
 * @param {unknown} res
 * @returns {Parameters<NativeRequest['respond']>}
 */
function response(res) {
  const o = checkObject(res, 'the response')
  if (o === undefined) return [200, [], undefined, undefined]
  const status = o.status === undefined ? 200 : o.status
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999)
    throw outOfRange('the response status', 'an integer >= 100 and <= 999', status)
  const flat = flatHeaders(o.headers, 'the response headers', true)
  if (o.body === undefined || o.body === null) return [status, flat, undefined, undefined]
  if (isShape(o.body) && o.body.file !== undefined)
    return [status, flat, undefined, resolve(checkPath(o.body.file, 'the response body.file'))]
  return [status, flat, toHeldPart(o.body, 'the response body'), undefined]
}

// The client's fault, answered by abio whatever the handler does (413, 400, or the connection
// closed): nothing to report when a handler passes their error on.
const PEER_FAULTS = new Set(['ABIO_ERR_BODY_TOO_LARGE', 'ABIO_ERR_HTTP_PARSE', 'ABIO_ERR_TIMEOUT'])

/**
 * Calls `fetch(req)` for each request no route answers; a throw or rejection is a 500.
 * @param {(req: Request) => unknown} fetch
 * @returns {NonNullable<import('../binding.js').ServeOptions['fetch']>}
 */
function dispatcher(fetch) {
  /** @type {(native: NativeRequest, err: unknown) => void} */
  const failed = (native, err) => {
    native.respond(500, [], undefined, undefined)
    const code = err !== null && typeof err === 'object' ? /** @type {{ code?: unknown }} */ (err).code : undefined
    if (typeof code !== 'string' || !PEER_FAULTS.has(code))
      console.error('abio: a fetch handler threw or rejected; answered 500:', err)
  }
  /** @type {(native: NativeRequest, res: unknown) => void} */
  const answer = (native, res) => {
    try {
      native.respond(...response(res))
    } catch (err) {
      failed(native, err)
    }
  }
  return (native, method, url, flat) => {
    let result
    try {
      result = fetch(new Request(native, method, url, flat))
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
   * Sends `data` to every open WebSocket, framed once; returns how many. The broadcasts of
   * one turn of the event loop leave together (one sendmsg per connection).
   */
  /**
   * @param {unknown} data
   */
  broadcast(data) {
    const native = httpNative(this)
    const part = toHeldPart(data, 'data')
    // Messages sent earlier in this turn leave before the broadcast.
    flushPending()
    const n = native.broadcast([part])
    if (!this.#flushQueued && n !== 0) {
      this.#flushQueued = true
      setImmediate(() => {
        this.#flushQueued = false
        native.flushBroadcasts()
      })
    }
    return n
  }

  /**
   * @param {unknown} options
   */
  reload(options) {
    const o = checkObject(options, 'options')
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
  const o = checkObject(options, 'options') ?? {}
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
  const fetch = o.fetch === undefined ? undefined : dispatcher(/** @type {(req: Request) => unknown} */ (o.fetch))
  const websocket = serverOptions(o.websocket)
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
  return listening.then((native) => new HttpServer(native))
}

module.exports = { serve, HttpServer, Request }
