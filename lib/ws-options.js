// @ts-check
'use strict'
// WebSocket options shared by a server's `websocket` and `connectWebSocket()`: the connection's
// limits, permessage-deflate, subprotocol lists. No I/O here.

const { invalidType, invalidValue, outOfRange } = require('./errors')
const { optionNames, checkObject, checkIndex, checkBool } = require('./args')

/** @typedef {import('../binding.js').WsOptions} WsOptions */

/** The names of WebSocketConnectionOptions, shared by a server's and a client's options. */
const CONNECTION_KEYS = ['maxPayload', 'backpressureLimit', 'pingInterval', 'perMessageDeflate']
/** The names of `perMessageDeflate`'s options. */
const DEFLATE_KEYS = optionNames([
  'threshold',
  'serverNoContextTakeover',
  'clientNoContextTakeover',
  'serverMaxWindowBits',
  'clientMaxWindowBits',
])
/** Messages shorter than this are sent uncompressed by default (as `ws`). */
const DEFAULT_THRESHOLD = 1024
const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024
const DEFAULT_BACKPRESSURE = 1024 * 1024
/**
 * The connection options of a server or client: maxPayload, backpressureLimit, pingInterval,
 * perMessageDeflate.
 * @param {Record<string, unknown>} o
 * @param {string} at
 * @returns {WsOptions}
 */
function connectionOptions(o, at) {
  const maxPayload = checkIndex(o.maxPayload, `${at}.maxPayload`, DEFAULT_MAX_PAYLOAD)
  const backpressureLimit = checkIndex(o.backpressureLimit, `${at}.backpressureLimit`, DEFAULT_BACKPRESSURE)
  const pingInterval = checkIndex(o.pingInterval, `${at}.pingInterval`, 0)
  const perMessageDeflate = deflateOptions(o.perMessageDeflate, `${at}.perMessageDeflate`)
  return { maxPayload, backpressureLimit, pingInterval, perMessageDeflate }
}

/**
 * `perMessageDeflate`: `true`, `false` (the default) or RFC 7692's parameters.
 * @param {unknown} value
 * @param {string} at
 * @returns {import('../binding.js').DeflateSpec | undefined}
 */
function deflateOptions(value, at) {
  if (value === undefined || value === false) return undefined
  const o = value === true ? {} : checkObject(value, at, DEFLATE_KEYS)
  if (o === undefined) throw invalidType(at, 'a boolean or an object', value)
  /**
   * @param {unknown} v
   * @param {string} name
   */
  const bits = (v, name) => {
    if (v === undefined) return 15
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 8 || v > 15)
      throw outOfRange(`${at}.${name}`, 'an integer >= 8 and <= 15', v)
    return v
  }
  return {
    threshold: checkIndex(o.threshold, `${at}.threshold`, DEFAULT_THRESHOLD),
    serverNoContextTakeover: checkBool(o.serverNoContextTakeover, `${at}.serverNoContextTakeover`),
    clientNoContextTakeover: checkBool(o.clientNoContextTakeover, `${at}.clientNoContextTakeover`),
    serverMaxWindowBits: bits(o.serverMaxWindowBits, 'serverMaxWindowBits'),
    clientMaxWindowBits: bits(o.clientMaxWindowBits, 'clientMaxWindowBits'),
  }
}

/**
 * A list of subprotocols: a string or an array of strings.
 * @param {unknown} value
 * @param {string} name
 * @returns {string[]}
 */
function protocolList(value, name) {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || !list.every((p) => typeof p === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p)))
    throw invalidType(name, 'a subprotocol name or an array of them (HTTP tokens)', value)
  if (new Set(list).size !== list.length) throw invalidValue(name, 'must not name a subprotocol twice', value)
  return list
}

module.exports = { CONNECTION_KEYS, connectionOptions, protocolList }
