// abio's public typings: the HTTP server. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { Bytes, Data, WriteOptions } from './bytes'
import type { HeadersInput } from './headers'
import type { WebSocketOptions } from './ws'
import type { TlsServerOptions } from './tls'

/**
 * A route answered in Rust, without entering JS: `Bytes` (sent as
 * `application/octet-stream`), or `{ body, contentType, headers }` (a string body defaults
 * to `text/plain; charset=utf-8`). The body is held, not copied, until the route is
 * replaced by `reload()` or the server is closed: do not modify it meanwhile (its `ETag` is
 * computed when the route is set). Its `ArrayBuffer` is marked untransferable
 * (`worker_threads.markAsUntransferable`), so it cannot be moved away and freed under the
 * server. `headers` may set `etag` (then compared with `If-None-Match`), not
 * `content-length`, `transfer-encoding` or `content-range`, which abio sets.
 */
export type Route = Bytes | { body: Data; contentType?: string; headers?: Record<string, string> } | FileRoute

/**
 * A file answered in Rust, its type from the extension (`.html` `text/html; charset=utf-8`,
 * `.json`, `.js`, `.css`, `.svg`, `.png`, `.wasm`, ...; else `application/octet-stream`)
 * unless `contentType` is given, with `ETag` and `Last-Modified` from the file (304 for
 * `If-None-Match`, else `If-Modified-Since`) and single byte ranges. A relative path is
 * resolved when `serve()`/`reload()` is called, and the file must exist then (else they
 * reject/throw `ENOENT`); afterwards each request sees the file as it is now (one `stat`
 * per request): a changed file is read again, a removed one is 404. Files up to 8 MiB are
 * kept in memory (at most 256 MiB per server) and answered without reading them; larger
 * ones are read per request as the client takes them. Never memory-mapped, so truncating a
 * file under the server cannot crash it: the client sees a cut response. `headers` may not
 * set `etag`, `last-modified`, `content-length`, `transfer-encoding` or `content-range`.
 */
export interface FileRoute {
  file: string | URL
  contentType?: string
  headers?: Record<string, string>
}

/**
 * The request a {@link ServeOptions.fetch} handler gets: a WHATWG `Request`
 * (`request instanceof Request` holds), usable by code written for Bun.serve, Deno.serve,
 * Cloudflare Workers or Hono: `url` is absolute (the connection's scheme, the `Host` header,
 * the target; so `new URL(request.url)` works), `headers` is a `Headers`, `signal` aborts when
 * the client goes away before the answer is sent, and the body is read with
 * `arrayBuffer()`/`bytes()`/`text()`/`json()`/`formData()` (urlencoded and multipart)/`blob()`,
 * or as it arrives from `body` (a `ReadableStream`: `for await (const chunk of request.body)`).
 * `headers`, `url`, `signal` and `body` are made on first access: a handler that reads only
 * `method` and `url` pays for nothing else.
 *
 * The body is read once (then `Body is unusable`). Over `maxBodySize` the read rejects with a
 * `RangeError` `code: 'ABIO_ERR_BODY_TOO_LARGE'`, and the answer is 413 whatever the handler
 * then returns; a malformed chunked body rejects with `code: 'ABIO_ERR_HTTP_PARSE'` (answer
 * 400); a client that sends no byte of its body for `bodyTimeout` has its connection closed
 * and the read rejects with `code: 'ABIO_ERR_TIMEOUT'`; one closing midway, `ABIO_ERR_CLOSED`.
 */
export class ServeRequest extends Request {
  private constructor()
  /** The whole body as a `Uint8Array` over one exact `ArrayBuffer`. */
  bytes(): Promise<Uint8Array>
  /** The path of the target, without the query (abio's; `new URL(request.url).pathname` decoded the same way). */
  readonly path: string
  /**
   * Streams the body to the file `path` as it arrives (never whole in memory); resolves with
   * the bytes written. Instead of the body methods, once. Atomic unless `options.atomic` is
   * `false` (or `append` is set): a body cut short (the client gone, `maxBodySize`, the
   * signal) rejects and leaves the old file as it was, with no temporary file behind; a file
   * it created is removed. Errors as for the body methods.
   * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for a bad path (a null byte, or a
   * `file:` URL with `%00`) or bad options, synchronously.
   */
  bodyToFile(path: string | URL, options?: WriteOptions): Promise<number>
}

/**
 * A body produced as it goes: a `ReadableStream` or an async iterable of chunks (strings or
 * `Bytes`), sent chunked as it comes. Each chunk is held, not copied, until written.
 */
export type StreamBody = ReadableStream<Uint8Array | string> | AsyncIterable<Data>

/**
 * The plain answer of a `fetch` handler, abio's fast path (a WHATWG `Response` is accepted
 * too). Data given as `body` is held until it is sent.
 */
export interface ServeAnswer {
  /** @default 200 */
  status?: number
  /**
   * `content-length` and `transfer-encoding` are set by abio from the body (a `HEAD` answer
   * without a body keeps the `content-length` given: the one a `GET` gets). Any
   * {@link HeadersInput}: `{ 'set-cookie': ['a=1', 'b=2'] }` sends two lines.
   */
  headers?: HeadersInput
  /**
   * Bytes (held until sent); a `Blob`; a {@link StreamBody} (sent as produced, with
   * backpressure: a chunk is not pulled while 64 KiB wait for the client; the stream is
   * cancelled when the client goes away, and a stream that fails cuts the response); or a
   * file opened when the answer is sent and read as the client takes it. With status 200 a
   * file gets what a {@link FileRoute} gets (type from the extension unless `headers` has
   * `content-type`, `ETag`, `Last-Modified`, 304, ranges); with another status it is sent
   * whole as is. A missing file (or a directory) is a 404.
   */
  body?: Data | Blob | StreamBody | { file: string | URL }
}

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Address to bind. @default '::' (dual-stack), or '0.0.0.0' without IPv6 */
  host?: string
  /** TCP port; 0 picks a free one (see `server.port`). @default 0 */
  port?: number
  /**
   * Exact paths (the query is ignored) answered for `GET` and `HEAD` with `ETag`/`If-None-Match`
   * (304) and a single byte `Range` (206, 416). Other paths get 404, other methods 405.
   */
  routes?: Record<string, Route>
  /**
   * Called on the JS thread for every request no route answers (any method on other paths,
   * methods other than GET/HEAD on route paths), with the request and the server; without it
   * those get 404 and 405. It answers with a WHATWG `Response` (any body `Response` takes,
   * `ReadableStream` bodies streamed with backpressure, `Response.json()`,
   * `Response.redirect()`), a plain {@link ServeAnswer} (the fast path), or nothing (200,
   * empty). A handler that throws or rejects (or answers something invalid) gets a 500, and
   * the server goes on.
   */
  fetch?: (
    request: ServeRequest,
    server: HttpServer,
  ) => Response | ServeAnswer | undefined | Promise<Response | ServeAnswer | undefined>
  /**
   * With a `fetch` handler, abio's lightweight `Request` and `Response` become
   * `globalThis.Request`/`Response` (as `@hono/node-server` does): `new Response('hi')` then
   * keeps its status, headers and body as given, and the server sends them without making a
   * stream; a real undici `Response` is made only when code asks for what only it has
   * (`body`, `text()`, `clone()`, ...). `instanceof` holds both ways, static methods
   * (`Response.json`, `Response.redirect`, `Response.error`) stay. `false` leaves the globals
   * alone (responses are then read through their body stream). @default true
   */
  overrideGlobalObjects?: boolean
  /** Closes the server (as `close()`) when it aborts; at once when it already has. */
  signal?: AbortSignal
  /** Bytes of a request body a handler may read; then the read rejects and the answer is 413. @default 16 MiB */
  maxBodySize?: number
  /** Bytes of a request's line and headers, then 431. @default 16384 */
  maxHeaderSize?: number
  /**
   * Milliseconds from the first byte of a request to the end of its headers, then the
   * connection is closed (a slow-loris client). @default 30000
   */
  headersTimeout?: number
  /**
   * Milliseconds a connection may sit idle waiting for its (next) request, then it is closed.
   * A request being answered (a slow handler, a large body) is not cut. @default 60000
   */
  idleTimeout?: number
  /**
   * Milliseconds a request may make no progress while it waits on the client, then the
   * connection is closed: a handler waits on the request body (`arrayBuffer()`, `request.body`, `bodyToFile()`, ...) and no byte of the
   * body arrives (the promise rejects with `code: 'ABIO_ERR_TIMEOUT'`), or no byte of the
   * answer is taken by the kernel (the client does not read it). Progress-based, unlike Node's
   * `requestTimeout` (300 s for the whole request): a slow upload or download that keeps moving
   * is never cut, and a slow handler neither, so the default can be as short as
   * `headersTimeout`'s. @default 30000
   */
  bodyTimeout?: number
  /** `SO_REUSEPORT`: several processes (node:cluster, pm2) share one port. @default false */
  reusePort?: boolean
  /** WebSocket upgrades on the same port. */
  websocket?: WebSocketOptions
  /**
   * https (and wss) on this port: every connection's TLS handshake is done first, on the
   * runtime; one that fails or takes longer than `handshakeTimeout` is dropped. ALPN offers
   * `http/1.1`. `reload({ tls })` swaps the certificates for new connections.
   */
  tls?: TlsServerOptions | TlsServerOptions[]
  /** Milliseconds a TLS handshake may take, then the connection is dropped. @default 10000 */
  handshakeTimeout?: number
}

/** A listening HTTP server, from {@link serve}. */
export class HttpServer {
  private constructor()
  /** The port listened on (the one picked, for port 0). */
  readonly port: number
  /** The address listened on (`'::'`, `'127.0.0.1'`, ...). */
  readonly host: string
  /**
   * Replaces every route at once (when `routes` is given: `{ tls }` alone keeps them);
   * requests being answered keep the bodies they got. `tls` (on a server started with
   * `tls`) swaps the certificates: new handshakes use them, open connections keep theirs.
   * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for bad routes or certificates.
   */
  reload(options: { routes?: Record<string, Route>; tls?: TlsServerOptions | TlsServerOptions[] }): void
  /**
   * Sends `data` to every open WebSocket of this server (a string as text, bytes as binary),
   * framed once: every connection sends the same bytes. Held, not copied, until sent.
   * Returns how many connections it was queued on: a connection with more than its
   * `backpressureLimit` queued (a peer that is not reading) is skipped, so it never holds
   * back the others and what waits for it stays bounded. The broadcasts and publishes of one
   * turn of the event loop leave together, in call order with each connection's `send`.
   */
  broadcast(data: Data): number
  /**
   * Sends `data` to every WebSocket subscribed to `topic` (`ws.subscribe(topic)`), framed once,
   * as {@link HttpServer.broadcast} does (a subscriber over its `backpressureLimit` is skipped).
   * Returns how many subscribers it was queued for.
   * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for a topic that is not a string or data that is not `Data`.
   */
  publish(topic: string, data: Data): number
  /** How many WebSockets are subscribed to `topic`. */
  subscriberCount(topic: string): number
  /**
   * Stops accepting; resolves once the listening socket is closed (its port free again).
   * Open connections finish the request they are on, then close; open WebSockets are
   * closed with 1001 (going away).
   */
  close(): Promise<void>
  /** Keeps the process alive while listening (the default). */
  ref(): this
  /** Lets the process exit while listening. */
  unref(): this
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Serves HTTP/1.1 (keep-alive, pipelining) on hyper, answering `routes` entirely in Rust,
 * WebSocket upgrades with `websocket`, and everything else with `fetch`.
 *
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for bad options or routes, synchronously.
 * Rejects with Node-shaped errors such as `listen EADDRINUSE: address already in use :::8080`.
 */
export function serve(options: ServeOptions): Promise<HttpServer>
