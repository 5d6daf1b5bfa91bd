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
  headerRecord,
  parseUrl,
  checkObject,
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
])
const DOWNLOAD_KEYS = optionNames(REQUEST_KEYS, WRITE_KEYS)

// RFC 9110 section 5.6.2.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// What Node accepts in a header value: tab, visible ASCII and Latin-1, no CR, LF or NUL.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
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
 * `headers` as the flat name, value, ... list src/client/ takes.
 * @param {unknown} value
 */
function checkHeaders(value) {
  const h = checkObject(value, 'options.headers')
  /** @type {string[]} */
  const flat = []
  if (h === undefined) return flat
  for (const name of Object.keys(h)) {
    if (!TOKEN.test(name)) throw invalidValue('options.headers', `has an invalid header name '${name}'`, name)
    const lower = name.toLowerCase()
    if (lower === 'content-length' || lower === 'transfer-encoding')
      throw invalidValue('options.headers', `sets '${lower}', which abio sets from the body`, h[name])
    let v = h[name]
    if (typeof v === 'number') v = String(v)
    if (typeof v !== 'string') throw invalidType(`options.headers['${name}']`, 'of type string', v)
    if (!HEADER_VALUE.test(v)) throw invalidValue(`options.headers['${name}']`, 'has invalid characters', v)
    flat.push(lower, v)
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
  const { method, headers, maxSize, follow, onProgress, tls } = c
  return { url: href, method, headers, body, file, maxSize, follow, onProgress, token, tls }
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
  return withSignal(c.signal, (token) => binding.request(native(href, c, body, file, token))).then((res) => ({
    status: res.status,
    headers: headerRecord(res.headers),
    body: res.body,
    url: res.url,
  }))
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
