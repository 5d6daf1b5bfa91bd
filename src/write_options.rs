//! How a file is written (`WriteOptions`), as `lib/args.js` flattens it into bits and a
//! mode: shared by the calls that write files (files, packs, HTTP bodies to disk, downloads).

use abio_core::fs::WriteOptions;

/// `WriteOptions` flattened by `lib/fs.js` into bits.
const APPEND: u32 = 1;
const ATOMIC: u32 = 2;
const DURABLE: u32 = 4;
const MKDIRS: u32 = 8;

/// `WriteOptions` from the bits and mode `lib/` passes.
pub fn write_options(flags: u32, mode: i32) -> WriteOptions {
    WriteOptions {
        append: flags & APPEND != 0,
        atomic: flags & ATOMIC != 0,
        durable: flags & DURABLE != 0,
        mkdirs: flags & MKDIRS != 0,
        mode: u32::try_from(mode).ok(),
    }
}
