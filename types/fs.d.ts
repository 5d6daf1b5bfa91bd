// abio's public typings: files. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { Data, WriteOptions } from './bytes'

/** Which bytes of a file are read. An unknown option name throws `ABIO_ERR_INVALID_ARG`. */
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
 * Options of {@link readFile} and {@link readFileSync}: {@link ReadOptions}, and Node's
 * `encoding`.
 */
export interface ReadFileOptions extends ReadOptions {
  /**
   * Decode the bytes read into a string, as Node's `fs.readFile` does (any encoding `Buffer`
   * knows: `'utf8'`, `'latin1'`, `'base64'`, `'hex'`, …; a BOM is kept, invalid UTF-8
   * becomes U+FFFD). `null` or absent: an `ArrayBuffer`.
   */
  encoding?: BufferEncoding | null
}

/** {@link ReadFileOptions} that decode to a string: an encoding, or options naming one. */
export type ReadTextOptions = BufferEncoding | (ReadFileOptions & { encoding: BufferEncoding })

/**
 * {@link ReadFileOptions} that read bytes (no encoding). An object: a string (which has a
 * `length`) is no options object.
 */
export type ReadBytesOptions = ReadFileOptions & { encoding?: null } & object

/**
 * Reads `path` (or the part `options` selects) into a new `ArrayBuffer` whose `byteLength`
 * is exactly the bytes read; large results are handed over from Rust without a copy.
 * Files over 2 GiB work. With an encoding (`readFileSync(path, 'utf8')`, or
 * `{ encoding }`), returns the bytes decoded into a string instead, as Node's does.
 *
 * @throws {TypeError} `code: 'ABIO_ERR_INVALID_ARG'` for a bad argument, an unknown option
 *   name or an encoding `Buffer` does not know.
 * @throws {RangeError} `code: 'ABIO_ERR_FILE_TOO_LARGE'` over `maxSize` (or over 2 GiB - 1
 *   from a file of unknown size without `maxSize`).
 * @throws {Error} `code: 'ERR_STRING_TOO_LONG'` when the decoded string would be longer than
 *   V8's limit (about 512 MiB of characters).
 * @throws {SystemError} when the OS refuses.
 */
export function readFileSync(path: string | URL, options: ReadTextOptions): string
export function readFileSync(path: string | URL, options?: ReadBytesOptions): ArrayBuffer
export function readFileSync(
  path: string | URL,
  options?: BufferEncoding | (ReadFileOptions & object),
): ArrayBuffer | string

/**
 * Reads `path` off the JS thread, in one trip to the thread pool, into an exact-size
 * `ArrayBuffer`; with an encoding (`readFile(path, 'utf8')`, or `{ encoding }`), resolves
 * with the bytes decoded into a string instead, as Node's does.
 *
 * @throws {TypeError} synchronously, `code: 'ABIO_ERR_INVALID_ARG'`, for a bad argument, an
 *   unknown option name or an encoding `Buffer` does not know. Rejects as
 *   {@link readFileSync} throws.
 */
export function readFile(path: string | URL, options: ReadTextOptions): Promise<string>
export function readFile(path: string | URL, options?: ReadBytesOptions): Promise<ArrayBuffer>
export function readFile(
  path: string | URL,
  options?: BufferEncoding | (ReadFileOptions & object),
): Promise<ArrayBuffer | string>

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
export function readFiles(paths: Array<string | URL>, options?: ReadOptions & object): Promise<ArrayBuffer[]>

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
