// abio's public typings: the HTTP client. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { Data, WriteOptions } from './bytes'
import type { TlsClientFields, TlsClientOptions } from './tls'
import type { HeadersInput } from './headers'

/**
 * Options of {@link request} and {@link download}; for `https:` URLs also Node's TLS
 * options ({@link TlsClientOptions}: `ca`, `rejectUnauthorized`, `servername`, `cert`,
 * `key`). Requests with equal TLS options share their pool of keep-alive connections.
 * A `body` needs a `method` (the default `GET` takes none: a body without one does not
 * type-check). An unknown option name throws `ABIO_ERR_INVALID_ARG`.
 */
export type RequestOptions = RequestFields & TlsClientOptions & RequestBodyMethod

/** A body only with a method: `GET`, the default, sends none (it throws at run time). */
export type RequestBodyMethod = { method?: undefined; body?: undefined | null } | { method: string }

/** The fields of {@link RequestOptions}. */
export interface RequestFields extends TlsClientFields {
  /**
   * Any HTTP token; `get`, `post`, `put`, `delete`, `head` and `options` are upper-cased as
   * `fetch` does. @default 'GET'
   */
  method?: string
  /**
   * Request headers, in any {@link HeadersInput} form. `content-length` and
   * `transfer-encoding` are set by abio from the body and may not be given; `host` defaults
   * to the URL's; `accept-encoding` defaults to `gzip, deflate, br` while `decompress` is on.
   * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'`, synchronously, for any other type, a
   * pair that is not `[name, value]`, a name that is not a token, a bad value.
   */
  headers?: HeadersInput
  /**
   * The request body (not with `GET` or `HEAD`), sent with a `content-length`. `Data` is
   * held, not copied, until the promise settles: do not modify it meanwhile (it is sent
   * again after a 307/308 redirect). `{ file }` streams the file from disk (its length from
   * `fstat`), reopened for a 307/308 redirect; a file that shrinks while it is sent fails
   * the request.
   */
  body?: Data | { file: string | URL }
  /**
   * Most bytes of the response body, counted after decoding (a small compressed body cannot
   * expand past it). A `content-length` over it (of a body without content coding) rejects
   * before anything is allocated; a chunked or decoded body rejects once it passes it, having
   * held no more than about `maxSize`. Either way a `RangeError` with
   * `code: 'ABIO_ERR_BODY_TOO_LARGE'` (`maxSize`, and `size` when announced).
   * @default buffer.constants.MAX_LENGTH for request(), no limit for download()
   */
  maxSize?: number
  /**
   * Decode the response body as `fetch` does when its `content-encoding` is `gzip`, `x-gzip`,
   * `deflate` (zlib-wrapped, or raw) or `br` (several codings are undone in reverse order; a
   * body with any other coding is returned as sent). The decoding happens in Rust as the body
   * arrives; the decoded answer has no `content-encoding` and no `content-length` header (they
   * described the bytes as sent). A corrupt compressed body, or one that ends before its
   * compressed data does, rejects with `code: 'ABIO_ERR_HTTP_PARSE'` (never a short body).
   * While on, `accept-encoding: gzip, deflate, br` is sent unless `headers` has an
   * `accept-encoding`. `false`: the bytes as sent, headers as sent, no `accept-encoding` added.
   * @default true
   */
  decompress?: boolean
  /**
   * Cancels the request: already aborted, the promise rejects at once; aborted later, the
   * connection is dropped (never reused) and the promise rejects with an `AbortError`
   * (`code: 'ABORT_ERR'`, the signal's reason as `cause`).
   */
  signal?: AbortSignal
  /**
   * Called on the JS thread as response body bytes arrive: `done` bytes so far of `total`
   * (the `content-length`; `null` while unknown: for a chunked body, and for a decoded one,
   * whose `done` counts decoded bytes). Calls are coalesced
   * (at most one waits at a time, reporting the latest count), `done` never decreases, and
   * the last call, made before the promise resolves, has `done === total`.
   */
  onProgress?: (done: number, total: number | null) => void
  /**
   * `'follow'` follows up to 20 redirects as `fetch` does: 301/302 after `POST` and 303 (but
   * after `GET`/`HEAD`) become a `GET` without body; 307/308 (and 301/302 of other methods)
   * keep the method and body. `Location` is resolved against the current URL; leaving the
   * origin drops `authorization`, `cookie`, `proxy-authorization` and `host`. More than 20:
   * `ABIO_ERR_TOO_MANY_REDIRECTS`; to a scheme other than `http:`: `ABIO_ERR_BAD_REDIRECT`.
   * `'manual'` returns the 3xx response itself. @default 'follow'
   */
  redirect?: 'follow' | 'manual'
}

/**
 * The answer to {@link request}: what `fetch` users reach for (`ok`, `headers`, `text()`,
 * `json()`, `arrayBuffer()`), with the whole body already read into `body`.
 */
export interface ClientResponse {
  /** The final status (after redirects). */
  readonly status: number
  /** Whether `status` is 200-299. */
  readonly ok: boolean
  /**
   * The response headers as a WHATWG `Headers`, made on first access: names lower-case;
   * `get()` joins a repeated header with `', '`; `getSetCookie()` gives each `set-cookie` line
   * apart, exactly as sent. Without `content-encoding` and `content-length` when the body was
   * decoded.
   */
  readonly headers: Headers
  /**
   * The whole body (decoded, unless `decompress: false`) as an exact `ArrayBuffer` (empty for
   * `HEAD`, 204, 304). Yours: abio keeps no reference.
   */
  readonly body: ArrayBuffer
  /** The URL that answered, after redirects (without its fragment). */
  readonly url: string
  /** Resolves with `body` itself (no copy). May be called again. */
  arrayBuffer(): Promise<ArrayBuffer>
  /** Resolves with `body` decoded as UTF-8 (a BOM dropped, invalid bytes as U+FFFD). */
  text(): Promise<string>
  /**
   * Resolves with `body` parsed as JSON (`T` is what the caller asserts it to be; nothing is
   * checked). Rejects with a `SyntaxError` when it is not JSON.
   */
  json<T = unknown>(): Promise<T>
}

/**
 * Sends an HTTP/1.1 request to an `http:` or `https:` URL and reads the whole response body
 * into an exact `ArrayBuffer`: allocated once when `content-length` is known and the body has
 * no content coding; a `gzip`, `deflate` or `br` body is decoded as it arrives (see
 * {@link RequestOptions.decompress}). Connections are kept alive and reused (a process-wide
 * pool; idle connections close after 4 s and never keep the process alive); a pending
 * request keeps the process alive until it settles.
 *
 * The body given in `options` is held, not copied, until the promise settles; `headers` are
 * read at the call.
 *
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for a bad argument,
 * synchronously: an invalid URL, a scheme other than `http:` and `https:`, credentials in the
 * URL, a method that is not a token, bad headers, a body with `GET`/`HEAD`.
 * Rejects with Node-shaped connection errors (`connect ECONNREFUSED 127.0.0.1:80`,
 * `getaddrinfo ENOTFOUND host`, `read ECONNRESET` when the server closes before answering),
 * `ABIO_ERR_CLOSED` when the server closes the connection in the middle of the body (never a
 * short body), `ABIO_ERR_HTTP_PARSE` for an answer that is not HTTP (a malformed head or
 * chunked body) or a corrupt compressed body, and the errors listed under
 * {@link RequestOptions}.
 */
export function request(url: string | URL, options?: RequestOptions): Promise<ClientResponse>

/**
 * Sends a request like {@link request} and streams the response body (decoded as
 * {@link RequestOptions.decompress} says) into the file `path` as it arrives (never whole in memory; writes happen off the network threads, with
 * backpressure); resolves with the bytes written. Atomic unless `options.atomic` is `false`
 * (or `append` is set): the body goes to a temporary file in the same directory, renamed
 * over `path` once whole.
 *
 * A final status outside 2xx rejects with `code: 'ABIO_ERR_HTTP_STATUS'` (with `status` and
 * `url`) and writes nothing (like `curl --fail`). A body cut short (the server closing:
 * `ABIO_ERR_CLOSED`; `maxSize`; the signal) rejects and leaves no temporary file and no file
 * it created; an atomic download leaves an existing file as it was.
 *
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` as {@link request}, and for
 * bad `WriteOptions` (`append` with `atomic`), synchronously.
 */
export function download(
  url: string | URL,
  path: string | URL,
  options?: WriteOptions & RequestOptions,
): Promise<number>
