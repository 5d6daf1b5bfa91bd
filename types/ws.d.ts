// abio's public typings: WebSockets, server and client. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { ReadableStream, WritableStream } from 'node:stream/web'
import type { Data } from './bytes'
import type { HeadersInput } from './headers'
import type { TlsClientFields, TlsClientOptions } from './tls'

/** Options of one WebSocket connection, server or client. */
export interface WebSocketConnectionOptions {
  /**
   * Bytes of one incoming message; a bigger one closes the connection with 1009 as soon as a
   * frame header announces it, before it is buffered. @default 16 MiB
   */
  maxPayload?: number
  /** Bytes queued to send past which `send()` returns false. @default 1 MiB */
  backpressureLimit?: number
  /**
   * Milliseconds between pings; a connection that sent nothing during a whole interval after
   * a ping is dropped (close code 1006). 0: no pings. @default 0
   */
  pingInterval?: number
}

/**
 * `serve({ websocket })`: upgrades, and the connections' events (on the JS thread). An
 * unknown option name throws `ABIO_ERR_INVALID_ARG`.
 */
export interface WebSocketOptions extends WebSocketConnectionOptions {
  /** Take upgrades only on this path (others are served as HTTP). @default any path */
  path?: string
  /** A connection opened; `req` is the upgrade request (no body). */
  open?(ws: WebSocket, req: UpgradeRequest): void
  /** A message: an exact `ArrayBuffer` (binary) or a string (text). */
  message?(ws: WebSocket, data: ArrayBuffer | string): void
  /** The connection is gone: the peer's close code (1005 if it gave none, 1006 if it vanished). */
  close?(ws: WebSocket, code: number, reason: string): void
}

/** The request that opened a WebSocket. */
export interface UpgradeRequest {
  readonly method: string
  readonly url: string
  readonly path: string
  /** Header names lower-case; repeated headers joined with `', '`. */
  readonly headers: Record<string, string>
}

/**
 * A WebSocket connection (RFC 6455): a server's (from `serve({ websocket })`, the same object
 * for `open`, `message` and `close`) or a client's (from {@link connectWebSocket}). Ping/pong
 * and the closing handshake are automatic. A handler that throws is logged, and the
 * connection goes on.
 */
export class WebSocket {
  private constructor()
  /**
   * Queues a message: a string as text, bytes as binary. Payloads up to 16 KiB are copied at
   * the call (the memory may be reused at once); larger ones are held, not copied, until sent:
   * do not modify them meanwhile (a client masks a copy). Messages leave in call order,
   * `server.broadcast` messages included. A connection with more than `backpressureLimit`
   * bytes queued is not read until the peer takes them (its pings would queue pongs). The messages of one turn of the event loop leave together (in its check
   * phase, as `setImmediate`), or at `drained()`. Returns false when more
   * than `backpressureLimit` bytes wait (the message is queued anyway: wait for
   * `drained()`); after `close()` or the end of the connection the message is dropped and the
   * result is false.
   * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for data that is not `Data`.
   */
  send(data: Data): boolean
  /** Bytes queued and not yet handed to the kernel. */
  readonly bufferedAmount: number
  /** Resolves once everything queued has been handed to the kernel (or the connection is gone). */
  drained(): Promise<void>
  /**
   * Starts the closing handshake; `closed` settles when the peer answered (or after 5 s).
   * @throws {RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for a code other than 1000 or
   * 3000-4999, or a reason over 123 bytes of UTF-8.
   */
  close(code?: number, reason?: string): void
  /** Settles when the connection is gone, with the close code and reason (see `close` above). */
  readonly closed: Promise<{ code: number; reason: string }>;
  /**
   * The incoming messages, in order, when no `message` handler takes them (a client's);
   * ends when the connection closes. Breaking out does not close the connection.
   */
  [Symbol.asyncIterator](): AsyncIterator<ArrayBuffer | string>
  /**
   * The incoming messages as a WHATWG `ReadableStream` (made on first access, the same one
   * after): an exact `ArrayBuffer` for binary, a string for text. It takes them from the queue
   * the async iterator reads (so not those a server's `message` handler takes); nothing is
   * read ahead of its reader beyond what the connection buffers (it stops reading the socket
   * when 1024 messages wait). Ends when the connection closes with 1000, 1001 or 1005 (no
   * code); errors at any other close (1006 when the peer vanished, 1009, 1011, 4000, ...) with
   * `code: 'ABIO_ERR_CLOSED'`, and `closeCode` and `reason` set. `cancel(reason)` closes the
   * connection: with 1011 when `reason` is an error other than an `AbortError` (a failed
   * consumer: `Readable.fromWeb`'s stream destroyed with an error), else with 1000 (breaking out
   * of a `for await` over it, or over `Readable.fromWeb(ws.readable)`).
   */
  readonly readable: ReadableStream<ArrayBuffer | string>
  /**
   * A WHATWG `WritableStream` of messages (made on first access, the same one after): each
   * chunk is {@link WebSocket.send}'s `data` (a string as text, bytes as binary; `Writable.fromWeb`
   * turns strings into bytes unless given `objectMode: true`). A chunk is done (the stream
   * asks for the next) at once when it was copied (16 KiB or less) and under
   * `backpressureLimit`; otherwise once `drained()` resolves, so held memory is let go before
   * the writer reuses it. A write after the connection closed rejects with
   * `code: 'ABIO_ERR_CLOSED'`. `close()` closes the connection with 1000 and resolves when the
   * closing handshake is over (rejects as `readable` errors if the close was not normal; a
   * WebSocket has no half-close: reading stops too); `abort(reason)` closes as `readable.cancel(reason)` does (1011 for an error).
   */
  readonly writable: WritableStream<Data>
}

/**
 * Options of {@link connectWebSocket}; for `wss:` also Node's TLS options ({@link TlsClientOptions}). An unknown
 * option name throws `ABIO_ERR_INVALID_ARG`.
 */
export type ConnectWebSocketOptions = ConnectWebSocketFields & TlsClientOptions

/** The fields of {@link ConnectWebSocketOptions}. */
export interface ConnectWebSocketFields extends WebSocketConnectionOptions, TlsClientFields {
  /**
   * Headers of the upgrade request (e.g. `authorization`, `cookie`): a `Headers`, pairs, or a
   * record (an array value sends a header once per element).
   */
  headers?: HeadersInput
  /** Aborts the connect (an `AbortError`). */
  signal?: AbortSignal
}

/**
 * Opens a WebSocket to a `ws:` or `wss:` URL (TLS, verified as {@link TlsClientOptions}
 * says); resolves once the server accepted the upgrade. The connection holds the process open until it closes.
 *
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for a bad URL or options, synchronously.
 * Rejects with Node-shaped connect errors (`ECONNREFUSED`), `ABIO_ERR_WS_HANDSHAKE` (with
 * `status`) when the server does not switch protocols, or an `AbortError`.
 */
export function connectWebSocket(url: string | URL, options?: ConnectWebSocketOptions): Promise<WebSocket>
