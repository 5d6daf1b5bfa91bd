'use strict'
// Files: argument checks and AbortSignal wiring in front of src/fs.rs. No I/O here.

const { fileURLToPath } = require('node:url')
const binding = require('../binding.js')
const { toData, toPart, toView } = require('./bytes')
const { invalidType, invalidValue, outOfRange, abortError } = require('./errors')

// WriteOptions as the bits src/fs.rs reads.
const APPEND = 1
const ATOMIC = 2
const DURABLE = 4
const MKDIRS = 8

const FLAGS = new Set(['r', 'r+', 'w', 'w+', 'a', 'a+', 'wx'])

function checkPath(path, name = 'path') {
  if (typeof path === 'string') {
    if (path.includes('\0')) throw invalidValue(name, 'must be a string without null bytes', path)
    return path
  }
  if (
    path instanceof URL ||
    (path !== null && typeof path === 'object' && typeof path.href === 'string' && typeof path.protocol === 'string')
  ) {
    if (path.protocol !== 'file:') throw invalidValue(name, 'must be a file: URL', path.href)
    try {
      return fileURLToPath(path)
    } catch (err) {
      throw invalidValue(name, `is not a usable file: URL (${err.message})`, path.href)
    }
  }
  throw invalidType(name, 'of type string or an instance of URL', path)
}

function checkObject(value, name) {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidType(name, 'an object', value)
  return value
}

function checkBool(value, name) {
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw invalidType(name, 'of type boolean', value)
  return value
}

/** A non-negative safe integer, or `fallback` when undefined. */
function checkIndex(value, name, fallback) {
  if (value === undefined || (value === null && fallback !== undefined)) return fallback
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value)
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, '>= 0 and <= 2^53 - 1, an integer', value)
  return value
}

function checkMode(value, name, fallback) {
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value)
  if (!Number.isInteger(value) || value < 0 || value > 0o7777)
    throw outOfRange(name, 'an integer >= 0 and <= 0o7777', value)
  return value
}

function checkSignal(signal, name) {
  if (signal === undefined) return undefined
  if (
    signal === null ||
    typeof signal !== 'object' ||
    typeof signal.aborted !== 'boolean' ||
    typeof signal.addEventListener !== 'function'
  ) {
    throw invalidType(name, 'an instance of AbortSignal', signal)
  }
  return signal
}

/** WriteOptions -> [flags, mode, signal]; shared by every write call. */
function writeOptions(options) {
  const o = checkObject(options, 'options')
  if (o === undefined) return [0, -1, undefined]
  let flags = 0
  if (checkBool(o.append, 'options.append')) flags |= APPEND
  if (checkBool(o.atomic, 'options.atomic')) flags |= ATOMIC
  if (checkBool(o.durable, 'options.durable')) flags |= DURABLE
  if (checkBool(o.mkdirs, 'options.mkdirs')) flags |= MKDIRS
  if ((flags & (APPEND | ATOMIC)) === (APPEND | ATOMIC)) {
    throw invalidValue('options', 'cannot combine append and atomic', o)
  }
  return [flags, checkMode(o.mode, 'options.mode', -1), checkSignal(o.signal, 'options.signal')]
}

/** ReadOptions -> [offset, length, maxSize, signal]; -1 means "not given". */
function readOptions(options) {
  const o = checkObject(options, 'options')
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

function throwIfAborted(signal) {
  if (signal !== undefined && signal.aborted) throw abortError(signal.reason)
}

function writeFileSync(path, data, options) {
  const p = checkPath(path)
  const d = toData(data, 'data')
  const [flags, mode, signal] = writeOptions(options)
  throwIfAborted(signal)
  return binding.writeFileSync(p, d, flags, mode)
}

function writeFile(path, data, options) {
  const p = checkPath(path)
  const d = toData(data, 'data')
  const [flags, mode, signal] = writeOptions(options)
  return withSignal(signal, (token) => binding.writeFile(p, d, flags, mode, token))
}

function readFileSync(path, options) {
  const p = checkPath(path)
  const [offset, length, maxSize, signal] = readOptions(options)
  throwIfAborted(signal)
  return binding.readFileSync(p, offset, length, maxSize)
}

// A small read whose name and bytes are cached completes on this thread (see
// crates/abio-core/src/nowait.rs): no pool trip. Such completions skip the event loop, so
// after INLINE_LIMIT in a row without a turn of it, the next read takes the pool path and
// lets timers and I/O run.
const INLINE_LIMIT = 64
let inlineRun = 0
function endInlineRun() {
  inlineRun = 0
}

function readFile(path, options) {
  const p = checkPath(path)
  const [offset, length, maxSize, signal] = readOptions(options)
  if (inlineRun < INLINE_LIMIT && (signal === undefined || !signal.aborted)) {
    const ab = binding.readFileCached(p, offset, length, maxSize)
    if (ab !== null) {
      if (inlineRun++ === 0) setImmediate(endInlineRun)
      return Promise.resolve(ab)
    }
  }
  return withSignal(signal, (token) => binding.readFile(p, offset, length, maxSize, token))
}

function checkTarget(target, name) {
  if (!ArrayBuffer.isView(target)) throw invalidType(name, 'a Buffer, TypedArray or DataView', target)
  return toView(target, name)
}

function readFileInto(path, target, options) {
  const p = checkPath(path)
  const t = checkTarget(target, 'target')
  const o = checkObject(options, 'options')
  const position = o === undefined ? 0 : checkIndex(o.position, 'options.position', 0)
  const signal = o === undefined ? undefined : checkSignal(o.signal, 'options.signal')
  return withSignal(signal, (token) => binding.readFileInto(p, t, position, token))
}

function checkArray(value, name) {
  if (!Array.isArray(value)) throw invalidType(name, 'an array', value)
  return value
}

function writeFiles(entries, options) {
  checkArray(entries, 'entries')
  const paths = new Array(entries.length)
  const data = new Array(entries.length)
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]
    if (entry === null || typeof entry !== 'object')
      throw invalidType(`entries[${i}]`, 'an object { path, data }', entry)
    paths[i] = checkPath(entry.path, `entries[${i}].path`)
    data[i] = toData(entry.data, `entries[${i}].data`)
  }
  const [flags, mode, signal] = writeOptions(options)
  return withSignal(signal, (token) => binding.writeFiles(paths, data, flags, mode, token))
}

function readFiles(paths, options) {
  checkArray(paths, 'paths')
  const checked = new Array(paths.length)
  for (let i = 0; i < paths.length; i++) checked[i] = checkPath(paths[i], `paths[${i}]`)
  const [offset, length, maxSize, signal] = readOptions(options)
  return withSignal(signal, (token) => binding.readFiles(checked, offset, length, maxSize, token))
}

/** An open file, from `open()`. Every method but `close` rejects with ABIO_ERR_CLOSED after close. */
class FileHandle {
  #native

  /** @internal Use `open()`. */
  constructor(native) {
    if (!(native instanceof binding.FileHandle)) throw new TypeError('Illegal constructor: use abio.open()')
    this.#native = native
  }

  get fd() {
    return this.#native.fd
  }

  read(position, length) {
    const pos = checkIndex(position, 'position')
    const len = checkIndex(length, 'length')
    if (pos === undefined) throw invalidType('position', 'of type number', position)
    if (len === undefined) throw invalidType('length', 'of type number', length)
    return this.#native.read(pos, len)
  }

  readInto(target, position = 0) {
    const t = checkTarget(target, 'target')
    return this.#native.readInto(t, checkIndex(position, 'position', 0))
  }

  write(data, position) {
    return this.#native.writev([toPart(data, 'data')], checkIndex(position, 'position', -1))
  }

  writev(parts, position) {
    checkArray(parts, 'parts')
    return this.#native.writev(toData(parts, 'parts'), checkIndex(position, 'position', -1))
  }

  size() {
    return this.#native.size()
  }

  truncate(length = 0) {
    return this.#native.truncate(checkIndex(length, 'length', 0))
  }

  sync() {
    return this.#native.sync()
  }

  close() {
    return this.#native.close()
  }

  [Symbol.asyncDispose]() {
    return this.close()
  }
}

function open(path, flags = 'r', mode = 0o666) {
  const p = checkPath(path)
  if (typeof flags !== 'string') throw invalidType('flags', 'of type string', flags)
  if (!FLAGS.has(flags))
    throw invalidValue('flags', `must be one of ${[...FLAGS].map((f) => `'${f}'`).join(', ')}`, flags)
  const m = checkMode(mode, 'mode', 0o666)
  return binding.open(p, flags, m).then((native) => new FileHandle(native))
}

module.exports = {
  writeFile,
  writeFileSync,
  readFile,
  readFileSync,
  readFileInto,
  writeFiles,
  readFiles,
  open,
  FileHandle,
}
