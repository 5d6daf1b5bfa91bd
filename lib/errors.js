// @ts-check
'use strict'
// The errors the JS layer throws before a call reaches Rust. Everything else is made by
// src/error.rs; both use the same codes and shapes.

const { inspect } = require('node:util')

const INVALID_ARG = 'ABIO_ERR_INVALID_ARG'

/** @typedef {Error & { code: string }} CodedError An error with a Node-style `code`. */

/** @param {unknown} value */
function describe(value) {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const name = value.constructor && value.constructor.name
    return name ? `an instance of ${name}` : inspect(value, { depth: -1 })
  }
  let shown = inspect(value, { colors: false })
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  return `type ${typeof value} (${shown})`
}

/**
 * @template {Error} E
 * @param {E} err
 * @returns {E & { code: string }}
 */
function withCode(err) {
  return Object.assign(err, { code: INVALID_ARG })
}

/**
 * A `TypeError`: `name` got `value`, which is not `expected`.
 * @param {string} name
 * @param {string} expected
 * @param {unknown} value
 */
function invalidType(name, expected, value) {
  return withCode(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`))
}

/**
 * A `TypeError` for a value of the right type that is unusable.
 * @param {string} name
 * @param {string} reason
 * @param {unknown} value
 */
function invalidValue(name, reason, value) {
  return withCode(new TypeError(`The "${name}" argument ${reason}. Received ${describe(value)}`))
}

/**
 * A `RangeError`: `name` is outside `range`.
 * @param {string} name
 * @param {string} range
 * @param {unknown} value
 */
function outOfRange(name, range, value) {
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`),
  )
}

/**
 * Edit distance between two short names (an option name against the known ones), capped:
 * anything over `cap` is `cap + 1`.
 * @param {string} a
 * @param {string} b
 */
function distance(a, b, cap = 2) {
  if (Math.abs(a.length - b.length) > cap) return cap + 1
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return Math.min(prev[b.length], cap + 1)
}

/**
 * A `TypeError` for an option name its options object does not have (a typo such as
 * `prot`): names the key, the object and the known names, and the nearest known one.
 * @param {string} name the options object, e.g. `'options'` or `'options.tls'`
 * @param {string} key
 * @param {Iterable<string>} known
 */
function unknownOption(name, key, known) {
  const names = [...known]
  const lower = key.toLowerCase()
  let best = names.find((k) => k.toLowerCase() === lower)
  if (best === undefined) {
    let d = 3
    for (const k of names) {
      const dk = distance(key, k)
      if (dk < d && dk < key.length) [best, d] = [k, dk]
    }
  }
  const hint = best === undefined ? '' : ` (did you mean '${best}'?)`
  return withCode(new TypeError(`The option '${name}.${key}' is not known${hint}; known options: ${names.join(', ')}`))
}

/**
 * Node's `AbortError` (name `AbortError`, code `ABORT_ERR`), with the signal's reason as `cause`.
 * @param {unknown} reason
 * @returns {CodedError}
 */
function abortError(reason) {
  const err = new Error('The operation was aborted', reason === undefined ? undefined : { cause: reason })
  err.name = 'AbortError'
  return Object.assign(err, { code: 'ABORT_ERR' })
}

/** `ABIO_ERR_CLOSED`, as src/error.rs makes it, for calls the JS layer refuses itself. */
/** @returns {CodedError} */
function closedError(what = 'socket') {
  return Object.assign(new Error(`The ${what} is closed`), { code: 'ABIO_ERR_CLOSED' })
}

/**
 * Node's `ERR_INVALID_STATE`: a call the object cannot take in its state or role.
 * @param {string} message
 * @returns {CodedError}
 */
function invalidState(message) {
  return Object.assign(new Error(message), { code: 'ERR_INVALID_STATE' })
}

module.exports = {
  INVALID_ARG,
  invalidType,
  invalidValue,
  outOfRange,
  unknownOption,
  abortError,
  closedError,
  invalidState,
}
