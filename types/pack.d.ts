// abio's public typings: packing typed arrays into one buffer or file. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { Bytes, WriteOptions } from './bytes'

/** The alignments `pack` takes: a power of two, 8 to 4096. */
export type PackAlign = 8 | 16 | 32 | 64 | 128 | 256 | 512 | 1024 | 2048 | 4096

/** How parts are packed. An unknown option name throws `ABIO_ERR_INVALID_ARG`. */
export interface PackOptions {
  /** Alignment of every part's data offset from the packed start: a power of two, 8 to 4096. @default 8 */
  align?: PackAlign
  /** Store a CRC32C of every part (and of the header), checked by `unpack` unless `verify: false`. @default true */
  checksum?: boolean
}

/** Parts to pack: a list, or a record of named parts. */
export type Parts = Bytes[] | Record<string, Bytes>

/**
 * The view one part comes back as from `unpack`: the kind it was packed as (`Float64Array` as `Float64Array`,
 * `DataView` as `DataView`); a `Buffer` or a bare `ArrayBuffer`/`SharedArrayBuffer` as a `Uint8Array`.
 */
export type UnpackedPart<T> = [T] extends [Buffer]
  ? Uint8Array
  : [T] extends [ArrayBuffer | SharedArrayBuffer]
    ? Uint8Array
    : [T] extends [ArrayBufferView]
      ? T
      : ArrayBufferView

/**
 * The views `unpack` gives back: for a list, an array in order; for a record, an object by name. Each part comes back
 * as the kind it was packed as ({@link UnpackedPart}). `Unpacked<P>` is what the parts `P` given to `pack` come back
 * as (`Unpacked<{ a: Float32Array; b: Buffer }>` is `{ a: Float32Array; b: Uint8Array }`, a tuple stays a tuple);
 * `Unpacked` alone is any list or record of views.
 */
export type Unpacked<P extends PartsShape<P> = Parts> = { [K in keyof P]: UnpackedPart<P[K]> }

/**
 * What `unpack<P>` accepts as `P`: a record (type or interface) or a list (array or tuple) of `Bytes`, as given to
 * `pack`, or of the views that come back.
 */
export type PartsShape<P> = { readonly [K in keyof P]: Bytes }

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
 * `unpack<P>(packed)` types the result as what the parts `P` come back as, without a cast:
 * `unpack<{ pos: Float32Array; ids: Uint32Array }>(buf).pos` is a `Float32Array`; `unpack<typeof parts>(buf)` for
 * the `parts` given to `pack`. The type argument is a promise the caller makes (nothing checks the pack holds
 * those kinds at run time); without it, the result is any {@link Unpacked}.
 *
 * @throws {Error} `code: 'ABIO_ERR_BAD_FORMAT'` for anything that breaks a rule of the format (wrong magic, newer
 *   version, truncated, out of range, overlapping, …); `code: 'ABIO_ERR_CHECKSUM'` when a CRC32C does not match
 *   (`verify: false` skips the part checksums).
 */
export function unpack<P extends PartsShape<P> = Parts>(packed: Bytes, options?: UnpackOptions): Unpacked<P>

/** Options of {@link unpack}. */
export interface UnpackOptions {
  /** Check the part checksums (the header's is always checked). @default true */
  verify?: boolean
}

/** Options of {@link loadPacked}. */
export interface LoadPackedOptions extends UnpackOptions {
  /**
   * Map the file privately instead of reading it: pages load as they are touched, and writes to the views stay
   * private. See {@link loadPacked} for the risk. @default false
   */
  mmap?: boolean
}

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
 * `Bun.mmap`): use `mmap` only for files nobody else changes. `loadPacked<P>(path)` types the result as
 * {@link unpack}`<P>` does.
 */
export function loadPacked<P extends PartsShape<P> = Parts>(
  path: string | URL,
  options?: LoadPackedOptions,
): Promise<Unpacked<P>>
