// @ts-check
'use strict'
// Argument checks and AbortSignal wiring shared by every area of the JS layer. No I/O.

const { fileURLToPath } = require('node:url')
const binding = require('../binding.js')
const { invalidType, invalidValue, outOfRange, unknownOption, abortError } = require('./errors')

// WriteOptions as the bits src/write_options.rs defines (`WriteFlag`).
const APPEND = binding.WriteFlag.Append
const ATOMIC = binding.WriteFlag.Atomic
const DURABLE = binding.WriteFlag.Durable
const MKDIRS = binding.WriteFlag.Mkdirs

/** @typedef {import('../binding.js').CancelToken} CancelToken */

// An HTTP token (RFC 9110 section 5.6.2): header names, methods.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// What Node accepts in a header value: tab, visible ASCII and Latin-1, no CR, LF or NUL.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
const HEADERS_EXPECTED = 'a Headers, an array of [name, value] pairs or an object'

/**
 * Whether `value` is a `URL`, or looks like one (a URL of another realm, or a WHATWG URL
 * polyfill): what Node's `fileURLToPath` accepts.
 * @param {unknown} value
 * @returns {value is URL}
 */
function isUrl(value) {
  if (value instanceof URL) return true
  if (value === null || typeof value !== 'object') return false
  const u = /** @type {{ href?: unknown, protocol?: unknown }} */ (value)
  return typeof u.href === 'string' && typeof u.protocol === 'string'
}

/**
 * A `string | URL` path argument as a string.
 * @param {unknown} path
 * @returns {string}
 */
function checkPath(path, name = 'path') {
  if (typeof path === 'string') {
    if (path.includes('\0')) throw invalidValue(name, 'must be a string without null bytes', path)
    return path
  }
  if (isUrl(path)) {
    if (path.protocol !== 'file:') throw invalidValue(name, 'must be a file: URL', path.href)
    let p
    try {
      p = fileURLToPath(path)
    } catch (err) {
      throw invalidValue(name, `is not a usable file: URL (${/** @type {Error} */ (err).message})`, path.href)
    }
    // `%00` decodes to a null byte, which no OS path can hold (Node's fs says so too).
    if (p.includes('\0')) throw invalidValue(name, 'must be a file: URL without null bytes (%00)', path.href)
    return p
  }
  throw invalidType(name, 'of type string or an instance of URL', path)
}

/**
 * A `string | URL` argument parsed as a WHATWG URL (the caller checks its scheme).
 * @param {unknown} url
 */
function parseUrl(url, name = 'url') {
  let href
  if (typeof url === 'string') href = url
  else if (
    url instanceof URL ||
    (url !== null && typeof url === 'object' && typeof (/** @type {{ href?: unknown }} */ (url).href) === 'string')
  )
    href = /** @type {{ href: string }} */ (url).href
  else throw invalidType(name, 'of type string or an instance of URL', url)
  try {
    return new URL(href)
  } catch {
    throw invalidValue(name, 'is not a valid URL', href)
  }
}

/**
 * Headers from Rust's flat `[name, value, ...]` list as an object without a prototype, so
 * that a peer's `__proto__`, `constructor` or `toString` header is a header like any other;
 * repeated names joined with `', '`, as Node joins them.
 * @param {string[]} flat
 * @returns {Record<string, string>}
 */
function headerRecord(flat) {
  /** @type {Record<string, string>} */
  const headers = Object.create(null)
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]
    headers[k] = headers[k] === undefined ? flat[i + 1] : `${headers[k]}, ${flat[i + 1]}`
  }
  return headers
}

/**
 * The option names of an options object, for `checkKeys`: from lists of names and other sets.
 * @param {...(Iterable<string>)} lists
 * @returns {ReadonlySet<string>}
 */
function optionNames(...lists) {
  /** @type {Set<string>} */
  const names = new Set()
  for (const list of lists) for (const n of list) names.add(n)
  return names
}

/**
 * Refuses an options object that has a name its parser does not know (`serve({ prot: 8080 })`):
 * a TypeError `ABIO_ERR_INVALID_ARG` naming the key and the object. Every enumerable string
 * key counts, own or inherited (exactly what the parsers read as `o.name`), whatever its
 * value: `{ prot: undefined }` is refused too (the name is the mistake; TypeScript's excess
 * property check says the same). A known option set to `undefined` means its default, as in
 * Node. Symbol keys are ignored. About 20 ns for a few keys (a for-in against a Set).
 * @param {object} o
 * @param {ReadonlySet<string>} known
 * @param {string} name the object, as errors name it: `'options'`, `'options.tls'`
 */
function checkKeys(o, known, name) {
  for (const key in o) if (!known.has(key)) throw unknownOption(name, key, known)
}

/**
 * Appends one checked header to `flat`: a token name (lower-cased) and a string or number value.
 * @param {string[]} flat
 * @param {unknown} name
 * @param {unknown} value
 * @param {string} at the argument's name for errors
 */
function pushHeader(flat, name, value, at) {
  if (typeof name !== 'string') throw invalidType(`${at} name`, 'of type string', name)
  if (!TOKEN.test(name)) throw invalidValue(at, `has an invalid header name '${name}'`, name)
  const v = typeof value === 'number' ? String(value) : value
  if (typeof v !== 'string') throw invalidType(`${at}['${name}']`, 'of type string or number', value)
  if (!HEADER_VALUE.test(v)) throw invalidValue(`${at}['${name}']`, 'has invalid characters', v)
  flat.push(name.toLowerCase(), v)
}

/**
 * Headers in any form `fetch` takes, as the flat `[name, value, ...]` list Rust takes: names
 * lower-cased, in order, a repeated name as several entries (sent as several lines):
 * - a `Headers` (of any realm; it gives each `set-cookie` apart, and other repeated names
 *   joined with `', '`, as `fetch` sends them);
 * - an iterable of `[name, value]` pairs (an array of pairs, a `Map`);
 * - a plain object whose values are strings, numbers, or arrays of them (one entry each, as
 *   for `set-cookie`).
 * Names must be HTTP tokens; values strings or numbers, Latin-1 without CR, LF or NUL.
 * @param {unknown} value
 * @param {string} name the argument's name for errors
 * @returns {string[]}
 * @throws {TypeError} `ABIO_ERR_INVALID_ARG` for anything else
 */
function headerList(value, name) {
  /** @type {string[]} */
  const flat = []
  if (value === undefined || value === null) return flat
  if (typeof value !== 'object') throw invalidType(name, HEADERS_EXPECTED, value)
  if (typeof (/** @type {Iterable<unknown>} */ (value)[Symbol.iterator]) === 'function') {
    let i = 0
    for (const pair of /** @type {Iterable<unknown>} */ (value)) {
      const at = `${name}[${i++}]`
      if (!Array.isArray(pair) || pair.length !== 2) throw invalidType(at, 'a [name, value] pair', pair)
      pushHeader(flat, pair[0], pair[1], name)
    }
    return flat
  }
  const record = /** @type {Record<string, unknown>} */ (value)
  for (const k of Object.keys(record)) {
    const v = record[k]
    if (Array.isArray(v)) for (const one of v) pushHeader(flat, k, one, name)
    else pushHeader(flat, k, v, name)
  }
  return flat
}

/**
 * An options object (its properties still to be checked), or undefined when not given. With
 * `known`, a key not in it throws (see `checkKeys`).
 * @param {unknown} value
 * @param {string} name
 * @param {ReadonlySet<string>} [known]
 * @returns {Record<string, unknown> | undefined}
 */
function checkObject(value, name, known) {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidType(name, 'an object', value)
  if (known !== undefined) checkKeys(value, known, name)
  return /** @type {Record<string, unknown>} */ (value)
}

/**
 * @param {unknown} value
 * @param {string} name
 */
function checkBool(value, name) {
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw invalidType(name, 'of type boolean', value)
  return value
}

/**
 * A non-negative safe integer, or `fallback` when undefined.
 * @template {number | undefined} [F=undefined]
 * @param {unknown} value
 * @param {string} name
 * @param {F} [fallback]
 * @returns {number | F}
 */
function checkIndex(value, name, fallback) {
  if (value === undefined || (value === null && fallback !== undefined)) return /** @type {F} */ (fallback)
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value)
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, '>= 0 and <= 2^53 - 1, an integer', value)
  return value
}

/**
 * A TCP port, 0-65535, or `fallback` when undefined.
 * @param {unknown} value
 * @param {string} name
 * @param {number} [fallback]
 * @returns {number}
 */
function checkPort(value, name, fallback) {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value)
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw outOfRange(name, '>= 0 and <= 65535', value)
  return value
}

/**
 * A file mode (permission bits), or `fallback` when not given.
 * @param {unknown} value
 * @param {string} name
 * @param {number} fallback
 * @returns {number}
 */
function checkMode(value, name, fallback) {
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value)
  if (!Number.isInteger(value) || value < 0 || value > 0o7777)
    throw outOfRange(name, 'an integer >= 0 and <= 0o7777', value)
  return value
}

/**
 * An `AbortSignal` (of any realm), or undefined.
 * @param {unknown} signal
 * @param {string} name
 * @returns {AbortSignal | undefined}
 */
function checkSignal(signal, name) {
  if (signal === undefined) return undefined
  const s = /** @type {{ aborted?: unknown, addEventListener?: unknown } | null} */ (signal)
  if (s === null || typeof s !== 'object' || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function')
    throw invalidType(name, 'an instance of AbortSignal', signal)
  return /** @type {AbortSignal} */ (signal)
}

/** The names of WriteOptions. */
const WRITE_KEYS = optionNames(['append', 'atomic', 'durable', 'mode', 'mkdirs', 'signal'])
/** The names of ReadOptions. */
const READ_KEYS = optionNames(['offset', 'length', 'maxSize', 'signal'])

/**
 * WriteOptions -> [flags, mode, signal]; shared by every write call. Streams that may fail
 * midway (a body from the network) write atomically unless told otherwise. `known`: the
 * option names of the whole object, when it holds more than WriteOptions (`savePacked`,
 * `download`).
 * @param {unknown} options
 * @param {ReadonlySet<string>} [known]
 * @returns {[flags: number, mode: number, signal: AbortSignal | undefined]}
 */
function writeOptions(options, atomicByDefault = false, known = WRITE_KEYS) {
  const o = checkObject(options, 'options', known)
  if (o === undefined) return [atomicByDefault ? ATOMIC : 0, -1, undefined]
  let flags = 0
  const append = checkBool(o.append, 'options.append')
  if (append) flags |= APPEND
  if (o.atomic === undefined ? atomicByDefault && !append : checkBool(o.atomic, 'options.atomic')) flags |= ATOMIC
  if (checkBool(o.durable, 'options.durable')) flags |= DURABLE
  if (checkBool(o.mkdirs, 'options.mkdirs')) flags |= MKDIRS
  if ((flags & (APPEND | ATOMIC)) === (APPEND | ATOMIC)) {
    throw invalidValue('options', 'cannot combine append and atomic', o)
  }
  return [flags, checkMode(o.mode, 'options.mode', -1), checkSignal(o.signal, 'options.signal')]
}

/**
 * ReadOptions -> [offset, length, maxSize, signal]; -1 means "not given". `known` as for
 * `writeOptions`.
 * @param {unknown} options
 * @param {ReadonlySet<string>} [known]
 * @returns {[offset: number, length: number, maxSize: number, signal: AbortSignal | undefined]}
 */
function readOptions(options, known = READ_KEYS) {
  const o = checkObject(options, 'options', known)
  if (o === undefined) return [0, -1, -1, undefined]
  return [
    checkIndex(o.offset, 'options.offset', 0),
    checkIndex(o.length, 'options.length', -1),
    checkIndex(o.maxSize, 'options.maxSize', -1),
    checkSignal(o.signal, 'options.signal'),
  ]
}

/**
 * Starts `start(token)` with a CancelToken wired to `signal`: Rust stops at its next check
 * (between syscalls). The promise rejects with an AbortError whenever the signal aborted
 * before it settled, so the outcome never depends on who won the race; a write aborted
 * that late may have been carried out in part or in whole (an atomic one: in whole or not
 * at all), as with Node's fs.promises.writeFile.
 * @template T
 * @param {AbortSignal | undefined} signal
 * @param {(token: CancelToken | undefined) => Promise<T>} start
 * @returns {Promise<T>}
 */
function withSignal(signal, start) {
  if (signal === undefined) return start(undefined)
  if (signal.aborted) return Promise.reject(abortError(signal.reason))
  const token = new binding.CancelToken()
  const onAbort = () => token.cancel()
  signal.addEventListener('abort', onAbort, { once: true })
  // Rust's own AbortError is replaced too: this one carries the signal's reason.
  const settled = () => {
    signal.removeEventListener('abort', onAbort)
    if (signal.aborted) throw abortError(signal.reason)
  }
  return start(token).then(
    (value) => {
      settled()
      return value
    },
    (err) => {
      settled()
      throw err
    },
  )
}

/**
 * Whether `value` is a promise (or another thenable).
 * @param {unknown} value
 * @returns {value is PromiseLike<unknown>}
 */
function isThenable(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (/** @type {{ then?: unknown }} */ (value).then) === 'function'
  )
}

/** @param {AbortSignal | undefined} signal */
function throwIfAborted(signal) {
  if (signal !== undefined && signal.aborted) throw abortError(signal.reason)
}

/**
 * @param {unknown} value
 * @param {string} name
 * @returns {unknown[]}
 */
function checkArray(value, name) {
  if (!Array.isArray(value)) throw invalidType(name, 'an array', value)
  return value
}

module.exports = {
  isThenable,
  checkPath,
  headerRecord,
  headerList,
  TOKEN,
  parseUrl,
  optionNames,
  checkKeys,
  checkObject,
  checkBool,
  checkIndex,
  checkMode,
  checkPort,
  checkSignal,
  checkArray,
  WRITE_KEYS,
  READ_KEYS,
  writeOptions,
  readOptions,
  withSignal,
  throwIfAborted,
}
