// abio's public typings: packing typed arrays into one buffer or file. Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { Bytes, WriteOptions } from './bytes'

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
