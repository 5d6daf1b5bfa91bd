// abio's public typings: TCP and Unix sockets. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { ReadableStream, WritableStream } from 'node:stream/web'
import type { Data } from './bytes'
import type { TlsClientOptions, TlsServerOptions } from './tls'

/** Options of a socket, for {@link connect} and the sockets a {@link listen} server accepts. */
export interface SocketOptions {
  /**
   * Disable Nagle's algorithm (`TCP_NODELAY`). abio already sends the writes made in one
   * microtask turn together, in one `sendmsg`, so Nagle's algorithm would only add delay. @default true
   */
  noDelay?: boolean
  /** Enable TCP keep-alive probes (`SO_KEEPALIVE`). @default false */
  keepAlive?: boolean
  /**
   * Keep our side open when the peer ends its side. When `false`, once `read()` (or the
   * socket's idle watch) sees the peer's end, abio ends our side after the pending writes,
   * as Node does. @default false
   */
  allowHalfOpen?: boolean
}

/** The options of {@link connect} other than where to. */
export interface ConnectCommonOptions extends SocketOptions {
  /** Give up after this many milliseconds: rejects with `code: 'ABIO_ERR_TIMEOUT'`. @default no limit (the OS's) */
  timeout?: number
  /** Cancels the connect: rejects with an `AbortError`; a connection made meanwhile is closed. */
  signal?: AbortSignal
  /**
   * Speak TLS: `true` verifies the server against the default roots, an object gives
   * Node's options. The promise resolves once the handshake is done (`timeout` and `signal`
   * cover it); a failed verification rejects with Node's code (see {@link TlsClientOptions}).
   */
  tls?: boolean | TlsClientOptions
}

/** Connect over TCP: a `port`, and a `host`. */
export interface TcpConnectOptions extends ConnectCommonOptions {
  /** Host name or IP; a name is looked up and each address tried in turn. @default 'localhost' */
  host?: string
  /** TCP port, 0-65535. */
  port: number
  /** Not with `port`: a Unix socket is {@link UnixConnectOptions}. */
  path?: undefined
}

/** Connect to a Unix domain socket. */
export interface UnixConnectOptions extends ConnectCommonOptions {
  /** The Unix domain socket to connect to. */
  path: string | URL
  /** Not with `path`. */
  host?: undefined
  /** Not with `path`. */
  port?: undefined
}

/**
 * Where and how to connect: a TCP `port` (and `host`), or a Unix socket `path`, not both.
 * An unknown option name throws `ABIO_ERR_INVALID_ARG`.
 */
export type ConnectOptions = TcpConnectOptions | UnixConnectOptions

/** The options of {@link listen} other than where. */
export interface ListenCommonOptions extends SocketOptions {
  /** Length of the queue of pending connections. @default 511 */
  backlog?: number
  /** `SO_REUSEPORT`: several processes may listen on the port, the kernel spreads connections. @default false */
  reusePort?: boolean
  /**
   * TLS sockets: each connection's handshake is done before `onConnection` sees it; one
   * that fails or takes longer than `handshakeTimeout` is dropped (the server goes on).
   */
  tls?: TlsServerOptions | TlsServerOptions[]
  /** Milliseconds a TLS handshake may take, then the connection is dropped. @default 10000 */
  handshakeTimeout?: number
  /**
   * Closes the server when it aborts, as Node's `server.listen({ signal })` does: it stops
   * accepting (as `close()`), open sockets stay open. An already aborted signal closes the
   * server at once: the promise resolves with it closed (its port free again), without an
   * error, as Node's listen closes right away. `close()` lets go of the signal.
   */
  signal?: AbortSignal
}

/** Listen over TCP. */
export interface TcpListenOptions extends ListenCommonOptions {
  /** Address to bind. @default '::' (dual-stack), or '0.0.0.0' without IPv6 */
  host?: string
  /** TCP port; 0 picks a free one (see `server.port`). @default 0 */
  port?: number
  /** Not with `host`/`port`: a Unix socket is {@link UnixListenOptions}. */
  path?: undefined
}

/** Listen on a Unix domain socket. */
export interface UnixListenOptions extends ListenCommonOptions {
  /** A Unix domain socket path to listen on (removed again by `close()`). */
  path: string | URL
  /** Not with `path`. */
  host?: undefined
  /** Not with `path`. */
  port?: undefined
}

/**
 * Where and how to listen: TCP (`host`, `port`) or a Unix socket `path`, not both. An
 * unknown option name throws `ABIO_ERR_INVALID_ARG`.
 */
export type ListenOptions = TcpListenOptions | UnixListenOptions

/** Options of {@link Socket.sendFile}. */
export interface SendFileOptions {
  /** First byte of the file to send. @default 0 */
  offset?: number
  /** Most bytes to send. @default to the end of the file */
  length?: number
  /**
   * Called on the JS thread as the file goes out, with the bytes sent so far and the total;
   * calls are coalesced (at most one waits at a time), the last one reports the total.
   */
  onProgress?: (sent: number, total: number) => void
  /** Cancels the transfer between chunks: rejects with an `AbortError` (some bytes may have been sent). */
  signal?: AbortSignal
}

/**
 * A connected TCP or Unix socket, from {@link connect} or a server's `onConnection`.
 *
 * Writes resolve when the kernel has taken every byte, so `await` is the backpressure;
 * several may be in flight and go out in call order (those of one microtask turn in one
 * `sendmsg`). Do not modify data passed to a write until its promise settles: parts over
 * 16 KiB are held, not copied, until then; smaller ones are copied at the end of the turn. Reads resolve with exact `ArrayBuffer`s. A reset or closed peer
 * rejects pending calls with `ECONNRESET`, `EPIPE` or `ABIO_ERR_CLOSED` (never `SIGPIPE`).
 * An open socket keeps the process alive until it is closed, finished (both sides ended)
 * or `unref()`ed.
 */
export class Socket {
  private constructor()
  /** Sends `data`. Held until the promise settles. */
  write(data: Data): Promise<void>
  /** Sends `parts` in order, without concatenating them (one `sendmsg`). Held until the promise settles. */
  writev(parts: Data[]): Promise<void>
  /**
   * Sends one frame: a u32 big-endian length, then the bytes of `data` (an array is one
   * frame of its parts, sent without concatenation). docs/FORMAT.md has the format.
   * @throws rejects with a `RangeError` `code: 'ABIO_ERR_FRAME_TOO_LARGE'` over 4 GiB - 1.
   */
  writeFrame(data: Data | Data[]): Promise<void>
  /**
   * Sends a file with `sendfile(2)`: from disk to socket without passing through user space.
   * Ordered with the writes around it. Resolves with the bytes sent (fewer than asked only if
   * the file shrank meanwhile). A file that cannot be opened rejects (`ENOENT`, ...) and nothing is sent.
   */
  sendFile(path: string | URL, options?: SendFileOptions): Promise<number>
  /**
   * Resolves with the bytes that have arrived (at least 1, at most `maxBytes`, default
   * 1 MiB) as an exact `ArrayBuffer`, or `null` at the end of the stream.
   */
  read(options?: { maxBytes?: number }): Promise<ArrayBuffer | null>
  /**
   * Resolves with exactly `n` bytes. Rejects with `code: 'ABIO_ERR_CLOSED'` if the peer ends
   * the stream first.
   */
  readExactly(n: number): Promise<ArrayBuffer>
  /**
   * Resolves with the payload of the next frame, or `null` at the end of the stream. A header
   * announcing more than `maxSize` (default 64 MiB, at most 2^32 - 1) rejects with a
   * `RangeError` `code: 'ABIO_ERR_FRAME_TOO_LARGE'` before anything is allocated, and is left
   * in place (a retry with a larger `maxSize` reads it). The peer ending inside a frame rejects
   * with `code: 'ABIO_ERR_CLOSED'`.
   */
  readFrame(options?: { maxSize?: number }): Promise<ArrayBuffer | null>
  /**
   * Every chunk until the end of the stream (`read()` in a loop). Leaving the loop early
   * does not close the socket.
   */
  [Symbol.asyncIterator](): AsyncIterator<ArrayBuffer>
  /**
   * The bytes that arrive, as a WHATWG `ReadableStream` (made on first access, the same one
   * after). Each chunk is a `Uint8Array` over the exact `ArrayBuffer` a `read()` returned (no
   * copy); a read is made only when a reader asks for a chunk, so nothing is read ahead and a
   * slow reader slows the peer (TCP flow control). Ends at the end of the stream; errors with
   * the error a read rejects with (`ECONNRESET`, `ABIO_ERR_CLOSED` after `close()`, ...).
   * `cancel()` closes the socket (as destroying a Node socket does). Do not mix it with
   * `read()` calls or `for await`: each chunk goes to one of them.
   *
   * With {@link Socket.writable}: `Duplex.fromWeb(socket)`, `Readable.fromWeb(socket.readable)`,
   * and `stream.pipeline(socket, dest)` / `pipeline(source, socket)` (pipeline takes an object
   * with `readable` and `writable` as a transform).
   */
  readonly readable: ReadableStream<Uint8Array>
  /**
   * A WHATWG `WritableStream` that `write()`s each chunk (any {@link Data}; made on first
   * access, the same one after). A chunk over 16 KiB is held, not copied (a smaller one is
   * copied), until the kernel took all of it, which is when the stream asks for the next: a
   * peer that does not read stops the writer after the socket's buffers. A write that fails errors the stream (`EPIPE`, `ECONNRESET`, ...).
   * `close()` ends our side after the writes, as {@link Socket.end} (the peer reads the end of the
   * stream, the socket can still read); `abort()` closes the socket.
   */
  readonly writable: WritableStream<Data>
  /** Ends our side (`shutdown(SHUT_WR)`) after the pending writes; later writes reject with `ABIO_ERR_CLOSED`. */
  end(): Promise<void>
  /**
   * Closes the socket now: pending and later calls reject with `code: 'ABIO_ERR_CLOSED'`,
   * the peer sees the end of the stream. Idempotent.
   */
  close(): void
  /** Keeps the process alive while the socket is open (the default). */
  ref(): this
  /** Lets the process exit while the socket is open. */
  unref(): this
  /** Whether the socket is closed, or finished (both sides ended, or it failed). */
  readonly closed: boolean
  /** The peer's IP (for a Unix socket: its path, often `''`). */
  readonly remoteAddress: string
  readonly remotePort: number
  /** `'IPv4'`, `'IPv6'` or `'Unix'`. */
  readonly remoteFamily: string
  readonly localAddress: string
  readonly localPort: number
  /** Whether the socket speaks TLS (`connect({ tls })`, `listen({ tls })`). */
  readonly encrypted: boolean
  /** The ALPN protocol agreed, or `false` (as Node's `tls.TLSSocket`). */
  readonly alpnProtocol: string | false
  /** `'TLSv1.3'` or `'TLSv1.2'` on a TLS socket, `null` on a plain one (as Node's `getProtocol()`). */
  getProtocol(): string | null
  /** `await using s = await connect(...)` closes it. */
  [Symbol.asyncDispose](): Promise<void>
}

/** A listening server, from {@link listen}. */
export class Server {
  private constructor()
  /** The port listened on (the one picked, for port 0); 0 for a Unix socket. */
  readonly port: number
  /** The address listened on (`'::'`, `'127.0.0.1'`, ...), or the Unix socket's path. */
  readonly host: string
  /**
   * Stops accepting; resolves once the listening socket is closed, so its port is free
   * again (a Unix socket's file is removed). Accepted sockets stay open. Idempotent.
   */
  close(): Promise<void>
  /** Keeps the process alive while listening (the default). */
  ref(): this
  /** Lets the process exit while listening. */
  unref(): this
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Connects over TCP (IPv4 or IPv6) or to a Unix socket.
 *
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for bad options or an unknown
 * option name, synchronously.
 * Rejects with Node-shaped errors (`connect ECONNREFUSED 127.0.0.1:9`, with `code`, `errno`,
 * `syscall`, `address`, `port`), `ENOTFOUND` for unknown hosts, `ABIO_ERR_TIMEOUT`, or an `AbortError`.
 */
export function connect(options: ConnectOptions): Promise<Socket>

/**
 * Listens over TCP or on a Unix socket and calls `onConnection` (on the JS thread) with each
 * accepted socket. Resolves once listening. A listening server keeps the process alive
 * until `close()`, `unref()` or the abort of `options.signal`. A handler that throws, or returns a promise that rejects
 * (an `async` one whose client left early), has its socket closed and the error logged
 * with `console.error`; the server goes on accepting.
 *
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for bad options or an unknown
 * option name, synchronously.
 * Rejects with Node-shaped errors such as `listen EADDRINUSE: address already in use 127.0.0.1:80`.
 */
export function listen(
  options: ListenOptions,
  onConnection: (socket: Socket) => void | Promise<unknown>,
): Promise<Server>
