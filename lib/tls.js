// @ts-check
'use strict'
// TLS options: the `tls` option of serve/listen (certificates) and connect (trust), and the
// `ca`/`rejectUnauthorized`/`servername`/`cert`/`key`/`passphrase` options of request,
// download and connectWebSocket, checked here and made into contexts by src/tls/ (which
// parses the PEM and throws ABIO_ERR_INVALID_ARG for what does not parse). No I/O here.

const binding = require('../binding.js')
const { toPart } = require('./bytes')
const { invalidType, invalidValue } = require('./errors')
const { optionNames, checkObject, checkBool, checkIndex } = require('./args')

/** @typedef {import('./bytes').Part} Part */

/** Milliseconds a server gives a TLS handshake, then drops the connection. */
const HANDSHAKE_TIMEOUT = 10_000

/** The names of TlsServerOptions (each entry of a server's `tls`). */
const TLS_SERVER_KEYS = optionNames(['cert', 'key', 'passphrase', 'ca', 'requestCert', 'serverName', 'ALPNProtocols'])
/** The names of TlsClientOptions (connect's `tls`; also options of request, download, connectWebSocket). */
const TLS_CLIENT_KEYS = optionNames([
  'ca',
  'rejectUnauthorized',
  'servername',
  'cert',
  'key',
  'passphrase',
  'ALPNProtocols',
])

/** What request(), download() and connectWebSocket() offer by ALPN. */
const HTTP1 = ['http/1.1']

/**
 * @param {unknown} value
 * @param {string} name
 * @returns {string | undefined}
 */
function optString(value, name) {
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw invalidType(name, 'of type string', value)
  return value
}

/**
 * `Data | Data[]` of PEM blobs (`ca`), as a list.
 * @param {unknown} value
 * @param {string} name
 * @returns {Part[] | undefined}
 */
function pemList(value, name) {
  if (value === undefined) return undefined
  if (!Array.isArray(value)) return [toPart(value, name)]
  return value.map((v, i) => toPart(v, `${name}[${i}]`))
}

/**
 * ALPN protocol names (Node's `ALPNProtocols`, as strings).
 * @param {unknown} value
 * @param {string} name
 * @param {string[]} fallback
 * @returns {string[]}
 */
function alpnList(value, name, fallback) {
  if (value === undefined) return fallback
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 255))
    throw invalidType(name, 'an array of protocol names (strings of 1 to 255 characters)', value)
  return value
}

/**
 * The TLS context of a server (`serve`, `listen`) from its `tls` option, or undefined.
 * @param {unknown} tls `TlsServerOptions | TlsServerOptions[]`
 * @param {string} name
 * @param {string[]} alpn what the server offers when the option does not say
 */
function serverContext(tls, name, alpn) {
  if (tls === undefined || tls === null || tls === false) return undefined
  const list = Array.isArray(tls) ? tls : [tls]
  if (list.length === 0) throw invalidValue(name, 'must hold at least one certificate', tls)
  let offered = alpn
  const specs = list.map((item, i) => {
    const n = Array.isArray(tls) ? `${name}[${i}]` : name
    const o = checkObject(item, n, TLS_SERVER_KEYS)
    if (o === undefined) throw invalidType(n, 'an object with cert and key', item)
    if (o.cert === undefined) throw invalidType(`${n}.cert`, 'a PEM certificate (string or bytes)', o.cert)
    if (o.key === undefined) throw invalidType(`${n}.key`, 'a PEM private key (string or bytes)', o.key)
    if (i === 0) offered = alpnList(o.ALPNProtocols, `${n}.ALPNProtocols`, alpn)
    return {
      cert: toPart(o.cert, `${n}.cert`),
      key: toPart(o.key, `${n}.key`),
      passphrase: optString(o.passphrase, `${n}.passphrase`),
      ca: pemList(o.ca, `${n}.ca`) ?? [],
      requestCert: checkBool(o.requestCert, `${n}.requestCert`),
      serverName: optString(o.serverName, `${n}.serverName`),
    }
  })
  return binding.tlsServerContext(specs, offered, name)
}

/**
 * A server's `handshakeTimeout` option (ms).
 * @param {unknown} value
 * @param {string} name
 */
function handshakeTimeout(value, name) {
  const ms = checkIndex(value, name, HANDSHAKE_TIMEOUT)
  if (ms === 0) throw invalidValue(name, 'must be at least 1 ms', value)
  return ms
}

/**
 * The TLS context of a client from Node's option names (`ca`, `rejectUnauthorized`,
 * `servername`, `cert`, `key`, `passphrase`, `ALPNProtocols`) on `o`.
 * @param {Record<string, unknown>} o
 * @param {string} name
 * @param {string[]} alpn what the client offers when the options do not say
 */
function clientContext(o, name, alpn) {
  const reject = o.rejectUnauthorized
  if (reject !== undefined && typeof reject !== 'boolean')
    throw invalidType(`${name}.rejectUnauthorized`, 'of type boolean', reject)
  const spec = {
    ca: pemList(o.ca, `${name}.ca`),
    rejectUnauthorized: reject !== false,
    servername: optString(o.servername, `${name}.servername`),
    cert: o.cert === undefined ? undefined : toPart(o.cert, `${name}.cert`),
    key: o.key === undefined ? undefined : toPart(o.key, `${name}.key`),
    passphrase: optString(o.passphrase, `${name}.passphrase`),
  }
  if ((spec.cert === undefined) !== (spec.key === undefined))
    throw invalidValue(name, 'must give cert and key together', o)
  return binding.tlsClientContext(spec, alpnList(o.ALPNProtocols, `${name}.ALPNProtocols`, alpn), name)
}

const CLIENT_KEYS = ['ca', 'rejectUnauthorized', 'servername', 'cert', 'key', 'passphrase']

/**
 * The TLS context of request()/download()/connectWebSocket() when their options name any
 * TLS option; undefined (the default context: Mozilla's roots and NODE_EXTRA_CA_CERTS)
 * otherwise.
 * @param {Record<string, unknown>} o
 */
function requestContext(o) {
  if (!CLIENT_KEYS.some((k) => o[k] !== undefined)) return undefined
  return clientContext(o, 'options', HTTP1)
}

/**
 * connect()'s `tls` option: `true` (default trust) or client options; undefined for plain.
 * @param {unknown} tls
 */
function connectContext(tls) {
  if (tls === undefined || tls === false) return undefined
  if (tls === true) return clientContext({}, 'options.tls', [])
  const o = checkObject(tls, 'options.tls', TLS_CLIENT_KEYS)
  if (o === undefined) throw invalidType('options.tls', 'true or an object', tls)
  return clientContext(o, 'options.tls', [])
}

module.exports = { serverContext, handshakeTimeout, requestContext, connectContext, HTTP1, TLS_CLIENT_KEYS }
