// @ts-check
'use strict'
// The web-standard side of `serve({ fetch })` (design.md section 12): the `Request` a handler
// gets and the `Response` it may return. No I/O here: bodies are read and written by
// src/http/exchange.rs through the native request.
//
// Both are lightweight, as @hono/node-server's are: a `ServeRequest` inherits from the global
// `Request.prototype` (so `instanceof Request` holds) but keeps only the native request, the
// method, the target and the flat header list until asked; `headers`, `url`, `signal` and
// `body` are built on first access, and whatever it does not implement itself is answered by
// a real `Request` made on demand. `Response` (installed as `globalThis.Response` by `serve()`
// unless `overrideGlobalObjects: false`) keeps `status`, `headers` and the body as given, so
// `new Response('hi')` costs an object, and the server sends the body as it is: a real
// undici `Response` is made only when the code asks for something only it has.

const GlobalRequest = globalThis.Request
const GlobalResponse = globalThis.Response
const GlobalHeaders = globalThis.Headers
const { checkPath, writeOptions, withSignal } = require('./args')
const { pullStream } = require('./streams')

/** @typedef {import('../binding.js').NativeRequest} NativeRequest */
/** @typedef {{ scheme: string, host: string }} Origin */
/** @typedef {import('undici-types').HeadersInit} HeadersInit */
/** @typedef {import('undici-types').BodyInit} BodyInit */
/** @typedef {import('undici-types').RequestInfo} RequestInfo */

/**
 * The real `Request` standing in for a `ServeRequest` (`new Request(serveRequest)` through the
 * installed global gets it).
 * @type {(req: ServeRequest) => globalThis.Request}
 */
let realRequestOf
/** @type {(value: unknown) => boolean} */
let isServeRequest
/** @type {(res: Response) => globalThis.Response} */
let realOf
/**
 * What the server sends for abio's `Response`: status, headers and body as kept, and the length
 * of the body a `HEAD` answer stands for (see `Response`'s constructor); undefined for another
 * response, or once a real one stands in.
 * @type {(res: object) => [number, Headers | HeadersInit | undefined, unknown, number | undefined] | undefined}
 */
let keptOf

const decoder = new TextDecoder()
const TEXT = 'text/plain;charset=UTF-8'
const JSON_TYPE = 'application/json'

/**
 * A host and a target that `new URL` would write as they are: the URL is their
 * concatenation (lower-case host, a port without leading zero; a target of characters URLs
 * keep, no dot segment).
 */
const PLAIN_HOST = /^[a-z0-9.-]+(?::[1-9]\d{0,3})?$/
const PLAIN_TARGET = /^\/[!$&(-;=?-[\]_a-z~]*$/i
const DOT_SEGMENT = /\/\.\.?(?:[/?]|$)/

/**
 * Whether `host` ends with its scheme's default port (`new URL` drops it).
 * @param {string} scheme
 * @param {string} host
 */
function defaultPort(scheme, host) {
  return host.endsWith(scheme === 'https' ? ':443' : ':80')
}

/**
 * Whether a `Host` header is a host and nothing else (no path, query, credentials).
 * @param {string} scheme
 * @param {string} host
 */
function isHost(scheme, host) {
  if (host === '' || /[/?#\\@\s]/.test(host)) return false
  try {
    const u = new URL(`${scheme}://${host}`)
    return u.hostname !== '' && u.pathname === '/'
  } catch {
    return false
  }
}

/** @param {string} reason */
function unusable(reason) {
  return new TypeError(`Body is unusable: ${reason}`)
}

/**
 * The flat header list's value for `name` (lower-case), the first one.
 * @param {string[]} flat
 * @param {string} name
 */
function flatGet(flat, name) {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1]
  return undefined
}

/**
 * All chunks of `stream` as one ArrayBuffer.
 * @param {ReadableStream<Uint8Array>} stream
 */
async function drain(stream) {
  /** @type {Uint8Array[]} */
  const parts = []
  let n = 0
  for await (const c of /** @type {AsyncIterable<Uint8Array>} */ (/** @type {unknown} */ (stream))) {
    parts.push(c)
    n += c.byteLength
  }
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out.buffer
}

/**
 * The request a `fetch` handler gets: a WHATWG `Request` (`instanceof Request`), plus abio's
 * `bodyToFile()` and `path`. Made by the server.
 */
class ServeRequest {
  /** @type {NativeRequest} */
  #native
  #method
  #target
  /** @type {string[]} */
  #flat
  /** @type {Origin} */
  #origin
  /** @type {string | undefined} */
  #url
  /** @type {Headers | undefined} */
  #headers
  /** @type {AbortSignal | undefined} */
  #signal
  /** @type {ReadableStream<Uint8Array> | undefined} */
  #stream
  #used = false
  /** @type {Request | undefined} */
  #real

  /**
   * @internal Made by the server.
   * @param {NativeRequest} native
   * @param {string} method
   * @param {string} target
   * @param {string[]} flat
   * @param {Origin} origin
   */
  constructor(native, method, target, flat, origin) {
    this.#native = native
    this.#method = method
    this.#target = target
    this.#flat = flat
    this.#origin = origin
  }

  get method() {
    return this.#method
  }

  /**
   * The absolute URL, as `new URL` would write it: the connection's scheme, the `Host` header
   * (the server's address when it is missing or not a host), the target.
   */
  get url() {
    if (this.#url !== undefined) return this.#url
    const { scheme, host: own } = this.#origin
    const given = flatGet(this.#flat, 'host')
    const target = this.#target
    if (given !== undefined && PLAIN_HOST.test(given) && !defaultPort(scheme, given) && PLAIN_TARGET.test(target))
      if (!DOT_SEGMENT.test(target)) return (this.#url = `${scheme}://${given}${target}`)
    const host = given !== undefined && isHost(scheme, given) ? given : own
    const path = target.startsWith('/') ? target : `/${target}`
    return (this.#url = new URL(path, `${scheme}://${host}`).href)
  }

  /** The path of the target, without the query (abio's). */
  get path() {
    const q = this.#target.indexOf('?')
    return q < 0 ? this.#target : this.#target.slice(0, q)
  }

  get headers() {
    if (this.#headers !== undefined) return this.#headers
    const h = new GlobalHeaders()
    const flat = this.#flat
    for (let i = 0; i < flat.length; i += 2) h.append(flat[i], flat[i + 1])
    return (this.#headers = h)
  }

  /** Aborted when the client goes away before the answer is sent. */
  get signal() {
    if (this.#signal !== undefined) return this.#signal
    const ac = new AbortController()
    this.#native.closed().then((left) => {
      if (left) ac.abort(new DOMException('The client closed the connection', 'AbortError'))
    })
    return (this.#signal = ac.signal)
  }

  /** The body as it arrives, a `ReadableStream` of `Uint8Array` (null for GET and HEAD). */
  get body() {
    if (this.#real !== undefined) return this.#real.body
    if (this.#stream !== undefined) return this.#stream
    if (this.#method === 'GET' || this.#method === 'HEAD') return null
    const native = this.#native
    this.#stream = pullStream(
      async () => {
        this.#used = true
        const piece = await native.read()
        return piece === null ? undefined : new Uint8Array(piece)
      },
      () => {},
    )
    return this.#stream
  }

  /** Whether the body was read (or is being read), by any of the ways to read it. */
  get bodyUsed() {
    return this.#real !== undefined ? this.#real.bodyUsed : this.#used
  }

  /**
   * Marks the body read, or says why it cannot be.
   * @returns {TypeError | undefined}
   */
  #take() {
    if (this.#used || this.#stream?.locked) return unusable('the body was already read')
    this.#used = true
    return undefined
  }

  /** @returns {Promise<ArrayBuffer>} */
  arrayBuffer() {
    if (this.#real !== undefined) return this.#real.arrayBuffer()
    const refused = this.#take()
    if (refused !== undefined) return Promise.reject(refused)
    if (this.#stream !== undefined) return drain(this.#stream)
    if (this.#method === 'GET' || this.#method === 'HEAD') return Promise.resolve(new ArrayBuffer(0))
    return this.#native.body()
  }

  async bytes() {
    return new Uint8Array(await this.arrayBuffer())
  }

  async text() {
    return decoder.decode(await this.arrayBuffer())
  }

  async json() {
    return JSON.parse(await this.text())
  }

  async blob() {
    return new Blob([await this.arrayBuffer()], { type: flatGet(this.#flat, 'content-type') ?? '' })
  }

  /** `application/x-www-form-urlencoded` and `multipart/form-data`, parsed by undici. */
  async formData() {
    const type = flatGet(this.#flat, 'content-type') ?? ''
    return new GlobalResponse(await this.arrayBuffer(), { headers: { 'content-type': type } }).formData()
  }

  /**
   * Streams the body to the file `path` as it arrives (abio's; see index.d.ts).
   * @param {unknown} path
   * @param {unknown} [options]
   * @returns {Promise<number>}
   */
  bodyToFile(path, options) {
    const p = checkPath(path)
    const [flags, mode, signal] = writeOptions(options, true)
    const refused = this.#real !== undefined ? unusable('the body was handed to a Request') : this.#take()
    if (refused !== undefined) return Promise.reject(refused)
    return withSignal(signal, (token) => this.#native.bodyToFile(p, flags, mode, token))
  }

  clone() {
    return this.#realize().clone()
  }

  /** A real `Request` standing in for this one (it takes over the body). */
  #realize() {
    if (this.#real !== undefined) return this.#real
    const hasBody = this.#method !== 'GET' && this.#method !== 'HEAD'
    /** @type {RequestInit & { duplex?: 'half' }} */
    const init = { method: this.#method, headers: this.headers, signal: this.signal }
    if (hasBody && !this.#used && !this.#stream?.locked) {
      init.body = /** @type {ReadableStream<Uint8Array>} */ (this.body)
      init.duplex = 'half'
    }
    this.#real = new GlobalRequest(this.url, init)
    return this.#real
  }

  static {
    realRequestOf = (req) => req.#realize()
    isServeRequest = (value) => value !== null && typeof value === 'object' && #native in value
  }
}

// Whatever abio's request does not answer itself comes from a real one.
for (const k of [
  'cache',
  'credentials',
  'destination',
  'integrity',
  'mode',
  'redirect',
  'referrer',
  'referrerPolicy',
  'keepalive',
  'isReloadNavigation',
  'isHistoryNavigation',
  'duplex',
]) {
  Object.defineProperty(ServeRequest.prototype, k, {
    get() {
      return /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (realRequestOf(this)))[k]
    },
  })
}
Object.defineProperty(ServeRequest.prototype, Symbol.toStringTag, { value: 'Request' })
Object.setPrototypeOf(ServeRequest.prototype, GlobalRequest.prototype)

/** The global `Request` while abio's are installed: unwraps a `ServeRequest` given to it. */
class Request extends GlobalRequest {
  /**
   * @param {RequestInfo | URL} input
   * @param {RequestInit} [init]
   */
  constructor(input, init) {
    super(
      isServeRequest(input) ? realRequestOf(/** @type {ServeRequest} */ (/** @type {unknown} */ (input))) : input,
      init,
    )
  }

  /** @param {unknown} value */
  static [Symbol.hasInstance](value) {
    return this === Request ? value instanceof GlobalRequest : Function.prototype[Symbol.hasInstance].call(this, value)
  }
}

/** Statuses a body may not have. */
const NULL_BODY = new Set([101, 103, 204, 205, 304])

/**
 * What abio's `Response` keeps: status, headers as given (or made), body as given.
 * @typedef {{ status: number, statusText: string, headers: HeadersInit | Headers | undefined, body: unknown }} Kept
 */

/**
 * Whether `init` is a plain `{ status, statusText, headers }` abio can keep as is.
 * @param {unknown} body
 * @param {ResponseInit | undefined} init
 */
function keepable(body, init) {
  if (init !== undefined) {
    if (init === null || typeof init !== 'object' || Object.getPrototypeOf(init) !== Object.prototype) return false
    for (const k in init) if (k !== 'status' && k !== 'statusText' && k !== 'headers') return false
    const s = init.status
    if (s !== undefined && (typeof s !== 'number' || !Number.isInteger(s) || s < 200 || s > 599)) return false
    if (init.statusText !== undefined && typeof init.statusText !== 'string') return false
    if (s !== undefined && body != null && NULL_BODY.has(s)) return false
  }
  return (
    body == null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof ReadableStream ||
    body instanceof Blob
  )
}

/**
 * A WHATWG `Response` that keeps what it was given until something only a real one has is
 * asked for (`body`, `text()`, `clone()`, ...). `instanceof Response` holds both ways.
 */
class Response {
  /** @type {Kept | undefined} */
  #kept
  /** @type {globalThis.Response | undefined} */
  #real
  /** @type {Headers | undefined} */
  #headers
  /**
   * `new Response(null, res)`, as frameworks answer a `HEAD` with their `GET` answer: the
   * length of `res`'s body, the `content-length` a `HEAD` says (RFC 9110 section 8.6).
   * @type {number | undefined}
   */
  #headLength

  /**
   * @param {BodyInit | null} [body]
   * @param {ResponseInit} [init]
   */
  constructor(body = null, init = undefined) {
    // `new Response(res.body, res)` (a middleware adding a header, as Hono's do): the body
    // stream of one of abio's responses, unread, stands for the bytes it was made from, and
    // the response given as init for its status and headers.
    if (body instanceof ReadableStream && !body.locked && sources.has(body))
      body = /** @type {BodyInit} */ (sources.get(body))
    if (init instanceof GlobalResponse) {
      const r = /** @type {globalThis.Response} */ (init)
      const given = body == null ? keptOf(r)?.[2] : undefined
      if (typeof given === 'string') this.#headLength = Buffer.byteLength(given)
      else if (given instanceof ArrayBuffer || ArrayBuffer.isView(given)) this.#headLength = given.byteLength
      init = { status: r.status, statusText: r.statusText, headers: r.headers }
    }
    if (keepable(body, init)) {
      this.#kept = { status: init?.status ?? 200, statusText: init?.statusText ?? '', headers: init?.headers, body }
    } else {
      this.#real = new GlobalResponse(body, init)
    }
  }

  /** @param {unknown} value */
  static [Symbol.hasInstance](value) {
    return this === Response
      ? value instanceof GlobalResponse
      : Function.prototype[Symbol.hasInstance].call(this, value)
  }

  /**
   * @param {unknown} data
   * @param {ResponseInit} [init]
   */
  static json(data, init) {
    const body = JSON.stringify(data)
    if (body === undefined) throw new TypeError('Response.json: the data is not JSON serializable')
    const headers = new GlobalHeaders(init?.headers)
    if (!headers.has('content-type')) headers.set('content-type', JSON_TYPE)
    return new Response(body, { ...init, headers })
  }

  /**
   * @param {string | URL} url
   * @param {number} [status]
   */
  static redirect(url, status = 302) {
    if (![301, 302, 303, 307, 308].includes(status)) throw new RangeError(`Invalid status code ${status}`)
    return new Response(null, { status, headers: { location: new URL(url).href } })
  }

  get status() {
    return this.#kept?.status ?? this.#realize().status
  }

  get ok() {
    const s = this.status
    return s >= 200 && s <= 299
  }

  get statusText() {
    return this.#kept?.statusText ?? this.#realize().statusText
  }

  get headers() {
    const kept = this.#kept
    if (kept === undefined) return this.#realize().headers
    if (this.#headers !== undefined) return this.#headers
    const h = new GlobalHeaders(/** @type {HeadersInit | undefined} */ (kept.headers))
    if (!h.has('content-type')) {
      const b = kept.body
      if (typeof b === 'string') h.set('content-type', TEXT)
      else if (b instanceof Blob && b.type !== '') h.set('content-type', b.type)
    }
    return (this.#headers = h)
  }

  /** The real `Response` that stands in from now on (it takes over the body). */
  #realize() {
    if (this.#real !== undefined) return this.#real
    const kept = /** @type {Kept} */ (this.#kept)
    this.#kept = undefined
    const headers = this.#headers ?? /** @type {HeadersInit | undefined} */ (kept.headers)
    this.#real = new GlobalResponse(/** @type {BodyInit | null} */ (kept.body), {
      status: kept.status,
      statusText: kept.statusText,
      headers,
    })
    return this.#real
  }

  static {
    realOf = (res) => res.#realize()
    keptOf = (res) => {
      if (!(#kept in res)) return undefined
      const kept = /** @type {Response} */ (res).#kept
      if (kept === undefined) return undefined
      const headers = /** @type {Response} */ (res).#headers ?? /** @type {HeadersInit | undefined} */ (kept.headers)
      return [kept.status, headers, kept.body, /** @type {Response} */ (res).#headLength]
    }
  }
}

/**
 * The bytes behind the body stream of one of abio's responses (handed out by `body`), so a
 * `Response` made from that stream, unread, keeps them instead.
 * @type {WeakMap<ReadableStream, unknown>}
 */
const sources = new WeakMap()

Object.defineProperty(Response.prototype, 'body', {
  get() {
    const kept = keptOf(this)
    const stream = realOf(this).body
    if (kept !== undefined && stream !== null && !(kept[2] instanceof ReadableStream)) sources.set(stream, kept[2])
    return stream
  },
})
Object.defineProperty(Response.prototype, 'bodyUsed', {
  get() {
    // Bytes kept as given are unread.
    return keptOf(this) === undefined && realOf(this).bodyUsed
  },
})
for (const k of ['redirected', 'type', 'url']) {
  Object.defineProperty(Response.prototype, k, {
    get() {
      return /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (realOf(this)))[k]
    },
  })
}
for (const k of ['arrayBuffer', 'blob', 'bytes', 'clone', 'formData', 'json', 'text']) {
  Object.defineProperty(Response.prototype, k, {
    value() {
      const real = /** @type {Record<string, () => unknown>} */ (/** @type {unknown} */ (realOf(this)))
      return real[k]()
    },
    writable: true,
    configurable: true,
  })
}
Object.defineProperty(Response.prototype, Symbol.toStringTag, { value: 'Response' })
Object.setPrototypeOf(Response, GlobalResponse)
Object.setPrototypeOf(Response.prototype, GlobalResponse.prototype)

let installed = false

/**
 * Makes abio's `Request` and `Response` the globals (once): `new Response(...)` in a handler
 * then costs an object, not a stream. `instanceof` holds for both kinds either way.
 */
function installGlobals() {
  if (installed) return
  installed = true
  Object.defineProperty(globalThis, 'Request', { value: Request, writable: true, configurable: true })
  Object.defineProperty(globalThis, 'Response', { value: Response, writable: true, configurable: true })
}

module.exports = { ServeRequest, Response, GlobalResponse, keptOf, installGlobals }
