// abio's public typings: the HTTP server. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { Bytes, Data, WriteOptions } from './bytes'
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

/** A request for a {@link ServeOptions.fetch} handler. */
export class Request {
  private constructor()
  /** `GET`, `POST`, ... as sent. */
  readonly method: string
  /** The request target: path and query. */
  readonly url: string
  /** The path, without the query. */
  readonly path: string
  /**
   * Header names lower-case (as in Node); repeated headers joined with `', '`. An object
   * without a prototype (`Object.create(null)`): a client's `constructor` or `__proto__`
   * header is a header like any other, and `headers.toString` is `undefined`.
   */
  readonly headers: Record<string, string>
  /**
   * The whole body as an exact `ArrayBuffer`. Once only (then `ABIO_ERR_CLOSED`). A body over
   * `maxBodySize` rejects with a `RangeError` `code: 'ABIO_ERR_BODY_TOO_LARGE'`, and the
   * answer is 413 whatever the handler then returns. A malformed chunked body rejects with
   * `code: 'ABIO_ERR_HTTP_PARSE'` (answer 400). A client that sends no byte of its body for
   * `bodyTimeout` has its connection closed and the promise rejects with
   * `code: 'ABIO_ERR_TIMEOUT'`; one closing midway, `ABIO_ERR_CLOSED`.
   */
  body(): Promise<ArrayBuffer>
  /**
   * Streams the body to the file `path` as it arrives (never whole in memory); resolves with
   * the bytes written. Once only, instead of `body()`. Atomic unless `options.atomic` is
   * `false` (or `append` is set): a body cut short (the client gone, `maxBodySize`, the
   * signal) rejects and leaves the old file as it was, with no temporary file behind; a file
   * it created is removed. Over `maxBodySize`: rejects with `ABIO_ERR_BODY_TOO_LARGE`, answer
   * 413. The client closing midway: `ABIO_ERR_CLOSED`; stalling past `bodyTimeout`:
   * `ABIO_ERR_TIMEOUT`; a malformed chunked body: `ABIO_ERR_HTTP_PARSE` (answer 400).
   * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for a bad path (a null byte, or a
   * `file:` URL with `%00`) or bad options, synchronously.
   */
  bodyToFile(path: string | URL, options?: WriteOptions): Promise<number>
}

/** What a `fetch` handler answers. Data given as `body` is held until it is sent. */
export interface Response {
  /** @default 200 */
  status?: number
  /** `content-length` and `transfer-encoding` are set by abio from the body. */
  headers?: Record<string, string | number>
  /**
   * Bytes (held until sent), or a file opened when the answer is sent and read as the client
   * takes it. With status 200 a file gets what a {@link FileRoute} gets (type from the
   * extension unless `headers` has `content-type`, `ETag`, `Last-Modified`, 304, ranges);
   * with another status it is sent whole as is. A missing file (or a directory) is a 404.
   */
  body?: Data | { file: string | URL }
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
   * methods other than GET/HEAD on route paths); without it those get 404 and 405. A handler
   * that throws or rejects (or answers something invalid) gets a 500, and the server goes on.
   */
  fetch?: (req: Request) => Response | undefined | Promise<Response | undefined>
  /** Bytes of a request body `req.body()` reads; then 413. @default 16 MiB */
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
   * connection is closed: a handler waits in `req.body()`/`bodyToFile()` and no byte of the
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
   * Returns how many connections it was queued on.
   */
  broadcast(data: Data): number
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
