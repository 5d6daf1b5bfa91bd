// abio's public typings: the HTTP client. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { Data, WriteOptions } from './bytes'
import type { TlsClientFields, TlsClientOptions } from './tls'

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
   * Request headers (numbers are sent as strings). Values are Latin-1, without CR, LF or
   * NUL. `content-length` and `transfer-encoding` are set by abio from the body and may not
   * be given; `host` defaults to the URL's.
   */
  headers?: Record<string, string | number>
  /**
   * The request body (not with `GET` or `HEAD`), sent with a `content-length`. `Data` is
   * held, not copied, until the promise settles: do not modify it meanwhile (it is sent
   * again after a 307/308 redirect). `{ file }` streams the file from disk (its length from
   * `fstat`), reopened for a 307/308 redirect; a file that shrinks while it is sent fails
   * the request.
   */
  body?: Data | { file: string | URL }
  /**
   * Most bytes of the response body. A `content-length` over it rejects before anything is
   * allocated; a chunked body rejects once it passes it. Either way a `RangeError` with
   * `code: 'ABIO_ERR_BODY_TOO_LARGE'` (`maxSize`, and `size` when announced).
   * @default buffer.constants.MAX_LENGTH for request(), no limit for download()
   */
  maxSize?: number
  /**
   * Cancels the request: already aborted, the promise rejects at once; aborted later, the
   * connection is dropped (never reused) and the promise rejects with an `AbortError`
   * (`code: 'ABORT_ERR'`, the signal's reason as `cause`).
   */
  signal?: AbortSignal
  /**
   * Called on the JS thread as response body bytes arrive: `done` bytes so far of `total`
   * (the `content-length`; `null` while unknown, for a chunked body). Calls are coalesced
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

/** The answer to {@link request}. */
export interface ClientResponse {
  /** The final status (after redirects). */
  status: number
  /**
   * Header names lower-case (as in Node); repeated headers joined with `', '`. An object
   * without a prototype: a server's `constructor` or `__proto__` header is a header like any
   * other.
   */
  headers: Record<string, string>
  /** The whole body as an exact `ArrayBuffer` (empty for `HEAD`, 204, 304). */
  body: ArrayBuffer
  /** The URL that answered, after redirects (without its fragment). */
  url: string
}

/**
 * Sends an HTTP/1.1 request and reads the whole response body into an exact `ArrayBuffer`,
 * allocated once when `content-length` is known. Connections are kept alive and reused
 * (a process-wide pool; idle connections close after 4 s and never keep the process alive);
 * a pending request keeps the process alive until it settles. Only `http:` URLs in this
 * version.
 *
 * The body given in `options` is held, not copied, until the promise settles.
 *
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for a bad argument,
 * synchronously: an invalid URL, a scheme other than `http:` (only http is supported in this
 * version), credentials in the URL, a method that is not a token, a bad header, a body with
 * `GET`/`HEAD`.
 * Rejects with Node-shaped connection errors (`connect ECONNREFUSED 127.0.0.1:80`,
 * `getaddrinfo ENOTFOUND host`, `read ECONNRESET` when the server closes before answering),
 * `ABIO_ERR_CLOSED` when the server closes the connection in the middle of the body (never a
 * short body), `ABIO_ERR_HTTP_PARSE` for an answer that is not HTTP (a
 * malformed head or chunked body), and the errors listed
 * under {@link RequestOptions}.
 */
export function request(url: string | URL, options?: RequestOptions): Promise<ClientResponse>

/**
 * Sends a request like {@link request} and streams the response body into the file `path` as
 * it arrives (never whole in memory; writes happen off the network threads, with
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
