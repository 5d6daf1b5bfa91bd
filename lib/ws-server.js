// @ts-check
'use strict'
// The server side of WebSocket upgrades: `serve({ websocket })` checked, the `upgrade` hook and
// `protocols` (the decider src/ws/upgrade.rs asks), and the opener that makes each new
// connection's `WebSocket`. No I/O here.

const { invalidType, invalidValue } = require('./errors')
const { optionNames, checkObject, checkIndex, headerList, headerRecord, isThenable } = require('./args')
const { ServeRequest, GlobalResponse } = require('./web')
const { WebSocket, report } = require('./ws')
const { CONNECTION_KEYS, connectionOptions, protocolList } = require('./ws-options')

/** @typedef {import('../binding.js').WsOptions} WsOptions */
/** @typedef {import('./ws').Handlers} Handlers */
/** @typedef {import('./ws').UpgradeRequest} UpgradeRequest */
/** @typedef {{ scheme: string, host: string, server: unknown }} Origin */

/** The names of `serve({ websocket })`. */
const SERVER_KEYS = optionNames(CONNECTION_KEYS, [
  'path',
  'upgrade',
  'upgradeTimeout',
  'protocols',
  'open',
  'message',
  'close',
  'pong',
])
/** The names of what an `upgrade` hook may return to accept. */
const ACCEPT_KEYS = optionNames(['data', 'headers', 'protocol'])

const DEFAULT_UPGRADE_TIMEOUT = 10000

/**
 * @param {unknown} value
 * @param {string} name
 * @returns {Function | undefined}
 */
function checkFunction(value, name) {
  if (value === undefined) return undefined
  if (typeof value !== 'function') throw invalidType(name, 'a function', value)
  return value
}

/**
 * `serve({ websocket })` checked, as src/http/ takes it (undefined: no upgrades). `origin` is
 * the server's, for the `upgrade` hook's `Request`.
 * @param {unknown} value
 * @param {Origin} origin
 * @returns {import('../binding.js').WsServeOptions | undefined}
 */
function serverOptions(value, origin) {
  const o = checkObject(value, 'options.websocket', SERVER_KEYS)
  if (o === undefined) return undefined
  if (o.path !== undefined && (typeof o.path !== 'string' || !o.path.startsWith('/')))
    throw invalidValue('options.websocket.path', "must be a string that starts with '/'", o.path)
  const handlers = /** @type {Handlers} */ ({
    open: checkFunction(o.open, 'options.websocket.open'),
    message: checkFunction(o.message, 'options.websocket.message'),
    close: checkFunction(o.close, 'options.websocket.close'),
    pong: checkFunction(o.pong, 'options.websocket.pong'),
  })
  const hook = /** @type {UpgradeHook | undefined} */ (checkFunction(o.upgrade, 'options.websocket.upgrade'))
  const protocols = o.protocols
  /** @type {string[] | undefined} */
  let list
  /** @type {((offered: string[]) => unknown) | undefined} */
  let choose
  if (typeof protocols === 'function') choose = /** @type {(offered: string[]) => unknown} */ (protocols)
  else if (protocols !== undefined) list = protocolList(protocols, 'options.websocket.protocols')
  const upgradeTimeout = checkIndex(o.upgradeTimeout, 'options.websocket.upgradeTimeout', DEFAULT_UPGRADE_TIMEOUT)
  const connection = connectionOptions(o, 'options.websocket')
  /** @type {Map<number, unknown>} */
  const kept = new Map()
  return {
    path: /** @type {string | undefined} */ (o.path),
    connection,
    protocols: list,
    upgradeTimeout,
    onOpen: opener(connection, handlers, kept),
    onUpgrade: hook === undefined && choose === undefined ? undefined : decider(hook, choose, list, origin, kept),
  }
}

/**
 * @typedef {(request: InstanceType<typeof ServeRequest>, server: unknown) => unknown} UpgradeHook
 */

/**
 * What stands for the native request behind an upgrade's `Request`: it has no body, and its
 * `signal` never aborts.
 */
const UPGRADE_NATIVE = {
  closed: () => new Promise(() => {}),
  body: () => Promise.resolve(new ArrayBuffer(0)),
  read: () => Promise.resolve(null),
  bodyToFile: () => Promise.resolve(0),
}

/**
 * A server's decider: runs the `upgrade` hook (and a `protocols` function) for each upgrade
 * request and answers through the native upgrade: 101 with the hook's `headers` and `protocol`
 * (its `data` kept for the connection under its id), or the refusal it returned (`false`: 401);
 * 500 when it threw or returned something else (logged). src/ws/upgrade.rs answers 503 when it
 * takes longer than `upgradeTimeout`.
 * @param {UpgradeHook | undefined} hook
 * @param {((offered: string[]) => unknown) | undefined} choose
 * @param {string[] | undefined} list
 * @param {Origin} origin
 * @param {Map<number, unknown>} kept
 * @returns {NonNullable<import('../binding.js').WsServeOptions['onUpgrade']>}
 */
function decider(hook, choose, list, origin, kept) {
  /** @param {string[]} offered */
  const pick = (offered) => {
    if (choose !== undefined) {
      const p = choose(offered)
      if (p === undefined || p === null || p === false) return undefined
      if (typeof p !== 'string') throw invalidType('the protocols function result', 'a string or undefined', p)
      return p
    }
    return list === undefined ? offered[0] : offered.find((p) => list.includes(p))
  }
  /**
   * @param {import('../binding.js').NativeUpgrade} native
   * @param {unknown} err
   */
  const failed = (native, err) => {
    native.refuse(500, [], undefined)
    report('upgrade', err)
  }
  /**
   * @param {import('../binding.js').NativeUpgrade} native
   * @param {string[]} offered
   * @param {unknown} verdict
   */
  const answer = async (native, offered, verdict) => {
    if (verdict === false) return native.refuse(401, [], undefined)
    if (verdict instanceof GlobalResponse) {
      const res = /** @type {Response} */ (verdict)
      const body = new Uint8Array(await res.arrayBuffer())
      return native.refuse(res.status, headerList(res.headers, 'the refusal headers'), body)
    }
    const o = verdict === true || verdict === undefined ? {} : checkObject(verdict, 'the upgrade result', ACCEPT_KEYS)
    if (o === undefined)
      throw invalidType('the upgrade result', 'true, false, a Response or { data, headers, protocol }', verdict)
    const flat = headerList(o.headers, 'the upgrade result headers')
    let protocol = o.protocol === undefined ? pick(offered) : o.protocol
    if (protocol !== undefined && typeof protocol !== 'string')
      throw invalidType('the upgrade result protocol', 'of type string', protocol)
    // Kept only if the upgrade still waits (not timed out): the opener takes it out.
    if (native.accept(protocol, flat) && 'data' in o) kept.set(native.id, o.data)
  }
  return (native, method, url, flat, offered) => {
    let verdict
    try {
      verdict =
        hook === undefined
          ? true
          : hook(new ServeRequest(/** @type {any} */ (UPGRADE_NATIVE), method, url, flat, origin), origin.server)
    } catch (err) {
      failed(native, err)
      return
    }
    const settle = (/** @type {unknown} */ v) =>
      answer(native, offered, v).catch((err) => {
        kept.delete(native.id)
        failed(native, err)
      })
    if (isThenable(verdict)) verdict.then(settle, (err) => failed(native, err))
    else settle(verdict)
  }
}

/**
 * The Request-like `{ method, url, path, headers }` of an upgrade.
 * @param {string} method
 * @param {string} url
 * @param {string[]} flat
 * @returns {UpgradeRequest}
 */
function upgradeRequest(method, url, flat) {
  const q = url.indexOf('?')
  return { method, url, path: q < 0 ? url : url.slice(0, q), headers: headerRecord(flat) }
}

/**
 * A server's `onOpen`: wraps each new connection (with the `data` its upgrade hook kept) and
 * calls `open`; forgets the data of an accepted upgrade that never became a connection.
 * @param {WsOptions} connection
 * @param {Handlers} handlers
 * @param {Map<number, unknown>} kept
 * @returns {import('../binding.js').WsServeOptions['onOpen']}
 */
function opener(connection, handlers, kept) {
  return (id, native, method, url, flat) => {
    const data = kept.get(id)
    kept.delete(id)
    if (native === null) return
    const ws = new WebSocket(native, connection.backpressureLimit, handlers)
    ws.data = data
    if (handlers.open !== undefined) {
      try {
        handlers.open(ws, upgradeRequest(method, url, flat))
      } catch (err) {
        report('open', err)
      }
    }
  }
}

module.exports = { serverOptions }
