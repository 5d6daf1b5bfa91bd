// abio's public typings: bytes (what abio reads from JS memory), the options shared by the
// areas that write files, and the OS error shape. Re-exported by ../index.d.ts.
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

/** The fields of {@link WriteOptions}. */
export interface WriteOptionFields {
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

/**
 * How a file is written. `append: true` with `atomic: true` does not type-check (it throws
 * at run time); an unknown option name throws `ABIO_ERR_INVALID_ARG`.
 */
export type WriteOptions = WriteOptionFields & ({ append?: false } | { atomic?: false })

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
