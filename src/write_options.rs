//! How a file is written (`WriteOptions`), as `lib/args.js` flattens it into bits and a
//! mode: shared by the calls that write files (files, packs, HTTP bodies to disk, downloads).
//! The bits are [`WriteFlag`], defined here once: `lib/args.js` reads them from the binding.

use abio_core::fs::WriteOptions;
use napi_derive::napi;

/// The bits of `flags`, the boolean `WriteOptions` as `lib/args.js` passes them to every
/// call that writes a file (`binding.WriteFlag` in JS).
#[napi]
pub enum WriteFlag {
    /// `append`: append (`O_APPEND`) instead of replacing.
    Append = 1,
    /// `atomic`: write a temporary file beside the target, then rename it over the target.
    Atomic = 2,
    /// `durable`: `fdatasync` before returning (and `fsync` the directory after an atomic
    /// rename).
    Durable = 4,
    /// `mkdirs`: create missing parent directories.
    Mkdirs = 8,
}

/// Whether `flags` has `flag`.
fn has(flags: u32, flag: WriteFlag) -> bool {
    flags & flag as u32 != 0
}

/// `WriteOptions` from the bits and mode `lib/` passes (`mode` < 0: the default).
pub fn write_options(flags: u32, mode: i32) -> WriteOptions {
    WriteOptions {
        append: has(flags, WriteFlag::Append),
        atomic: has(flags, WriteFlag::Atomic),
        durable: has(flags, WriteFlag::Durable),
        mkdirs: has(flags, WriteFlag::Mkdirs),
        mode: u32::try_from(mode).ok(),
    }
}
