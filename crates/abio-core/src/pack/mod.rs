//! The pack format: several byte ranges (the bytes of typed arrays) in one buffer, each at
//! an aligned offset, in order or by name, each with a CRC32C. Specified byte by byte in
//! `docs/FORMAT.md`; this module is its one implementation, and the layout constants
//! below are the only place the numbers live.
//!
//! ```text
//! header (40 bytes) | directory (32 bytes per part) | names | zero padding | part 0 | pad | part 1 | …
//! ```
//!
//! Every integer is little-endian. The reader (`read.rs`) trusts nothing: every
//! count, offset and length is checked against the input before anything is allocated or
//! sliced.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::fs::Spread;
use crate::{Error, Result};

mod read;
pub use read::{parse, parse_entries, parse_header, verify_parts, Entry, Header, Unpacked};

/// The first 8 bytes of every pack.
pub const MAGIC: [u8; 8] = *b"ABIOPAK\0";
/// The version this code writes; it reads this version and older.
pub const VERSION: u16 = 1;
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Bytes of one directory entry.
pub const ENTRY_LEN: usize = 32;
/// Header flag: every part carries a CRC32C, and the header one of itself.
pub const FLAG_CHECKSUMS: u16 = 1;
/// Header flag: parts have names (packed from a record, unpacked to one).
pub const FLAG_NAMED: u16 = 2;
const KNOWN_FLAGS: u16 = FLAG_CHECKSUMS | FLAG_NAMED;
/// Smallest, default and largest alignment of part data.
pub const MIN_ALIGN: u32 = 8;
/// The alignment used when none is given: enough for every TypedArray element.
pub const DEFAULT_ALIGN: u32 = 8;
/// Largest alignment (a page).
pub const MAX_ALIGN: u32 = 4096;
/// Longest name, in UTF-8 bytes.
pub const MAX_NAME: usize = u16::MAX as usize;

// Header field offsets.
const H_VERSION: usize = 8;
const H_FLAGS: usize = 10;
const H_COUNT: usize = 12;
const H_ALIGN: usize = 16;
const H_NAMES_LEN: usize = 20;
const H_TOTAL_LEN: usize = 24;
const H_CRC: usize = 32;
// Entry field offsets.
const E_KIND: usize = 0;
const E_NAME_LEN: usize = 2;
const E_NAME_OFF: usize = 4;
const E_OFFSET: usize = 8;
const E_LENGTH: usize = 16;
const E_CRC: usize = 24;

/// What a part was, so it comes back as the same kind of view. The codes are part of the
/// format (docs/FORMAT.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A bare `ArrayBuffer` (unpacked as a `Uint8Array` over the packed memory).
    ArrayBuffer = 0,
    /// `Uint8Array` (and `Buffer`).
    Uint8 = 1,
    /// `Int8Array`.
    Int8 = 2,
    /// `Uint8ClampedArray`.
    Uint8Clamped = 3,
    /// `Int16Array`.
    Int16 = 4,
    /// `Uint16Array`.
    Uint16 = 5,
    /// `Int32Array`.
    Int32 = 6,
    /// `Uint32Array`.
    Uint32 = 7,
    /// `Float32Array`.
    Float32 = 8,
    /// `Float64Array`.
    Float64 = 9,
    /// `BigInt64Array`.
    BigInt64 = 10,
    /// `BigUint64Array`.
    BigUint64 = 11,
    /// `DataView`.
    DataView = 12,
}

impl Kind {
    /// The kind with this code, if any.
    pub fn from_code(code: u8) -> Option<Kind> {
        use Kind::*;
        Some(match code {
            0 => ArrayBuffer,
            1 => Uint8,
            2 => Int8,
            3 => Uint8Clamped,
            4 => Int16,
            5 => Uint16,
            6 => Int32,
            7 => Uint32,
            8 => Float32,
            9 => Float64,
            10 => BigInt64,
            11 => BigUint64,
            12 => DataView,
            _ => return None,
        })
    }

    /// Every kind, in code order.
    pub const ALL: [Kind; 13] = [
        Kind::ArrayBuffer,
        Kind::Uint8,
        Kind::Int8,
        Kind::Uint8Clamped,
        Kind::Int16,
        Kind::Uint16,
        Kind::Int32,
        Kind::Uint32,
        Kind::Float32,
        Kind::Float64,
        Kind::BigInt64,
        Kind::BigUint64,
        Kind::DataView,
    ];

    /// The JS type this kind stands for (`Symbol.toStringTag` of such a view).
    pub fn js_name(self) -> &'static str {
        use Kind::*;
        match self {
            ArrayBuffer => "ArrayBuffer",
            Uint8 => "Uint8Array",
            Int8 => "Int8Array",
            Uint8Clamped => "Uint8ClampedArray",
            Int16 => "Int16Array",
            Uint16 => "Uint16Array",
            Int32 => "Int32Array",
            Uint32 => "Uint32Array",
            Float32 => "Float32Array",
            Float64 => "Float64Array",
            BigInt64 => "BigInt64Array",
            BigUint64 => "BigUint64Array",
            DataView => "DataView",
        }
    }

    /// Bytes per element: a part's length is a multiple of it.
    pub fn element_size(self) -> u64 {
        use Kind::*;
        match self {
            ArrayBuffer | Uint8 | Int8 | Uint8Clamped | DataView => 1,
            Int16 | Uint16 => 2,
            Int32 | Uint32 | Float32 => 4,
            Float64 | BigInt64 | BigUint64 => 8,
        }
    }
}

/// One part to pack.
#[derive(Clone, Copy, Debug)]
pub struct Part<'a> {
    /// What it is.
    pub kind: Kind,
    /// Its name (ignored unless the pack is named).
    pub name: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// How to pack.
#[derive(Clone, Copy, Debug)]
pub struct PackOptions {
    /// Alignment of every part's data offset: a power of two, 8 to 4096.
    pub align: u32,
    /// Store a CRC32C per part (and one of the header).
    pub checksum: bool,
    /// Store the parts' names (a record rather than a list).
    pub named: bool,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            align: DEFAULT_ALIGN,
            checksum: true,
            named: false,
        }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadFormat(msg.into())
}

fn align_up(n: u64, align: u64) -> Option<u64> {
    Some(n.checked_add(align - 1)? & !(align - 1))
}

fn check_align(align: u32) -> Result<()> {
    if align.is_power_of_two() && (MIN_ALIGN..=MAX_ALIGN).contains(&align) {
        Ok(())
    } else {
        Err(bad(format!(
            "align must be a power of two from {MIN_ALIGN} to {MAX_ALIGN}, got {align}"
        )))
    }
}

/// Where everything goes: the offsets of each part's data and the total length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Bytes before the first part: header, directory, names and padding.
    pub data_start: u64,
    /// Each part's data offset from the packed start.
    pub offsets: Vec<u64>,
    /// The packed length.
    pub total: u64,
    names_len: u64,
}

/// Plans a pack of parts with these lengths and name lengths (names only when
/// `opts.named`). Fails for a bad alignment, a name over [`MAX_NAME`] bytes, a length that
/// is not a multiple of its kind's element size, or more than `u32::MAX` parts.
pub fn plan(parts: &[Part], opts: &PackOptions) -> Result<Plan> {
    check_align(opts.align)?;
    let count = u32::try_from(parts.len()).map_err(|_| bad("too many parts"))?;
    let mut names_len: u64 = 0;
    let mut seen = std::collections::HashSet::new();
    for p in parts {
        if !(p.bytes.len() as u64).is_multiple_of(p.kind.element_size()) {
            return Err(bad(format!(
                "a {:?} part of {} bytes is not a whole number of elements",
                p.kind,
                p.bytes.len()
            )));
        }
        if opts.named {
            if p.name.len() > MAX_NAME {
                return Err(bad(format!(
                    "a name of {} bytes is over {MAX_NAME}",
                    p.name.len()
                )));
            }
            if !seen.insert(p.name) {
                return Err(bad(format!("the name {:?} is used twice", p.name)));
            }
            names_len += p.name.len() as u64;
        }
    }
    if names_len > u32::MAX as u64 {
        return Err(bad("names over 4 GiB"));
    }
    let align = opts.align as u64;
    let overflow = || bad("packed size overflows");
    let head = HEADER_LEN as u64 + ENTRY_LEN as u64 * count as u64 + names_len;
    let data_start = align_up(head, align).ok_or_else(overflow)?;
    let mut offsets = Vec::with_capacity(parts.len());
    let mut end = data_start;
    for (i, p) in parts.iter().enumerate() {
        let at = if i == 0 {
            data_start
        } else {
            align_up(end, align).ok_or_else(overflow)?
        };
        offsets.push(at);
        end = at.checked_add(p.bytes.len() as u64).ok_or_else(overflow)?;
    }
    Ok(Plan {
        data_start,
        offsets,
        total: end,
        names_len,
    })
}

/// The CRC32C of `bytes` (hardware-accelerated where the CPU has it).
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// The CRC32C of every part, computed through `spread` (one part per item): a separate
/// pass over the inputs measured faster than one fused with the copy.
pub fn checksums(parts: &[Part], spread: Spread) -> Vec<u32> {
    let crcs: Vec<AtomicU32> = parts.iter().map(|_| AtomicU32::new(0)).collect();
    spread(parts.len(), &|i| {
        crcs[i].store(crc32c(parts[i].bytes), Ordering::Relaxed)
    });
    crcs.into_iter().map(AtomicU32::into_inner).collect()
}

/// The header, directory and names of a pack, padded with zeros to `plan.data_start`:
/// everything before the first part. `crcs` are the parts' [`checksums`] (unused, and may
/// be empty, without `opts.checksum`).
pub fn header(parts: &[Part], opts: &PackOptions, plan: &Plan, crcs: &[u32]) -> Vec<u8> {
    let mut h = vec![0u8; plan.data_start as usize];
    h[..8].copy_from_slice(&MAGIC);
    let mut flags = 0;
    if opts.checksum {
        flags |= FLAG_CHECKSUMS;
    }
    if opts.named {
        flags |= FLAG_NAMED;
    }
    put_u16(&mut h, H_VERSION, VERSION);
    put_u16(&mut h, H_FLAGS, flags);
    put_u32(&mut h, H_COUNT, parts.len() as u32);
    put_u32(&mut h, H_ALIGN, opts.align);
    put_u32(&mut h, H_NAMES_LEN, plan.names_len as u32);
    put_u64(&mut h, H_TOTAL_LEN, plan.total);
    let names_at = HEADER_LEN + ENTRY_LEN * parts.len();
    let mut name_off = 0usize;
    for (i, p) in parts.iter().enumerate() {
        let e = HEADER_LEN + ENTRY_LEN * i;
        h[e + E_KIND] = p.kind as u8;
        if opts.named {
            put_u16(&mut h, e + E_NAME_LEN, p.name.len() as u16);
            put_u32(&mut h, e + E_NAME_OFF, name_off as u32);
            h[names_at + name_off..names_at + name_off + p.name.len()]
                .copy_from_slice(p.name.as_bytes());
            name_off += p.name.len();
        }
        put_u64(&mut h, e + E_OFFSET, plan.offsets[i]);
        put_u64(&mut h, e + E_LENGTH, p.bytes.len() as u64);
        if opts.checksum {
            put_u32(&mut h, e + E_CRC, crcs[i]);
        }
    }
    if opts.checksum {
        // Header, directory and names; the padding after them is not covered.
        let crc = crc32c(&h[..names_at + name_off]);
        put_u32(&mut h, H_CRC, crc);
    }
    h
}

/// Zeros for the padding between parts (never more than the largest alignment).
pub static ZEROS: [u8; MAX_ALIGN as usize] = [0; MAX_ALIGN as usize];

/// Writes a whole pack into `out` (at least `plan.total` bytes; the rest is untouched) and
/// returns its length.
pub fn pack_into(out: &mut [u8], parts: &[Part], opts: &PackOptions) -> Result<u64> {
    pack_into_uninit(crate::fs::as_uninit(out), parts, opts, &|n, f| {
        (0..n).for_each(f)
    })
}

/// [`pack_into`] for fresh memory, with the checksums and the copy of each part run
/// through `spread` (one part per item, on several threads if the caller likes). Every
/// byte of `out[..total]` is written (header, parts and zero padding), so it is initialised
/// afterwards.
pub fn pack_into_uninit(
    out: &mut [MaybeUninit<u8>],
    parts: &[Part],
    opts: &PackOptions,
    spread: Spread,
) -> Result<u64> {
    let plan = plan(parts, opts)?;
    let total = usize::try_from(plan.total).map_err(|_| bad("packed size overflows"))?;
    if out.len() < total {
        return Err(bad(format!(
            "the target holds {} bytes, the pack needs {total}",
            out.len()
        )));
    }
    let crcs = if opts.checksum {
        checksums(parts, spread)
    } else {
        Vec::new()
    };
    let head = header(parts, opts, &plan, &crcs);
    out[..head.len()].write_copy_of_slice(&head);
    let mut end = head.len();
    for (p, &at) in parts.iter().zip(&plan.offsets) {
        let at = at as usize;
        out[end..at].write_copy_of_slice(&ZEROS[..at - end]);
        end = at + p.bytes.len();
    }
    let base = out.as_mut_ptr() as usize;
    spread(parts.len(), &|i| {
        let (bytes, at) = (parts[i].bytes, plan.offsets[i] as usize);
        // SAFETY: part `i` goes to out[at..at + len], inside `out` (checked against `total`
        // above) and disjoint from every other part's range and from the header and
        // padding written above; `out` outlives `spread`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), (base as *mut u8).add(at), bytes.len())
        };
    });
    Ok(plan.total)
}

fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests;
