// @ts-check
'use strict'
// Files: argument checks and AbortSignal wiring in front of src/fs.rs. No I/O here.

const binding = require('../binding.js')
const { toData, toHeldData, toHeldPart, toTarget } = require('./bytes')
const { invalidType, invalidValue } = require('./errors')
const {
  checkPath,
  optionNames,
  checkObject,
  checkIndex,
  checkMode,
  checkSignal,
  checkArray,
  writeOptions,
  readOptions,
  READ_KEYS,
  withSignal,
  throwIfAborted,
} = require('./args')

const FLAGS = new Set(['r', 'r+', 'w', 'w+', 'a', 'a+', 'wx'])
const READ_FILE_KEYS = optionNames(READ_KEYS, ['encoding'])
const READ_INTO_KEYS = optionNames(['position', 'signal'])

/**
 * The encoding of readFile's `options` (Node's: a string, or `{ encoding }`), or undefined
 * for bytes. Any encoding `Buffer` knows.
 * @param {unknown} options
 * @returns {BufferEncoding | undefined}
 */
function encodingOf(options) {
  let enc = options
  let name = 'options'
  if (typeof options !== 'string') {
    // Not an object: readOptions says so.
    if (options === null || typeof options !== 'object') return undefined
    enc = /** @type {{ encoding?: unknown }} */ (options).encoding
    if (enc === undefined || enc === null) return undefined
    name = 'options.encoding'
  }
  if (typeof enc !== 'string') throw invalidType(name, 'of type string', enc)
  if (!Buffer.isEncoding(enc)) throw invalidValue(name, 'must be an encoding Buffer knows (utf8, latin1, ...)', enc)
  return enc
}

/**
 * The bytes read, as a string in `encoding` (Node's decoder: a BOM is kept, as `fs.readFile`
 * keeps it), or as they are.
 * @param {ArrayBuffer} ab
 * @param {BufferEncoding | undefined} encoding
 * @returns {ArrayBuffer | string}
 */
function decoded(ab, encoding) {
  return encoding === undefined ? ab : Buffer.from(ab).toString(encoding)
}

/**
 * @param {unknown} path
 * @param {unknown} data
 * @param {unknown} [options]
 */
function writeFileSync(path, data, options) {
  const p = checkPath(path)
  const d = toData(data, 'data')
  const [flags, mode, signal] = writeOptions(options)
  throwIfAborted(signal)
  return binding.writeFileSync(p, d, flags, mode)
}

/**
 * @param {unknown} path
 * @param {unknown} data
 * @param {unknown} [options]
 */
function writeFile(path, data, options) {
  const p = checkPath(path)
  const d = toHeldData(data, 'data')
  const [flags, mode, signal] = writeOptions(options)
  return withSignal(signal, (token) => binding.writeFile(p, d, flags, mode, token))
}

/**
 * @param {unknown} path
 * @param {unknown} [options]
 */
function readFileSync(path, options) {
  const p = checkPath(path)
  const encoding = encodingOf(options)
  const [offset, length, maxSize, signal] = readOptions(encoding === options ? undefined : options, READ_FILE_KEYS)
  throwIfAborted(signal)
  return decoded(binding.readFileSync(p, offset, length, maxSize), encoding)
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

/**
 * @param {unknown} path
 * @param {unknown} [options]
 * @returns {Promise<ArrayBuffer | string>}
 */
function readFile(path, options) {
  const p = checkPath(path)
  const encoding = encodingOf(options)
  const [offset, length, maxSize, signal] = readOptions(encoding === options ? undefined : options, READ_FILE_KEYS)
  if (inlineRun < INLINE_LIMIT && (signal === undefined || !signal.aborted)) {
    const ab = binding.readFileCached(p, offset, length, maxSize)
    if (ab !== null) {
      if (inlineRun++ === 0) setImmediate(endInlineRun)
      return encoding === undefined ? Promise.resolve(ab) : Promise.resolve(ab).then((b) => decoded(b, encoding))
    }
  }
  const read = withSignal(signal, (token) => binding.readFile(p, offset, length, maxSize, token))
  return encoding === undefined ? read : read.then((ab) => decoded(ab, encoding))
}

/**
 * @param {unknown} path
 * @param {unknown} target
 * @param {unknown} [options]
 */
function readFileInto(path, target, options) {
  const p = checkPath(path)
  const t = toTarget(target, 'target')
  const o = checkObject(options, 'options', READ_INTO_KEYS)
  const position = o === undefined ? 0 : checkIndex(o.position, 'options.position', 0)
  const signal = o === undefined ? undefined : checkSignal(o.signal, 'options.signal')
  return withSignal(signal, (token) => binding.readFileInto(p, t, position, token))
}

/**
 * @param {unknown} entries
 * @param {unknown} [options]
 */
function writeFiles(entries, options) {
  const list = checkArray(entries, 'entries')
  /** @type {string[]} */
  const paths = new Array(list.length)
  /** @type {Array<import('./bytes').Part | import('./bytes').Part[]>} */
  const data = new Array(list.length)
  for (let i = 0; i < list.length; i++) {
    const entry = /** @type {{ path?: unknown, data?: unknown } | null} */ (list[i])
    if (entry === null || typeof entry !== 'object')
      throw invalidType(`entries[${i}]`, 'an object { path, data }', entry)
    paths[i] = checkPath(entry.path, `entries[${i}].path`)
    data[i] = toHeldData(entry.data, `entries[${i}].data`)
  }
  const [flags, mode, signal] = writeOptions(options)
  return withSignal(signal, (token) => binding.writeFiles(paths, data, flags, mode, token))
}

/**
 * @param {unknown} paths
 * @param {unknown} [options]
 */
function readFiles(paths, options) {
  const list = checkArray(paths, 'paths')
  /** @type {string[]} */
  const checked = new Array(list.length)
  for (let i = 0; i < list.length; i++) checked[i] = checkPath(list[i], `paths[${i}]`)
  const [offset, length, maxSize, signal] = readOptions(options)
  return withSignal(signal, (token) => binding.readFiles(checked, offset, length, maxSize, token))
}

/** An open file, from `open()`. Every method but `close` rejects with ABIO_ERR_CLOSED after close. */
class FileHandle {
  /** @type {import('../binding.js').FileHandle} */
  #native

  /**
   * @internal Use `open()`.
   * @param {import('../binding.js').FileHandle} native
   */
  constructor(native) {
    if (!(native instanceof binding.FileHandle)) throw new TypeError('Illegal constructor: use abio.open()')
    this.#native = native
  }

  get fd() {
    return this.#native.fd
  }

  /**
   * @param {unknown} position
   * @param {unknown} length
   */
  read(position, length) {
    const pos = checkIndex(position, 'position')
    const len = checkIndex(length, 'length')
    if (pos === undefined) throw invalidType('position', 'of type number', position)
    if (len === undefined) throw invalidType('length', 'of type number', length)
    return this.#native.read(pos, len)
  }

  /**
   * @param {unknown} target
   * @param {unknown} [position]
   */
  readInto(target, position = 0) {
    const t = toTarget(target, 'target')
    return this.#native.readInto(t, checkIndex(position, 'position', 0))
  }

  /**
   * @param {unknown} data
   * @param {unknown} [position]
   */
  write(data, position) {
    return this.#native.writev([toHeldPart(data, 'data')], checkIndex(position, 'position', -1))
  }

  /**
   * @param {unknown} parts
   * @param {unknown} [position]
   */
  writev(parts, position) {
    const list = /** @type {import('./bytes').Part[]} */ (toHeldData(checkArray(parts, 'parts'), 'parts'))
    return this.#native.writev(list, checkIndex(position, 'position', -1))
  }

  size() {
    return this.#native.size()
  }

  /**
   * @param {unknown} [length]
   */
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

/**
 * @param {unknown} path
 * @param {unknown} [flags]
 * @param {unknown} [mode]
 */
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
