// @ts-check
'use strict'
// Bytes in: any ArrayBuffer, SharedArrayBuffer, ArrayBufferView or string, checked and
// shaped for the binding (bare buffers become a Uint8Array over the same memory: Node 20's
// Node-API cannot see a bare SharedArrayBuffer). No copy is made here, but of memory abio
// would hold past the call that may shrink under it (`held`).

const { isAnyArrayBuffer, isArrayBuffer } = require('node:util/types')
const { invalidType, invalidValue } = require('./errors')

const BYTES = 'an ArrayBuffer, SharedArrayBuffer, Buffer, TypedArray or DataView'
const DATA = `a string or ${BYTES}`

/** @typedef {string | ArrayBufferView} Part A `Data` value as the binding takes it. */

/**
 * Whether `view`'s memory was transferred away (its byteLength reads 0 or throws).
 * @param {ArrayBufferView | ArrayBufferLike} view
 */
function isDetached(view) {
  try {
    if (view.byteLength !== 0) return false
    // Constructing over a detached buffer throws; over an empty one it does not.
    new Uint8Array(ArrayBuffer.isView(view) ? view.buffer : view, 0, 0)
    return false
  } catch {
    return true
  }
}

/**
 * `value` as something `src/bytes/` takes (a view), or undefined if it is not `Bytes`.
 * @param {unknown} value
 * @param {string} name
 * @returns {ArrayBufferView | undefined}
 */
function asView(value, name) {
  if (ArrayBuffer.isView(value)) {
    if (isDetached(value)) throw invalidValue(name, 'must not be detached', value)
    return value
  }
  if (isAnyArrayBuffer(value)) {
    if (isDetached(value)) throw invalidValue(name, 'must not be detached', value)
    return new Uint8Array(value)
  }
  return undefined
}

/**
 * A `Bytes` argument as a view.
 * @param {unknown} value
 * @param {string} name
 * @returns {ArrayBufferView}
 */
function toView(value, name) {
  const view = asView(value, name)
  if (view === undefined) throw invalidType(name, `${BYTES}`, value)
  return view
}

/**
 * A `Data` argument: a string, or `Bytes` as a view.
 * @param {unknown} value
 * @param {string} name
 * @returns {Part}
 */
function toPart(value, name) {
  if (typeof value === 'string') return value
  const view = asView(value, name)
  if (view === undefined) throw invalidType(name, DATA, value)
  return view
}

/**
 * A `Data | Data[]` argument.
 * @param {unknown} value
 * @param {string} name
 * @returns {Part | Part[]}
 */
function toData(value, name) {
  if (!Array.isArray(value)) return toPart(value, name)
  const parts = new Array(value.length)
  for (let i = 0; i < value.length; i++) parts[i] = toPart(value[i], `${name}[${i}]`)
  return parts
}

/**
 * Whether `buffer` may shrink or move: a resizable ArrayBuffer or a growable SharedArrayBuffer.
 * @param {ArrayBufferLike} buffer
 */
function isResizable(buffer) {
  const b = /** @type {{ resizable?: boolean, growable?: boolean }} */ (buffer)
  return b.resizable === true || b.growable === true
}

/**
 * `view` (or a string) as memory abio may hold past the call (async calls, routes, sends): a view
 * over a resizable ArrayBuffer or a growable SharedArrayBuffer is copied now, as a Uint8Array of
 * its current bytes, since `resize()` may decommit the pages abio would read later (design.md
 * section 2). Any other view is returned as it is: held, not copied.
 * @template {Part} P
 * @param {P} view
 * @returns {P | Uint8Array}
 */
function held(view) {
  if (typeof view === 'string' || !isResizable(view.buffer)) return view
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice()
}

/**
 * A `Data` argument abio holds past the call.
 * @param {unknown} value
 * @param {string} name
 * @returns {Part}
 */
function toHeldPart(value, name) {
  return held(toPart(value, name))
}

/**
 * A `Data | Data[]` argument abio holds past the call.
 * @param {unknown} value
 * @param {string} name
 * @returns {Part | Part[]}
 */
function toHeldData(value, name) {
  const d = toData(value, name)
  if (!Array.isArray(d)) return held(d)
  for (let i = 0; i < d.length; i++) d[i] = held(d[i])
  return d
}

/**
 * A view abio fills after the call returns (`readFileInto`, `readInto`): one over memory that may
 * shrink is refused, since a copy would not be the caller's memory.
 * @param {unknown} value
 * @param {string} name
 * @returns {ArrayBufferView}
 */
function toTarget(value, name) {
  if (!ArrayBuffer.isView(value)) throw invalidType(name, 'a Buffer, TypedArray or DataView', value)
  const view = toView(value, name)
  if (isResizable(view.buffer))
    throw invalidValue(
      name,
      'must not be a view of a resizable ArrayBuffer or growable SharedArrayBuffer (it is filled after the call returns)',
      value,
    )
  return view
}

/**
 * The exact bytes of `data` as an ArrayBuffer: the same ArrayBuffer when `data` is one or
 * a view spanning one whole, otherwise one copy of just the view's bytes (a
 * SharedArrayBuffer's bytes are always copied into a plain ArrayBuffer).
 * @param {unknown} data
 * @returns {ArrayBuffer}
 */
function toArrayBuffer(data) {
  const view = toView(data, 'data')
  const { buffer, byteOffset, byteLength } = view
  if (isArrayBuffer(buffer)) {
    if (byteOffset === 0 && byteLength === buffer.byteLength) return buffer
    return buffer.slice(byteOffset, byteOffset + byteLength)
  }
  const copy = new ArrayBuffer(byteLength)
  new Uint8Array(copy).set(new Uint8Array(buffer, byteOffset, byteLength))
  return copy
}

/**
 * A `Buffer` over the same memory as `data`: no copy.
 * @param {unknown} data
 * @returns {Buffer}
 */
function toBuffer(data) {
  if (Buffer.isBuffer(data)) return data
  const view = toView(data, 'data')
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength)
}

module.exports = {
  toView,
  toPart,
  toData,
  held,
  toHeldPart,
  toHeldData,
  toTarget,
  toArrayBuffer,
  toBuffer,
}
