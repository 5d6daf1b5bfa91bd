// @ts-check
'use strict'
// Packing: argument checks, kind codes, and making the views of an unpacked buffer (in JS,
// where a view costs a fraction of one made through Node-API). The format itself lives in
// crates/abio-core/src/pack.rs and is specified in docs/FORMAT.md.

const { isAnyArrayBuffer } = require('node:util/types')
const binding = require('../binding.js')
const { toView, held } = require('./bytes')
const { invalidType, invalidValue, outOfRange } = require('./errors')
const { checkPath, optionNames, checkObject, checkBool, writeOptions, withSignal, WRITE_KEYS } = require('./args')
const { readFile } = require('./fs')

// Kind codes of docs/FORMAT.md, by the view's Symbol.toStringTag (a Buffer is a Uint8Array).
/** @type {Record<string, number | undefined>} */
const KIND = {
  Uint8Array: 1,
  Int8Array: 2,
  Uint8ClampedArray: 3,
  Int16Array: 4,
  Uint16Array: 5,
  Int32Array: 6,
  Uint32Array: 7,
  Float32Array: 8,
  Float64Array: 9,
  BigInt64Array: 10,
  BigUint64Array: 11,
  DataView: 12,
}
const ARRAY_BUFFER = 0
const DATA_VIEW = 12
// The constructor each kind comes back as (an ArrayBuffer part as a Uint8Array).
const CTOR = [
  Uint8Array,
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
]

// The codes are defined once, in crates/abio-core/src/pack.rs: refuse to load if this table disagrees.
const kindNames = binding.packKinds()
if (
  kindNames.length !== CTOR.length ||
  kindNames[ARRAY_BUFFER] !== 'ArrayBuffer' ||
  kindNames.some((name, code) => code !== ARRAY_BUFFER && KIND[name] !== code)
) {
  throw new Error(`abio: lib/pack.js kind codes disagree with the addon's: ${kindNames.join(', ')}`)
}

const PACK_KEYS = optionNames(['align', 'checksum'])
const SAVE_KEYS = optionNames(PACK_KEYS, WRITE_KEYS)
const UNPACK_KEYS = optionNames(['verify'])
const LOAD_KEYS = optionNames(UNPACK_KEYS, ['mmap'])

const PARTS = 'an array or a record of ArrayBuffers, TypedArrays or DataViews'
const MAX_NAME = 65535 // bytes of UTF-8 per name (docs/FORMAT.md)

/**
 * The kind code of `part`, or -1 if it is not `Bytes`.
 * @param {unknown} part
 */
function kindOf(part) {
  if (ArrayBuffer.isView(part))
    return KIND[/** @type {{ [Symbol.toStringTag]?: string }} */ (part)[Symbol.toStringTag] ?? 'DataView'] ?? -1
  return isAnyArrayBuffer(part) ? ARRAY_BUFFER : -1
}

/**
 * Parts as the binding takes them: views, one kind code each, and the names of a record.
 * @param {unknown} parts
 * @returns {{ views: ArrayBufferView[], kinds: Uint8Array, names: string[] | null }}
 */
function normalizeParts(parts, name = 'parts') {
  /** @type {string[] | null} */
  let keys = null
  let list = /** @type {unknown[]} */ (parts)
  if (!Array.isArray(parts)) {
    if (parts === null || typeof parts !== 'object' || ArrayBuffer.isView(parts) || isAnyArrayBuffer(parts)) {
      throw invalidType(name, PARTS, parts)
    }
    const record = /** @type {Record<string, unknown>} */ (parts)
    keys = Object.keys(record)
    list = keys.map((k) => record[k])
    for (const k of keys) {
      // Names are stored as UTF-8: a lone surrogate would not come back as itself.
      if (!k.isWellFormed()) throw invalidValue(`${name} key`, 'must be a well-formed string (no lone surrogates)', k)
      if (k.length > MAX_NAME / 3 && Buffer.byteLength(k) > MAX_NAME) {
        throw outOfRange(`${name} key`, `at most ${MAX_NAME} bytes of UTF-8`, `${k.slice(0, 20)}…`)
      }
    }
  }
  /** @type {ArrayBufferView[]} */
  const views = new Array(list.length)
  const kinds = new Uint8Array(list.length)
  for (let i = 0; i < list.length; i++) {
    const part = list[i]
    const kind = kindOf(part)
    // A non-empty TypedArray needs no check or wrapping (the common case, kept cheap); a DataView's byteLength
    // throws once detached, so it takes the checked path.
    if (kind > ARRAY_BUFFER && kind !== DATA_VIEW && /** @type {ArrayBufferView} */ (part).byteLength > 0) {
      views[i] = /** @type {ArrayBufferView} */ (part)
    } else {
      const label = keys === null ? `${name}[${i}]` : `${name}.${keys[i]}`
      if (kind < 0) throw invalidType(label, 'an ArrayBuffer, SharedArrayBuffer, TypedArray or DataView', part)
      views[i] = toView(part, label) // wraps a bare buffer, refuses a detached one
    }
    kinds[i] = kind
  }
  return { views, kinds, names: keys }
}

/**
 * PackOptions -> [align, checksum]. `known` as for `writeOptions`.
 * @param {unknown} options
 * @param {ReadonlySet<string>} [known]
 * @returns {[align: number, checksum: boolean]}
 */
function packOptions(options, known = PACK_KEYS) {
  const o = checkObject(options, 'options', known)
  if (o === undefined) return [8, true]
  let align = 8
  if (o.align !== undefined) {
    if (typeof o.align !== 'number') throw invalidType('options.align', 'of type number', o.align)
    if (!Number.isInteger(o.align) || o.align < 8 || o.align > 4096 || (o.align & (o.align - 1)) !== 0) {
      throw outOfRange('options.align', 'a power of two from 8 to 4096', o.align)
    }
    align = o.align
  }
  return [align, o.checksum === undefined ? true : checkBool(o.checksum, 'options.checksum')]
}

/**
 * @param {unknown} options
 * @param {ReadonlySet<string>} [known]
 */
function verifyOption(options, known = UNPACK_KEYS) {
  const o = checkObject(options, 'options', known)
  return o === undefined || o.verify === undefined ? true : checkBool(o.verify, 'options.verify')
}

/**
 * @param {unknown} parts
 * @param {unknown} [options]
 */
function pack(parts, options) {
  const { views, kinds, names } = normalizeParts(parts)
  const [align, checksum] = packOptions(options)
  return binding.pack(views, kinds, names, align, checksum)
}

/**
 * @param {unknown} parts
 * @param {unknown} [options]
 */
function packedSize(parts, options) {
  const { views, kinds, names } = normalizeParts(parts)
  const [align] = packOptions(options)
  return binding.packedSize(views, kinds, names, align)
}

/**
 * @param {unknown} target
 * @param {unknown} parts
 * @param {unknown} [options]
 */
function packInto(target, parts, options) {
  if (!ArrayBuffer.isView(target)) throw invalidType('target', 'a Buffer, TypedArray or DataView', target)
  const t = toView(target, 'target')
  const { views, kinds, names } = normalizeParts(parts)
  const [align, checksum] = packOptions(options)
  return binding.packInto(t, views, kinds, names, align, checksum)
}

/**
 * One view: `length` bytes at `start` of `buffer`, as the kind's own constructor. Each `new` is written out so that
 * every construct site stays monomorphic: a `new Ctor(...)` through a variable measured markedly slower for 100k
 * parts.
 * @param {number} kind
 * @param {ArrayBufferLike} buffer
 * @param {number} start
 * @param {number} length
 * @returns {ArrayBufferView}
 */
function viewOf(kind, buffer, start, length) {
  switch (kind) {
    case 0:
    case 1:
      return new Uint8Array(buffer, start, length)
    case 2:
      return new Int8Array(buffer, start, length)
    case 3:
      return new Uint8ClampedArray(buffer, start, length)
    case 12:
      return new DataView(buffer, start, length)
  }
  // A typed array's constructor (kinds 0-3 and 12 returned above).
  const Ctor = /** @type {{ BYTES_PER_ELEMENT: number, new (b: ArrayBufferLike): ArrayBufferView }} */ (CTOR[kind])
  const size = Ctor.BYTES_PER_ELEMENT
  // The packed bytes sit at an offset misaligned for this element size (the pack itself aligns every part): copy
  // this part rather than fail.
  if (start % size !== 0) return new Ctor(buffer.slice(start, start + length))
  switch (kind) {
    case 4:
      return new Int16Array(buffer, start, length / 2)
    case 5:
      return new Uint16Array(buffer, start, length / 2)
    case 6:
      return new Int32Array(buffer, start, length / 4)
    case 7:
      return new Uint32Array(buffer, start, length / 4)
    case 8:
      return new Float32Array(buffer, start, length / 4)
    case 9:
      return new Float64Array(buffer, start, length / 8)
    case 10:
      return new BigInt64Array(buffer, start, length / 8)
    default:
      return new BigUint64Array(buffer, start, length / 8)
  }
}

/**
 * The views of a checked layout over `view`'s memory: an array, or a record by `names`.
 * @param {ArrayBufferView} view
 * @param {Uint32Array | Float64Array} layout
 * @param {string[] | null} names
 */
function makeViews(view, layout, names) {
  const { buffer, byteOffset } = view
  const n = layout.length / 3
  if (names === null) {
    const out = new Array(n)
    for (let i = 0, j = 0; i < n; i++, j += 3)
      out[i] = viewOf(layout[j], buffer, byteOffset + layout[j + 1], layout[j + 2])
    return out
  }
  const out = {}
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const part = viewOf(layout[j], buffer, byteOffset + layout[j + 1], layout[j + 2])
    Object.defineProperty(out, names[i], { value: part, enumerable: true, writable: true, configurable: true })
  }
  return out
}

/**
 * @param {unknown} packed
 * @param {unknown} [options]
 */
function unpack(packed, options) {
  const view = toView(packed, 'packed')
  const verify = verifyOption(options)
  const { layout, names } = binding.unpack(view, verify)
  return makeViews(view, layout, names)
}

/**
 * @param {unknown} path
 * @param {unknown} parts
 * @param {unknown} [options]
 */
function savePacked(path, parts, options) {
  const p = checkPath(path)
  const { views, kinds, names } = normalizeParts(parts)
  // Held until the write settles: views of memory that may shrink are copied now.
  for (let i = 0; i < views.length; i++) views[i] = held(views[i])
  const [align, checksum] = packOptions(options, SAVE_KEYS)
  const [flags, mode, signal] = writeOptions(options, false, SAVE_KEYS)
  const save = { align, checksum, flags, mode }
  return withSignal(signal, (token) => binding.savePacked(p, views, kinds, names, save, token))
}

/**
 * @param {unknown} path
 * @param {unknown} [options]
 */
function loadPacked(path, options) {
  const p = checkPath(path)
  const o = checkObject(options, 'options')
  const verify = verifyOption(o, LOAD_KEYS)
  const mmap = o === undefined || o.mmap === undefined ? false : checkBool(o.mmap, 'options.mmap')
  const read = mmap ? binding.mapFile(p) : readFile(p)
  return read.then((ab) => unpack(ab, { verify }))
}

module.exports = { pack, packedSize, packInto, unpack, savePacked, loadPacked }
