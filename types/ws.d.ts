// abio's public typings: WebSockets, server and client. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { ReadableStream, WritableStream } from 'node:stream/web'
import type { Data } from './bytes'
import type { HeadersInput } from './headers'
import type { TlsClientFields, TlsClientOptions } from './tls'
import type { HttpServer, ServeRequest } from './http'

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
  /**
   * permessage-deflate (RFC 7692): a server accepts it when a client offers it, a client offers
   * it; `ws.extensions` says whether it was agreed. Off by default on both sides (`ws` and Bun
   * servers have it off too; browsers always offer it). Messages of at least `threshold` bytes
   * are compressed (zlib-rs through flate2, level 1) on the JS thread, unless sent with
   * `{ compress: false }`; `maxPayload` applies to the decompressed size, checked as it
   * inflates (a small frame cannot expand past it: 1009), and a corrupt stream closes with 1007.
   * A `broadcast` or `publish` is compressed once per connection that agreed to it (each has its
   * own context). @default false
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions
}

/** RFC 7692's parameters of permessage-deflate. */
export interface PerMessageDeflateOptions {
  /** Messages shorter than this many bytes are sent uncompressed. @default 1024 */
  threshold?: number
  /** The server resets its compression context after each message (less memory, worse ratio). @default false */
  serverNoContextTakeover?: boolean
  /** The client resets its compression context after each message. @default false */
  clientNoContextTakeover?: boolean
  /** The server's largest LZ77 window as a base-2 logarithm (8-15; 8 is used as 9). @default 15 */
  serverMaxWindowBits?: number
  /** The client's largest LZ77 window as a base-2 logarithm (8-15; 8 is used as 9). @default 15 */
  clientMaxWindowBits?: number
}

/**
 * `serve({ websocket })`: upgrades, and the connections' events (on the JS thread). An
 * unknown option name throws `ABIO_ERR_INVALID_ARG`.
 */
export interface WebSocketOptions extends WebSocketConnectionOptions {
  /** Take upgrades only on this path (others are served as HTTP). @default any path */
  path?: string
  /**
   * Decides each upgrade before it is answered (authentication, a session lookup), as `ws`'s
   * `verifyClient` and Bun's `server.upgrade()` do; the client waits meanwhile (at most
   * `upgradeTimeout`, then 503). Return (or resolve with):
   * - `true`, `undefined` or `{ data?, headers?, protocol? }` to accept: `data` becomes
   *   `ws.data`, `headers` go into the 101 answer (cookies), `protocol` is the subprotocol
   *   agreed (one of the client's offers; else `protocols` picks);
   * - a `Response` to refuse with its status (300-599), headers and body (401 with JSON, ...);
   * - `false` to refuse with 401.
   *
   * A hook that throws or rejects refuses with 500 (logged); the server goes on. A refused
   * upgrade's connection is closed after the answer.
   */
  upgrade?(request: ServeRequest, server: HttpServer): UpgradeVerdict | Promise<UpgradeVerdict>
  /** Milliseconds `upgrade` may take before the answer is 503. @default 10000 */
  upgradeTimeout?: number
  /**
   * The subprotocols this server speaks: a list (the client's first offer in it is agreed)
   * or a function given the client's offers, returning the one agreed (or `undefined`: none).
   * Without it, the client's first offer is agreed, as `ws` does. `ws.protocol` tells which.
   */
  protocols?: string | string[] | ((offered: string[]) => string | undefined)
  /** A connection opened; `req` is the upgrade request (no body). */
  open?(ws: WebSocket, req: UpgradeRequest): void
  /** A message: an exact `ArrayBuffer` (binary) or a string (text). */
  message?(ws: WebSocket, data: ArrayBuffer | string): void
  /** The connection is gone: the peer's close code (1005 if it gave none, 1006 if it vanished). */
  close?(ws: WebSocket, code: number, reason: string): void
  /** The peer answered a `ping()` (or sent a pong of its own), with this payload. */
  pong?(ws: WebSocket, data: ArrayBuffer): void
}

/** What an `upgrade` hook returns: see {@link WebSocketOptions.upgrade}. */
export type UpgradeVerdict = boolean | undefined | Response | UpgradeAccept

/** An accepted upgrade, from an `upgrade` hook. */
export interface UpgradeAccept {
  /** Becomes `ws.data` of the connection. */
  data?: unknown
  /** More headers of the 101 answer (`set-cookie`, ...); the handshake's own are abio's. */
  headers?: HeadersInput
  /** The subprotocol agreed: one of the client's offers (another refuses with 500). */
  protocol?: string
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
export class WebSocket extends EventTarget {
  private constructor()
  static readonly CONNECTING: 0
  static readonly OPEN: 1
  static readonly CLOSING: 2
  static readonly CLOSED: 3
  readonly CONNECTING: 0
  readonly OPEN: 1
  readonly CLOSING: 2
  readonly CLOSED: 3
  /**
   * `OPEN` (1) until `close()` is called (`CLOSING`, 2) or the connection is gone (`CLOSED`, 3),
   * as the browser's. A connection is open when you get it: `CONNECTING` is never seen.
   */
  readonly readyState: 0 | 1 | 2 | 3
  /** The subprotocol agreed in the handshake, or `''`. */
  readonly protocol: string
  /** The extensions agreed in the handshake (`Sec-WebSocket-Extensions`), or `''`. */
  readonly extensions: string
  /** The peer's IP address. */
  readonly remoteAddress: string
  /** What a server's `upgrade` hook attached (`undefined` otherwise); yours to set. */
  data: any
  /**
   * What binary messages are made into, for the `message` handler, events, the async iterator
   * and `readable`: `'arraybuffer'` (an exact `ArrayBuffer`, the default), `'nodebuffer'` (a
   * `Buffer` over it, no copy) or `'blob'`.
   * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for another value.
   */
  binaryType: 'arraybuffer' | 'nodebuffer' | 'blob'
  /**
   * Sends a ping with `data` (at most 125 bytes, copied), behind what is queued; the answer
   * comes as a `pong` event (a `MessageEvent` whose `data` is an `ArrayBuffer`) and to the
   * server's `pong` handler. Ignored once closing.
   * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for data that is not `Data` or is over 125 bytes.
   */
  ping(data?: Data): void
  /**
   * Ends the connection at once, without the closing handshake: what is queued is dropped,
   * the socket closed; `closed` settles (and `close` is reported) with 1006 before this returns.
   */
  terminate(): void
  /**
   * Subscribes this connection to `topic`, for `server.publish` and `ws.publish`; a closed
   * connection leaves its topics.
   * @throws {Error} `code: 'ERR_INVALID_STATE'` on a client's connection (topics are a server's).
   */
  subscribe(topic: string): void
  /** Unsubscribes from `topic`. @throws {Error} `code: 'ERR_INVALID_STATE'` on a client's connection. */
  unsubscribe(topic: string): void
  /** Whether this connection is subscribed to `topic`. */
  isSubscribed(topic: string): boolean
  /** The topics this connection is subscribed to. */
  readonly subscriptions: string[]
  /**
   * Sends `data` to every subscriber of `topic` but this connection, framed once (see
   * `server.publish`); returns how many it was queued for.
   * @throws {Error} `code: 'ERR_INVALID_STATE'` on a client's connection.
   */
  publish(topic: string, data: Data): number
  /** Called on `open`: a client's, in the turn after `connectWebSocket` resolved. */
  onopen: ((this: WebSocket, event: Event) => void) | null
  /**
   * Called with each message as a `MessageEvent` (`data`: a string, or binary as `binaryType`
   * says). Once this or a `message` listener is set, messages are dispatched as events, no
   * longer queued for the async iterator and `readable`.
   */
  onmessage: ((this: WebSocket, event: MessageEvent) => void) | null
  /** Called with a `CloseEvent` (`code`, `reason`, `wasClean`) when the connection is gone. */
  onclose: ((this: WebSocket, event: CloseEvent) => void) | null
  /** Called when the connection failed without a closing handshake (before `close`, code 1006). */
  onerror: ((this: WebSocket, event: Event) => void) | null
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
  send(data: Data, options?: SendOptions): boolean
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

/** Options of {@link WebSocket.send}. */
export interface SendOptions {
  /**
   * `false` sends this message uncompressed on a connection that agreed to permessage-deflate.
   * @default true (above the connection's `threshold`)
   */
  compress?: boolean
}

/** The `close` event of a {@link WebSocket}, as the browser's. */
export interface CloseEvent extends Event {
  readonly code: number
  readonly reason: string
  /** false when the connection ended without a closing handshake (1006). */
  readonly wasClean: boolean
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
  /**
   * Subprotocols to offer (`Sec-WebSocket-Protocol`), in order of preference; `ws.protocol`
   * is the one the server agreed (`''` if none). An answer naming one not offered fails the
   * connect with `ABIO_ERR_WS_HANDSHAKE`.
   */
  protocols?: string | string[]
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
