'use strict'
// HTTP: argument checks in front of src/http.rs. No I/O here.

const { markAsUntransferable } = require('node:worker_threads')
const { isSharedArrayBuffer } = require('node:util/types')
const binding = require('../binding.js')
const { toPart } = require('./bytes')
const { invalidType, invalidValue, outOfRange } = require('./errors')
const { checkObject, checkBool, checkIndex, checkPort } = require('./args')

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
    if (route !== null && typeof route === 'object' && !ArrayBuffer.isView(route) && !isBuffer(route)) {
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

function isBuffer(value) {
  return Object.prototype.toString.call(value).endsWith('ArrayBuffer]')
}

function positive(value, name, fallback) {
  const n = checkIndex(value, name, fallback)
  if (n < 1) throw outOfRange(name, '>= 1', value)
  return n
}

/** A listening HTTP server, from `serve()`. */
class HttpServer {
  #native

  /** @internal Use `serve()`. */
  constructor(native) {
    if (!(native instanceof binding.NativeHttpServer)) throw new TypeError('Illegal constructor: use abio.serve()')
    this.#native = native
  }

  get port() {
    return this.#native.port
  }

  get host() {
    return this.#native.host
  }

  reload(options) {
    const o = checkObject(options, 'options')
    if (o === undefined) throw invalidType('options', 'an object { routes }', options)
    this.#native.reload(...routeTable(o.routes, 'options.routes'))
  }

  close() {
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

function serve(options) {
  const o = checkObject(options, 'options') ?? {}
  for (const later of ['fetch', 'websocket']) {
    if (o[later] !== undefined)
      throw invalidValue(`options.${later}`, 'is not supported yet: this version answers routes only', o[later])
  }
  const host = o.host ?? undefined
  if (host !== undefined && typeof host !== 'string') throw invalidType('options.host', 'of type string', host)
  const port = checkPort(o.port, 'options.port', 0)
  const reusePort = checkBool(o.reusePort, 'options.reusePort')
  const limits = {
    maxHeaderSize: positive(o.maxHeaderSize, 'options.maxHeaderSize', 16 * 1024),
    headersTimeout: positive(o.headersTimeout, 'options.headersTimeout', 30000),
  }
  const table = routeTable(o.routes, 'options.routes')
  return binding.serve(host, port, reusePort, ...table, limits).then((native) => new HttpServer(native))
}

module.exports = { serve, HttpServer }
