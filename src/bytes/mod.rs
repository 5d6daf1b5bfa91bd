//! JS memory in and out: the only module that converts JS byte values.
//!
//! In: `Data` is a string (encoded as UTF-8) or any `ArrayBufferView` (`Buffer`, every
//! TypedArray, `DataView`); `lib/` wraps bare `ArrayBuffer`s and `SharedArrayBuffer`s in a
//! `Uint8Array` first (Node 20's Node-API cannot see a bare `SharedArrayBuffer`). A view
//! is never copied: sync calls borrow it for the call ([`BorrowedList`]), async calls hold a
//! reference to it until their promise settles ([`HeldList`]).
//!
//! Out: [`OutBytes`] becomes an `ArrayBuffer` of exactly the bytes, handed over without
//! a copy, or copied into V8's heap when small (cheaper than an external buffer);
//! [`OutBuffer`] the same as a `Buffer` (packs); [`BatchOut`] one `ArrayBuffer` per file
//! of a batch; [`NewArrayBuffer`] V8 memory filled in place on the JS thread (cached reads,
//! [`Layout`] of an unpack); [`MappedFile`] an `ArrayBuffer` over a private mapping.
//!
//! What comes in is [`incoming`]; what goes out, [`out`].

mod incoming;
mod out;

pub use self::incoming::*;
pub use self::out::*;

/// A JS string as header bytes: Latin-1, as Node writes header values; `None` when a
/// character is above U+00FF.
pub fn latin1_bytes(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// Header bytes as a JS string: Latin-1, as Node reads header values.
pub fn latin1_string(b: &[u8]) -> String {
    b.iter().map(|&b| b as char).collect()
}
