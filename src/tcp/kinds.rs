//! Codes of a socket's reads that `lib/net.js` and this area both use, defined once here:
//! `lib/` reads them from the binding (`binding.ReadKind`, `binding.MAX_FRAME`).

use napi_derive::napi;

/// What a socket's `read(kind, n)` waits for (`binding.ReadKind` in JS).
#[napi]
pub enum ReadKind {
    /// Up to `n` bytes, whatever arrived (`null` at the end of the stream).
    Chunk = 0,
    /// Exactly `n` bytes.
    Exactly = 1,
    /// One frame (a 4-byte big-endian length, then that many bytes) of at most `n` bytes
    /// (`null` at the end of the stream).
    Frame = 2,
}

/// The largest frame a socket sends or reads: its length field is a `u32`.
#[napi]
pub const MAX_FRAME: u32 = u32::MAX;

/// The largest frame `readFrame()` takes when not told (`options.maxSize`): 64 MiB.
#[napi]
pub const DEFAULT_MAX_FRAME: u32 = abio_core::frame::DEFAULT_MAX;
