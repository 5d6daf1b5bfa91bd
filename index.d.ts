// Type definitions for abio. Hand-written (binding.d.ts is generated and internal);
// pinned by __test__/types.ts.
/// <reference types="node" />

/**
 * Any JS memory abio reads from: an `ArrayBuffer`, a `SharedArrayBuffer`, or any view over
 * one (`Buffer`, every TypedArray, `DataView`). A view's `byteOffset`/`byteLength` are
 * honoured exactly. Never copied on the way in, with one exception: a call that holds the
 * memory past its return copies a view of a resizable `ArrayBuffer` or growable
 * `SharedArrayBuffer` at the call (a `resize()` could pull the pages from under it). Memory
 * abio holds must not be modified, transferred or detached until it is let go (README, "Who
 * owns your memory"); transferring it is undefined behaviour, as with Node's `fs`.
 */
export type Bytes = ArrayBuffer | SharedArrayBuffer | ArrayBufferView

/** `Bytes`, or a string (written as UTF-8). */
export type Data = Bytes | string

/** How a file is written. */
export interface WriteOptions {
  /** Append to the file (`O_APPEND`) instead of replacing it. Cannot be combined with `atomic`. @default false */
  append?: boolean
  /**
   * Write a temporary file in the same directory, flush it (`fdatasync`) and rename it over
   * the target: readers see the old or the new file, never a torn one. A failed or aborted
   * atomic write leaves the old file intact and no temporary file behind (on Linux not even
   * when the process is killed). The old file's mode is kept unless `mode` is given. Through
   * a symlink the file it points at is replaced; the kernel follows the link, so
   * `fs.protected_symlinks` applies (`EACCES`) as for a plain write. @default false
   */
  atomic?: boolean
  /** `fdatasync` before resolving (and `fsync` the directory when `atomic`). @default false */
  durable?: boolean
  /** Permission bits of a created file (the umask applies). @default 0o666 */
  mode?: number
  /** Create missing parent directories. @default false */
  mkdirs?: boolean
  /**
   * Cancels the write: it stops at its next syscall, and the promise rejects with an
   * `AbortError` (`code: 'ABORT_ERR'`, the signal's reason as `cause`) whenever the signal
   * aborted before it settled. By then a plain write may have been carried out in part or in
   * whole; an atomic one in whole or not at all. Sync calls only check it before starting.
   */
  signal?: AbortSignal
}

/** Which bytes of a file are read. */
export interface ReadOptions {
  /** First byte to read. @default 0 */
  offset?: number
  /** Most bytes to read. @default to the end of the file */
  length?: number
  /**
   * Refuse to return more than this many bytes: throws/rejects with a `RangeError` with
   * `code: 'ABIO_ERR_FILE_TOO_LARGE'` before anything is allocated. A file of unknown size
   * (FIFO, pipe, device such as `/dev/zero`, `/proc`) is read as a stream and refused one
   * byte over the limit, which without `maxSize` is 2 GiB - 1 (Node's, for such files).
   */
  maxSize?: number
  /**
   * Cancels the read: an abort before the promise settles rejects it with an `AbortError`.
   * Sync calls only check it before starting.
   */
  signal?: AbortSignal
}

/** An OS failure, shaped like Node's: `ENOENT: no such file or directory, open '/x'`. */
export interface SystemError extends Error {
  /** `'ENOENT'`, `'EACCES'`, `'EISDIR'`, `'ENOSPC'`, … */
  code: string
  /** The negative errno, as Node gives it (`-2` for `ENOENT`). */
  errno: number
  /** The failing system call: `'open'`, `'read'`, `'write'`, `'rename'`, … */
  syscall: string
  /** The path involved, when there is one. */
  path?: string
}

/**
 * Writes `data` to `path` and returns the number of bytes written. An array of parts is
 * written in order with one `writev`, never concatenated in memory.
 *
 * The data is borrowed for the call, not copied. Overwriting an existing file writes in
 * place and then trims it (no `O_TRUNC` stall).
 *
 * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for a bad argument or a detached buffer.
 * @throws {SystemError} when the OS refuses (`ENOENT`, `EACCES`, `ENOSPC`, …); never a silent short file.
 */
export function writeFileSync(path: string | URL, data: Data | Data[], options?: WriteOptions): number

/**
 * Writes `data` to `path` off the JS thread; resolves with the number of bytes written.
 *
 * The caller's memory is held, not copied, until the promise settles: do not mutate or
 * transfer it before then (the same rule as `fs.promises.writeFile`).
 *
 * @throws {TypeError} synchronously, `code: 'ABIO_ERR_INVALID_ARG'`, for a bad argument.
 */
export function writeFile(path: string | URL, data: Data | Data[], options?: WriteOptions): Promise<number>

/**
 * Reads `path` (or the part `options` selects) into a new `ArrayBuffer` whose `byteLength`
 * is exactly the bytes read; large results are handed over from Rust without a copy.
 * Files over 2 GiB work.
 *
 * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for a bad argument.
 * @throws {RangeError} `code: 'ABIO_ERR_FILE_TOO_LARGE'` over `maxSize` (or over 2 GiB - 1
 *   from a file of unknown size without `maxSize`).
 * @throws {SystemError} when the OS refuses.
 */
export function readFileSync(path: string | URL, options?: ReadOptions): ArrayBuffer

/**
 * Reads `path` off the JS thread, in one trip to the thread pool, into an exact-size
 * `ArrayBuffer`.
 *
 * @throws {TypeError} synchronously, `code: 'ABIO_ERR_INVALID_ARG'`, for a bad argument.
 */
export function readFile(path: string | URL, options?: ReadOptions): Promise<ArrayBuffer>

/**
 * Reads `path` from `position` into `target` until `target` is full or the file ends;
 * resolves with the number of bytes read. Bytes of the underlying buffer outside the view
 * are not touched.
 *
 * `target` is held and written in place until the promise settles: do not read, mutate or
 * transfer it before then.
 * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for a `target` over a resizable
 * `ArrayBuffer` or growable `SharedArrayBuffer` (it is written after the call returns).
 */
export function readFileInto(
  path: string | URL,
  target: ArrayBufferView,
  options?: { position?: number; signal?: AbortSignal },
): Promise<number>

/**
 * Writes many files in one call, on a few threads (bounded concurrency and open
 * descriptors); resolves with the bytes written per entry, in order.
 *
 * Every entry runs. If any failed, the promise rejects with the first failing entry's error
 * in input order (its `path` set) after the others settled; entries that succeeded stay
 * written. Each entry's data is held, not copied, until the promise settles.
 */
export function writeFiles(
  entries: Array<{ path: string | URL; data: Data | Data[] }>,
  options?: WriteOptions,
): Promise<number[]>

/**
 * Reads many files in one call, on a few threads; resolves with one exact-size
 * `ArrayBuffer` per path, in order. Every path is read; if any failed, the promise rejects
 * with the first failure in input order. `options` apply to every file.
 */
export function readFiles(paths: Array<string | URL>, options?: ReadOptions): Promise<ArrayBuffer[]>

/** The flags `open()` accepts, as Node spells them. */
export type OpenFlags = 'r' | 'r+' | 'w' | 'w+' | 'a' | 'a+' | 'wx'

/**
 * Opens a file. `flags` as Node's (default `'r'`); `mode` for a created file (default
 * `0o666`, the umask applies).
 */
export function open(path: string | URL, flags?: OpenFlags, mode?: number): Promise<FileHandle>

/**
 * An open file, from {@link open}. Every method runs off the JS thread in one pool trip.
 * After `close()`, every other method rejects with `code: 'ABIO_ERR_CLOSED'`. A handle that
 * is garbage-collected while open is closed then.
 */
export class FileHandle {
  private constructor()
  /** The file descriptor, or -1 once closed. */
  readonly fd: number
  /** Reads up to `length` bytes at `position` into an exact-size `ArrayBuffer`: short only at end of file. */
  read(position: number, length: number): Promise<ArrayBuffer>
  /** Fills `target` from `position`; resolves with the bytes read. `target` is held and written until the promise settles (not one over a resizable buffer: `ABIO_ERR_INVALID_ARG`). */
  readInto(target: ArrayBufferView, position?: number): Promise<number>
  /** Writes every byte of `data` at `position` (default: the file offset; appends for `'a'`). `data` is held until the promise settles. */
  write(data: Data, position?: number): Promise<number>
  /** Writes `parts` in order with `writev`. The parts are held until the promise settles. */
  writev(parts: Data[], position?: number): Promise<number>
  /** The file's size in bytes. */
  size(): Promise<number>
  /** Cuts or extends the file to `length` bytes (default 0). */
  truncate(length?: number): Promise<void>
  /** Flushes data and metadata to the device (`fsync`). */
  sync(): Promise<void>
  /** Closes the handle. Idempotent: closing twice is fine. */
  close(): Promise<void>
  /** `await using fh = await open(...)` closes it. */
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * The exact bytes of `data` as an `ArrayBuffer`: the same `ArrayBuffer` when `data` is one
 * or a view spanning one whole, otherwise one copy of just the view's bytes (bytes of a
 * `SharedArrayBuffer` are always copied into a plain `ArrayBuffer`).
 *
 * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for anything that is not `Bytes`.
 */
export function toArrayBuffer(data: Bytes): ArrayBuffer

/**
 * A `Buffer` over the same memory as `data`, without a copy (a `Buffer` is returned as is).
 *
 * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for anything that is not `Bytes`.
 */
export function toBuffer(data: Bytes): Buffer

/** How parts are packed. */
export interface PackOptions {
  /** Alignment of every part's data offset from the packed start: a power of two, 8 to 4096. @default 8 */
  align?: number
  /** Store a CRC32C of every part (and of the header), checked by `unpack` unless `verify: false`. @default true */
  checksum?: boolean
}

/** Parts to pack: a list, or a record of named parts. */
export type Parts = Bytes[] | Record<string, Bytes>

/**
 * The views `unpack` gives back: for a list, an array in order; for a record, an object by name. Each part comes back
 * as the kind it was packed as (`Float64Array` as `Float64Array`, `DataView` as `DataView`); `Buffer`s and bare
 * `ArrayBuffer`s come back as `Uint8Array`s.
 */
export type Unpacked = ArrayBufferView[] | Record<string, ArrayBufferView>

/**
 * Packs several typed arrays into one new `Buffer`: a header (format in docs/FORMAT.md), then each part at an aligned
 * offset, so that `unpack` can hand back views without copying. The parts are borrowed for the call.
 *
 * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for parts that are not `Bytes`, bad options, or record keys that
 *   are not well-formed strings (a lone surrogate cannot be stored as UTF-8).
 * @throws {RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for a record key over 65535 bytes of UTF-8.
 */
export function pack(parts: Parts, options?: PackOptions): Buffer

/** The byte length `pack(parts, options)` would have. */
export function packedSize(parts: Parts, options?: PackOptions): number

/**
 * Packs `parts` into `target` (e.g. a reused buffer) and returns the number of bytes written; the rest of `target` is
 * untouched. Both are borrowed for the call.
 *
 * @throws {RangeError} `code: 'ABIO_ERR_INVALID_ARG'` when `target` is smaller than `packedSize(parts, options)`.
 * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` when a part shares memory with `target`.
 */
export function packInto(target: ArrayBufferView, parts: Parts, options?: PackOptions): number

/**
 * Checks `packed` and returns its parts as views into its memory: no copy. A part whose offset in `packed`'s
 * underlying buffer is not a multiple of its element size (because `packed` itself sits at such an offset) is
 * copied instead. Every length and offset is checked against `packed` first.
 *
 * @throws {Error} `code: 'ABIO_ERR_BAD_FORMAT'` for anything that breaks a rule of the format (wrong magic, newer
 *   version, truncated, out of range, overlapping, …); `code: 'ABIO_ERR_CHECKSUM'` when a CRC32C does not match
 *   (`verify: false` skips the part checksums).
 */
export function unpack(packed: Bytes, options?: { verify?: boolean }): Unpacked

/**
 * Writes the pack of `parts` to `path` with one `writev` straight from the parts: the packed buffer is never built in
 * memory. The parts are held, not copied, until the promise settles. Resolves with the bytes written; the file equals
 * `pack(parts, options)` byte for byte.
 */
export function savePacked(path: string | URL, parts: Parts, options?: PackOptions & WriteOptions): Promise<number>

/**
 * Reads a pack file and unpacks it (views into the file's bytes). With `mmap: true` the file is mapped privately
 * instead of read: pages load as they are touched, and writes to the views stay private. **If another process
 * truncates the file while it is mapped, touching the lost pages raises SIGBUS and kills the process** (as with
 * `Bun.mmap`): use `mmap` only for files nobody else changes.
 */
export function loadPacked(path: string | URL, options?: { verify?: boolean; mmap?: boolean }): Promise<Unpacked>

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

/** Where and how to connect: a TCP `host` and `port`, or a Unix socket `path`. */
export interface ConnectOptions extends SocketOptions {
  /** Host name or IP; a name is looked up and each address tried in turn. @default 'localhost' */
  host?: string
  /** TCP port, 0-65535. Required unless `path` is given. */
  port?: number
  /** A Unix domain socket to connect to instead of TCP. */
  path?: string | URL
  /** Give up after this many milliseconds: rejects with `code: 'ABIO_ERR_TIMEOUT'`. @default no limit (the OS's) */
  timeout?: number
  /** Cancels the connect: rejects with an `AbortError`; a connection made meanwhile is closed. */
  signal?: AbortSignal
}

/** Where and how to listen. */
export interface ListenOptions extends SocketOptions {
  /** Address to bind. @default '::' (dual-stack), or '0.0.0.0' without IPv6 */
  host?: string
  /** TCP port; 0 picks a free one (see `server.port`). @default 0 */
  port?: number
  /** A Unix domain socket path to listen on instead (removed again by `close()`). */
  path?: string | URL
  /** Length of the queue of pending connections. @default 511 */
  backlog?: number
  /** `SO_REUSEPORT`: several processes may listen on the port, the kernel spreads connections. @default false */
  reusePort?: boolean
}

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
  readonly localPort: number;
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
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for bad options, synchronously.
 * Rejects with Node-shaped errors (`connect ECONNREFUSED 127.0.0.1:9`, with `code`, `errno`,
 * `syscall`, `address`, `port`), `ENOTFOUND` for unknown hosts, `ABIO_ERR_TIMEOUT`, or an `AbortError`.
 */
export function connect(options: ConnectOptions): Promise<Socket>

/**
 * Listens over TCP or on a Unix socket and calls `onConnection` (on the JS thread) with each
 * accepted socket. Resolves once listening. A listening server keeps the process alive
 * until `close()` or `unref()`. A handler that throws, or returns a promise that rejects
 * (an `async` one whose client left early), has its socket closed and the error logged
 * with `console.error`; the server goes on accepting.
 *
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for bad options, synchronously.
 * Rejects with Node-shaped errors such as `listen EADDRINUSE: address already in use 127.0.0.1:80`.
 */
export function listen(
  options: ListenOptions,
  onConnection: (socket: Socket) => void | Promise<unknown>,
): Promise<Server>

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
}

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

/** `serve({ websocket })`: upgrades, and the connections' events (on the JS thread). */
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
}

/** Options of {@link connectWebSocket}. */
export interface ConnectWebSocketOptions extends WebSocketConnectionOptions {
  /** Headers of the upgrade request (e.g. `authorization`, `cookie`). */
  headers?: Record<string, string>
  /** Aborts the connect (an `AbortError`). */
  signal?: AbortSignal
}

/**
 * Opens a WebSocket to a `ws:` URL (`wss:` is not supported in this version); resolves once
 * the server accepted the upgrade. The connection holds the process open until it closes.
 *
 * @throws {TypeError|RangeError} `code: 'ABIO_ERR_INVALID_ARG'` for a bad URL or options, synchronously.
 * Rejects with Node-shaped connect errors (`ECONNREFUSED`), `ABIO_ERR_WS_HANDSHAKE` (with
 * `status`) when the server does not switch protocols, or an `AbortError`.
 */
export function connectWebSocket(url: string | URL, options?: ConnectWebSocketOptions): Promise<WebSocket>

/** A listening HTTP server, from {@link serve}. */
export class HttpServer {
  private constructor()
  /** The port listened on (the one picked, for port 0). */
  readonly port: number
  /** The address listened on (`'::'`, `'127.0.0.1'`, ...). */
  readonly host: string
  /**
   * Replaces every route at once; requests being answered keep the bodies they got.
   * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for bad routes.
   */
  reload(options: { routes: Record<string, Route> }): void
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

/** Options of {@link request} and {@link download}. */
export interface RequestOptions {
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
