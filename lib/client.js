// @ts-check
'use strict'
// The HTTP client: argument checks and AbortSignal wiring in front of src/client/. No I/O
// here.

const { constants } = require('node:buffer')
const { isAnyArrayBuffer } = require('node:util/types')
const binding = require('../binding.js')
const { toHeldPart } = require('./bytes')
const { invalidType, invalidValue } = require('./errors')
const {
  checkPath,
  optionNames,
  WRITE_KEYS,
  headerList,
  TOKEN,
  parseUrl,
  checkObject,
  checkBool,
  checkIndex,
  checkSignal,
  withSignal,
  writeOptions,
} = require('./args')
const { requestContext, TLS_CLIENT_KEYS } = require('./tls')

/** The names of request()'s options (RequestOptions), and of download()'s (with WriteOptions). */
const REQUEST_KEYS = optionNames(TLS_CLIENT_KEYS, [
  'method',
  'headers',
  'body',
  'maxSize',
  'signal',
  'onProgress',
  'redirect',
  'decompress',
])
const DOWNLOAD_KEYS = optionNames(REQUEST_KEYS, WRITE_KEYS)

// Methods `fetch` upper-cases (Fetch standard, "normalize a method").
const NORMALIZED = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])

/**
 * The `url` argument as a WHATWG-normalised http: or https: href.
 * @param {unknown} url
 */
function checkUrl(url) {
  const parsed = parseUrl(url)
  const href = parsed.href
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw invalidValue('url', `has the scheme '${parsed.protocol}': only http: and https: URLs are supported`, href)
  if (parsed.username !== '' || parsed.password !== '')
    throw invalidValue('url', 'must not include credentials: send an authorization header', href)
  return href
}

/** @param {unknown} value */
function checkMethod(value) {
  if (value === undefined) return 'GET'
  if (typeof value !== 'string') throw invalidType('options.method', 'of type string', value)
  if (!TOKEN.test(value)) throw invalidValue('options.method', 'must be an HTTP token', value)
  const upper = value.toUpperCase()
  return NORMALIZED.has(upper) ? upper : value
}

/**
 * `headers` (a `Headers`, [name, value] pairs or an object) as the flat name, value, ... list
 * src/client/ takes.
 * @param {unknown} value
 */
function checkHeaders(value) {
  const flat = headerList(value, 'options.headers')
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]
    if (name === 'content-length' || name === 'transfer-encoding')
      throw invalidValue('options.headers', `sets '${name}', which abio sets from the body`, flat[i + 1])
  }
  return flat
}

/**
 * `body` as [held Data or undefined, file path or undefined].
 * @param {unknown} value
 * @param {string} method
 * @returns {[body: import('./bytes').Part | undefined, file: string | undefined]}
 */
function checkBody(value, method) {
  if (value === undefined || value === null) return [undefined, undefined]
  if (method === 'GET' || method === 'HEAD')
    throw invalidValue('options.body', `cannot be sent with a ${method} request`, value)
  if (typeof value === 'object' && !ArrayBuffer.isView(value) && !isAnyArrayBuffer(value)) {
    const file = /** @type {{ file?: unknown }} */ (value).file
    if (file === undefined)
      throw invalidType('options.body', 'a string, ArrayBuffer, SharedArrayBuffer, ArrayBufferView or { file }', value)
    return [undefined, checkPath(file, 'options.body.file')]
  }
  return [toHeldPart(value, 'options.body'), undefined]
}

/**
 * `onProgress(done, total)`, with Rust's -1 for an unknown total given as `null`.
 * @param {unknown} value
 * @returns {((done: number, total: number) => void) | undefined}
 */
function checkProgress(value) {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'function') throw invalidType('options.onProgress', 'a function (done, total) => void', value)
  return (done, total) => value(done, total < 0 ? null : total)
}

/** @param {unknown} value */
function checkRedirect(value) {
  if (value === undefined || value === 'follow') return true
  if (value === 'manual') return false
  throw invalidValue('options.redirect', "must be 'follow' or 'manual'", value)
}

/**
 * The options common to request() and download(); `maxSize` defaults to `defaultMax` (-1: none).
 * @param {Record<string, unknown>} o
 * @param {number} defaultMax
 */
function common(o, defaultMax) {
  const method = checkMethod(o.method)
  return {
    method,
    headers: checkHeaders(o.headers),
    maxSize: checkIndex(o.maxSize, 'options.maxSize', defaultMax),
    signal: checkSignal(o.signal, 'options.signal'),
    onProgress: checkProgress(o.onProgress),
    follow: checkRedirect(o.redirect),
    decompress: o.decompress === undefined || checkBool(o.decompress, 'options.decompress'),
    tls: requestContext(o),
  }
}

/**
 * The request src/client/ takes, with the call's cancel token.
 * @param {string} href
 * @param {ReturnType<typeof common>} c
 * @param {import('./bytes').Part | undefined} body
 * @param {string | undefined} file
 * @param {import('./args').CancelToken | undefined} token
 * @returns {import('../binding.js').RequestOptions}
 */
function native(href, c, body, file, token) {
  const { method, headers, maxSize, follow, decompress, onProgress, tls } = c
  return { url: href, method, headers, body, file, maxSize, follow, decompress, onProgress, token, tls }
}

const utf8 = new TextDecoder()

/**
 * Headers from Rust's flat `[name, value, ...]` list (a repeated name as several entries).
 * @param {string[]} flat
 */
function toHeaders(flat) {
  const headers = new Headers()
  for (let i = 0; i < flat.length; i += 2) headers.append(flat[i], flat[i + 1])
  return headers
}

/** The answer to request(): fetch's `ok`, `headers`, `text()`, `json()`, `arrayBuffer()`, and the exact `body`. */
class ClientResponse {
  /** @type {string[]} */
  #flat
  /** @type {Headers | undefined} */
  #headers

  /** @param {import('../binding.js').ClientResponse} res */
  constructor(res) {
    this.status = res.status
    this.ok = res.status >= 200 && res.status <= 299
    this.body = res.body
    this.url = res.url
    this.#flat = res.headers
  }

  /** The headers, made on first access (a caller who never reads them pays nothing). */
  get headers() {
    if (this.#headers === undefined) this.#headers = toHeaders(this.#flat)
    return this.#headers
  }

  /** `body` itself (no copy). */
  arrayBuffer() {
    return Promise.resolve(this.body)
  }

  /** The body decoded as UTF-8 (a BOM dropped, bad bytes as U+FFFD), as fetch's `text()`. */
  text() {
    return Promise.resolve(utf8.decode(this.body))
  }

  /** The body parsed as JSON; rejects with a `SyntaxError` when it is not. */
  json() {
    return this.text().then(JSON.parse)
  }
}

/**
 * @param {unknown} url
 * @param {unknown} [options]
 */
function request(url, options) {
  const href = checkUrl(url)
  const o = checkObject(options, 'options', REQUEST_KEYS) ?? {}
  // No limit beyond what an ArrayBuffer can hold.
  const c = common(o, constants.MAX_LENGTH)
  const [body, file] = checkBody(o.body, c.method)
  return withSignal(c.signal, (token) => binding.request(native(href, c, body, file, token))).then(
    (res) => new ClientResponse(res),
  )
}

/**
 * @param {unknown} url
 * @param {unknown} path
 * @param {unknown} [options]
 */
function download(url, path, options) {
  const href = checkUrl(url)
  const p = checkPath(path)
  const o = checkObject(options, 'options') ?? {}
  // Nothing is held in memory: no limit unless asked.
  const c = common(o, -1)
  const [body, file] = checkBody(o.body, c.method)
  // A body from the network may fail midway: atomic unless told otherwise.
  const [flags, mode] = writeOptions(options, true, DOWNLOAD_KEYS)
  return withSignal(c.signal, (token) =>
    binding.download({ request: native(href, c, body, file, token), path: p, flags, mode }),
  )
}

module.exports = { request, download }
