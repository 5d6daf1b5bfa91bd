'use strict'
// HTTP: argument checks in front of src/http.rs. No I/O here.

const { markAsUntransferable } = require('node:worker_threads')
const { isAnyArrayBuffer, isSharedArrayBuffer } = require('node:util/types')
const binding = require('../binding.js')
const { toPart } = require('./bytes')
const { invalidType, invalidValue, outOfRange } = require('./errors')
const { checkObject, checkBool, checkIndex, checkPath, checkPort, writeOptions, withSignal } = require('./args')
const { Listening, nativeOf } = require('./net')

const OCTETS = 'application/octet-stream'
const TEXT = 'text/plain; charset=utf-8'

/** `routes` as the parallel arrays src/http.rs takes: paths, bodies, content types, headers. */
function routeTable(routes, name) {
  const o = checkObject(routes, name) ?? {}
  const paths = []
  const bodies = []
  const types = []
  const headers = []
  for (const path of Object.keys(o)) {
    const at = `${name}['${path}']`
    if (!path.startsWith('/')) throw invalidValue(name, `must map paths that start with '/'`, path)
    const route = o[path]
    let body
    let type = OCTETS
    const extra = []
    if (route !== null && typeof route === 'object' && !ArrayBuffer.isView(route) && !isAnyArrayBuffer(route)) {
      if (route.file !== undefined)
        throw invalidValue(at, 'is a file route, which this version does not serve yet (bytes routes only)', route)
      body = toPart(route.body, `${at}.body`)
      if (typeof body === 'string') type = TEXT
      if (route.contentType !== undefined) {
        if (typeof route.contentType !== 'string')
          throw invalidType(`${at}.contentType`, 'of type string', route.contentType)
        type = route.contentType
      }
      const h = checkObject(route.headers, `${at}.headers`)
      if (h !== undefined) {
        for (const k of Object.keys(h)) {
          if (typeof h[k] !== 'string') throw invalidType(`${at}.headers['${k}']`, 'of type string', h[k])
          extra.push(k, h[k])
        }
      }
    } else {
      body = toPart(route, at)
      if (typeof body === 'string') throw invalidType(at, 'Bytes, or an object { body, contentType, headers }', route)
    }
    // The route holds this memory for as long as it exists: it must not be transferred
    // (postMessage, structuredClone) and freed under the server.
    if (typeof body !== 'string' && !isSharedArrayBuffer(body.buffer)) markAsUntransferable(body.buffer)
    paths.push(path)
    bodies.push(body)
    types.push(type)
    headers.push(extra)
  }
  return [paths, bodies, types, headers]
}

function positive(value, name, fallback) {
  const n = checkIndex(value, name, fallback)
  if (n < 1) throw outOfRange(name, '>= 1', value)
  return n
}

/** A request for a `fetch` handler. */
class Request {
  #native

  /** @internal Made by the server. */
  constructor(native, method, url, flat) {
    this.#native = native
    this.method = method
    this.url = url
    const q = url.indexOf('?')
    this.path = q < 0 ? url : url.slice(0, q)
    const headers = {}
    for (let i = 0; i < flat.length; i += 2) {
      const k = flat[i]
      headers[k] = headers[k] === undefined ? flat[i + 1] : `${headers[k]}, ${flat[i + 1]}`
    }
    this.headers = headers
  }

  body() {
    return this.#native.body()
  }

  bodyToFile(path, options) {
    const p = checkPath(path)
    const [flags, mode, signal] = writeOptions(options, true)
    return withSignal(signal, (token) => this.#native.bodyToFile(p, flags, mode, token))
  }
}

/** The handler's `{ status, headers, body }` as `respond()`'s arguments. */
function response(res) {
  const o = checkObject(res, 'the response')
  if (o === undefined) return [200, [], undefined]
  const status = o.status === undefined ? 200 : o.status
  if (!Number.isInteger(status) || status < 100 || status > 999)
    throw outOfRange('the response status', 'an integer >= 100 and <= 999', status)
  const flat = []
  const h = checkObject(o.headers, 'the response headers')
  if (h !== undefined) {
    for (const k of Object.keys(h)) {
      const v = h[k]
      if (typeof v === 'string') flat.push(k, v)
      else if (typeof v === 'number') flat.push(k, String(v))
      else throw invalidType(`the response header '${k}'`, 'of type string', v)
    }
  }
  let body
  if (o.body !== undefined && o.body !== null) {
    if (
      typeof o.body === 'object' &&
      !ArrayBuffer.isView(o.body) &&
      !isAnyArrayBuffer(o.body) &&
      o.body.file !== undefined
    )
      throw invalidValue('the response body', 'is a file, which this version does not send yet', o.body)
    body = toPart(o.body, 'the response body')
  }
  return [status, flat, body]
}

/** Calls `fetch(req)` for each request no route answers; a throw or rejection is a 500. */
function dispatcher(fetch) {
  const failed = (native, err) => {
    native.respond(500, [], undefined)
    // A body over maxBodySize is answered 413 whatever the handler does: nothing to report.
    if (err === null || typeof err !== 'object' || err.code !== 'ABIO_ERR_BODY_TOO_LARGE')
      console.error('abio: a fetch handler threw or rejected; answered 500:', err)
  }
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
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      result.then(
        (res) => answer(native, res),
        (err) => failed(native, err),
      )
    } else {
      answer(native, result)
    }
  }
}

/** A listening HTTP server, from `serve()`. */
class HttpServer extends Listening {
  /** @internal Use `serve()`. */
  constructor(native) {
    if (!(native instanceof binding.NativeHttpServer)) throw new TypeError('Illegal constructor: use abio.serve()')
    super(native)
  }

  reload(options) {
    const o = checkObject(options, 'options')
    if (o === undefined) throw invalidType('options', 'an object { routes }', options)
    nativeOf(this).reload(...routeTable(o.routes, 'options.routes'))
  }
}

function serve(options) {
  const o = checkObject(options, 'options') ?? {}
  if (o.websocket !== undefined)
    throw invalidValue('options.websocket', 'is not supported yet: this version answers HTTP only', o.websocket)
  if (o.fetch !== undefined && typeof o.fetch !== 'function')
    throw invalidType('options.fetch', 'a function (req) => Response | Promise<Response>', o.fetch)
  const host = o.host ?? undefined
  if (host !== undefined && typeof host !== 'string') throw invalidType('options.host', 'of type string', host)
  const port = checkPort(o.port, 'options.port', 0)
  const reusePort = checkBool(o.reusePort, 'options.reusePort')
  const limits = {
    maxHeaderSize: positive(o.maxHeaderSize, 'options.maxHeaderSize', 16 * 1024),
    headersTimeout: positive(o.headersTimeout, 'options.headersTimeout', 30000),
    maxBodySize: checkIndex(o.maxBodySize, 'options.maxBodySize', 16 * 1024 * 1024),
  }
  const table = routeTable(o.routes, 'options.routes')
  const fetch = o.fetch === undefined ? undefined : dispatcher(o.fetch)
  return binding.serve(host, port, reusePort, ...table, limits, fetch).then((native) => new HttpServer(native))
}

module.exports = { serve, HttpServer, Request }
