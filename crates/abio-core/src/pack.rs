//! The pack format: several byte ranges (the bytes of typed arrays) in one buffer, each at
//! an aligned offset, in order or by name, each with a CRC32C. Specified byte by byte in
//! `docs/FORMAT.md`; this module is its one implementation, and the layout constants
//! below are the only place the numbers live.
//!
//! ```text
//! header (40 bytes) | directory (32 bytes per part) | names | zero padding | part 0 | pad | part 1 | …
//! ```
//!
//! Every integer is little-endian. The reader trusts nothing: every count, offset and
//! length is checked against the input before anything is allocated or sliced.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::fs::Spread;
use crate::{Error, Result};

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

/// One part found by [`parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What it was.
    pub kind: Kind,
    /// Its name (empty in an unnamed pack).
    pub name: String,
    /// Its data offset from the packed start (a multiple of the pack's alignment).
    pub offset: u64,
    /// Its length in bytes (a multiple of the kind's element size).
    pub length: u64,
}

/// A checked pack: its parts, all in bounds of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// Whether the parts are named (a record).
    pub named: bool,
    /// The alignment of part offsets.
    pub align: u32,
    /// The parts, in order.
    pub entries: Vec<Entry>,
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

/// A pack's header, checked: what [`parse_entries`] and [`verify_parts`] need.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    /// Whether the parts are named (a record).
    pub named: bool,
    /// Whether CRC32Cs are stored.
    pub checksums: bool,
    /// Number of parts; the directory is known to fit the input.
    pub count: usize,
    /// Alignment of part offsets.
    pub align: u32,
    /// The pack's length (at most the input's).
    pub total: u64,
    names_at: usize,
    head_end: usize,
    data_start: u64,
}

/// Checks the header (rules 1-9 of docs/FORMAT.md): afterwards the directory and names are
/// known to lie inside `input`, so `count` may size an allocation. With `verify`, the
/// header's own CRC32C is checked too.
pub fn parse_header(input: &[u8], verify: bool) -> Result<Header> {
    if input.len() < HEADER_LEN {
        return Err(bad(format!(
            "{} bytes is shorter than a pack header ({HEADER_LEN})",
            input.len()
        )));
    }
    if input[..8] != MAGIC {
        return Err(bad("not an abio pack (wrong magic)"));
    }
    let version = get_u16(input, H_VERSION);
    if version == 0 || version > VERSION {
        return Err(bad(format!(
            "pack version {version} is not supported (this abio reads up to {VERSION})"
        )));
    }
    let flags = get_u16(input, H_FLAGS);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(bad(format!("unknown flags {flags:#06x}")));
    }
    let (checksums, named) = (flags & FLAG_CHECKSUMS != 0, flags & FLAG_NAMED != 0);
    let count = get_u32(input, H_COUNT) as u64;
    let align = get_u32(input, H_ALIGN);
    check_align(align)?;
    let names_len = get_u32(input, H_NAMES_LEN) as u64;
    let total = get_u64(input, H_TOTAL_LEN);
    if total > input.len() as u64 {
        return Err(bad(format!(
            "the pack says {total} bytes, the input has {}",
            input.len()
        )));
    }
    if !named && names_len != 0 {
        return Err(bad("names in an unnamed pack"));
    }
    // u64 arithmetic cannot overflow here: count and names_len are at most 2^32.
    let names_at = HEADER_LEN as u64 + ENTRY_LEN as u64 * count;
    let head_end = names_at + names_len;
    if head_end > total {
        return Err(bad(format!(
            "{count} parts and {names_len} bytes of names do not fit in {total} bytes"
        )));
    }
    if checksums && verify {
        // The CRC field counts as zero: checksum around it rather than copy the head.
        let head = &input[..head_end as usize];
        let crc = crc32c::crc32c_append(crc32c(&head[..H_CRC]), &[0; 4]);
        if crc32c::crc32c_append(crc, &head[H_CRC + 4..]) != get_u32(input, H_CRC) {
            return Err(Error::Checksum(
                "the pack's header is corrupt (CRC32C mismatch)".into(),
            ));
        }
    }
    Ok(Header {
        named,
        checksums,
        count: count as usize,
        align,
        total,
        names_at: names_at as usize,
        head_end: head_end as usize,
        data_start: align_up(head_end, align as u64).expect("head_end is small"),
    })
}

fn entry(input: &[u8], i: usize) -> &[u8] {
    &input[HEADER_LEN + ENTRY_LEN * i..HEADER_LEN + ENTRY_LEN * (i + 1)]
}

/// Checks every directory entry (rule 10 of docs/FORMAT.md) and calls
/// `visit(i, kind, name, offset, length)` for each, in order; every part it is given lies
/// inside `input`, after the previous one. `header` must come from [`parse_header`] of the
/// same `input`.
pub fn parse_entries(
    input: &[u8],
    header: &Header,
    mut visit: impl FnMut(usize, Kind, &str, u64, u64),
) -> Result<()> {
    let h = header;
    let names = &input[h.names_at..h.head_end];
    let mut seen = std::collections::HashSet::new();
    let mut end = h.data_start;
    for i in 0..h.count {
        let e = entry(input, i);
        let kind = Kind::from_code(e[E_KIND])
            .ok_or_else(|| bad(format!("part {i}: unknown kind {}", e[E_KIND])))?;
        let (offset, length) = (get_u64(e, E_OFFSET), get_u64(e, E_LENGTH));
        // Masks, not divisions: both are powers of two, and this loop runs per part.
        if offset & (h.align as u64 - 1) != 0 {
            return Err(bad(format!(
                "part {i}: offset {offset} is not a multiple of {}",
                h.align
            )));
        }
        if offset < end {
            return Err(bad(format!(
                "part {i}: offset {offset} overlaps what comes before it (ends at {end})"
            )));
        }
        end = offset
            .checked_add(length)
            .filter(|&e| e <= h.total)
            .ok_or_else(|| {
                bad(format!(
                    "part {i}: {length} bytes at {offset} run past the pack's {} bytes",
                    h.total
                ))
            })?;
        if length & (kind.element_size() - 1) != 0 {
            return Err(bad(format!(
                "part {i}: {length} bytes is not a whole number of {kind:?} elements"
            )));
        }
        let name = if h.named {
            let (off, len) = (
                get_u32(e, E_NAME_OFF) as usize,
                get_u16(e, E_NAME_LEN) as usize,
            );
            let bytes = names
                .get(off..off + len)
                .ok_or_else(|| bad(format!("part {i}: its name lies outside the names")))?;
            let name = std::str::from_utf8(bytes)
                .map_err(|_| bad(format!("part {i}: its name is not UTF-8")))?;
            if !seen.insert(bytes) {
                return Err(bad(format!("part {i}: the name {name:?} is used twice")));
            }
            name
        } else {
            ""
        };
        visit(i, kind, name, offset, length);
    }
    Ok(())
}

/// Checks every part's CRC32C (rule 11 of docs/FORMAT.md), through `spread` (a few hundred
/// parts per item), and reports the first mismatch in directory order. Does nothing for a
/// pack without checksums. Entries must have passed [`parse_entries`].
pub fn verify_parts(input: &[u8], header: &Header, spread: Spread) -> Result<()> {
    if !header.checksums {
        return Ok(());
    }
    const PER_ITEM: usize = 512;
    let first_bad = std::sync::atomic::AtomicUsize::new(usize::MAX);
    spread(header.count.div_ceil(PER_ITEM), &|k| {
        for i in k * PER_ITEM..((k + 1) * PER_ITEM).min(header.count) {
            let e = entry(input, i);
            let (offset, length) = (get_u64(e, E_OFFSET) as usize, get_u64(e, E_LENGTH) as usize);
            let ok = input
                .get(offset..offset.saturating_add(length))
                .is_some_and(|data| crc32c(data) == get_u32(e, E_CRC));
            if !ok {
                first_bad.fetch_min(i, Ordering::Relaxed);
                return;
            }
        }
    });
    let i = first_bad.into_inner();
    if i == usize::MAX {
        return Ok(());
    }
    let mut what = format!("part {i}");
    if header.named {
        let e = entry(input, i);
        let (off, len) = (
            get_u32(e, E_NAME_OFF) as usize,
            get_u16(e, E_NAME_LEN) as usize,
        );
        if let Some(name) = input[header.names_at..header.head_end]
            .get(off..off + len)
            .and_then(|b| std::str::from_utf8(b).ok())
        {
            what = format!("part {name:?}");
        }
    }
    Err(Error::Checksum(format!(
        "{what} is corrupt (CRC32C mismatch)"
    )))
}

/// Checks `input` as a pack and returns its parts: [`parse_header`], [`parse_entries`] and,
/// with `verify`, [`verify_parts`]. Every rule of docs/FORMAT.md is checked before
/// anything is allocated from a header field, so memory use is bounded by the input's size.
pub fn parse(input: &[u8], verify: bool) -> Result<Unpacked> {
    let h = parse_header(input, verify)?;
    let mut entries = Vec::with_capacity(h.count);
    parse_entries(input, &h, |_, kind, name, offset, length| {
        entries.push(Entry {
            kind,
            name: name.to_string(),
            offset,
            length,
        })
    })?;
    if verify {
        verify_parts(input, &h, &|n, f| (0..n).for_each(f))?;
    }
    Ok(Unpacked {
        named: h.named,
        align: h.align,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parts_of<'a>(specs: &'a [(Kind, String, Vec<u8>)]) -> Vec<Part<'a>> {
        specs
            .iter()
            .map(|(kind, name, bytes)| Part {
                kind: *kind,
                name,
                bytes,
            })
            .collect()
    }

    fn pack(parts: &[Part], opts: &PackOptions) -> Vec<u8> {
        let plan = plan(parts, opts).unwrap();
        let mut out = vec![0xAAu8; plan.total as usize];
        assert_eq!(pack_into(&mut out, parts, opts).unwrap(), plan.total);
        out
    }

    #[test]
    fn round_trip_with_alignment_and_names() {
        let specs = vec![
            (Kind::Uint8, "bytes".to_string(), vec![1, 2, 3]),
            (
                Kind::Float64,
                "f64".to_string(),
                1.5f64.to_le_bytes().to_vec(),
            ),
            (Kind::DataView, "empty".to_string(), vec![]),
        ];
        let parts = parts_of(&specs);
        for align in [8, 64, 4096] {
            let opts = PackOptions {
                align,
                checksum: true,
                named: true,
            };
            let packed = pack(&parts, &opts);
            let u = parse(&packed, true).unwrap();
            assert!(u.named);
            for (e, (kind, name, bytes)) in u.entries.iter().zip(&specs) {
                assert_eq!((e.kind, &e.name), (*kind, name));
                assert_eq!(e.offset % align as u64, 0);
                assert_eq!(
                    &packed[e.offset as usize..(e.offset + e.length) as usize],
                    &bytes[..]
                );
            }
        }
    }

    #[test]
    fn hostile_headers_are_refused() {
        let specs = vec![(Kind::Uint32, String::new(), vec![7; 16])];
        let parts = parts_of(&specs);
        let good = pack(&parts, &PackOptions::default());
        let refuse = |mutate: &dyn Fn(&mut Vec<u8>), want: &str| {
            let mut b = good.clone();
            mutate(&mut b);
            match parse(&b, false) {
                Err(Error::BadFormat(m)) => assert!(m.contains(want), "{m:?} lacks {want:?}"),
                other => panic!("expected BadFormat({want}), got {other:?}"),
            }
        };
        refuse(&|b| b[0] = b'X', "magic");
        refuse(&|b| put_u16(b, H_VERSION, 2), "version 2");
        refuse(&|b| put_u16(b, H_FLAGS, 0x80), "flags");
        refuse(&|b| put_u32(b, H_COUNT, u32::MAX), "do not fit");
        refuse(&|b| put_u32(b, H_ALIGN, 12), "power of two");
        refuse(&|b| put_u64(b, H_TOTAL_LEN, u64::MAX), "the input has");
        refuse(&|b| b.truncate(50), "the input has");
        refuse(&|b| b[HEADER_LEN + E_KIND] = 99, "unknown kind");
        refuse(&|b| put_u64(b, HEADER_LEN + E_OFFSET, 41), "multiple");
        refuse(&|b| put_u64(b, HEADER_LEN + E_OFFSET, 0), "overlaps");
        refuse(&|b| put_u64(b, HEADER_LEN + E_LENGTH, u64::MAX), "run past");
        refuse(&|b| put_u64(b, HEADER_LEN + E_LENGTH, 6), "whole number");
        // A flipped data byte is a checksum error when verifying, accepted otherwise.
        let mut b = good.clone();
        let last = b.len() - 1;
        b[last] ^= 1;
        assert!(matches!(parse(&b, true), Err(Error::Checksum(_))));
        assert!(parse(&b, false).is_ok());
        let mut b = good.clone();
        b[HEADER_LEN + 30] ^= 1; // reserved directory byte: header CRC catches it
        assert!(matches!(parse(&b, true), Err(Error::Checksum(_))));
    }

    #[test]
    fn overlapping_and_duplicate_names() {
        let specs = vec![
            (Kind::Uint8, "a".to_string(), vec![1; 8]),
            (Kind::Uint8, "b".to_string(), vec![2; 8]),
        ];
        let parts = parts_of(&specs);
        let opts = PackOptions {
            named: true,
            checksum: false,
            ..Default::default()
        };
        let good = pack(&parts, &opts);
        let mut b = good.clone();
        let first = get_u64(&b, HEADER_LEN + E_OFFSET);
        put_u64(&mut b, HEADER_LEN + ENTRY_LEN + E_OFFSET, first);
        assert!(matches!(parse(&b, false), Err(Error::BadFormat(m)) if m.contains("overlaps")));
        let mut b = good;
        put_u32(&mut b, HEADER_LEN + ENTRY_LEN + E_NAME_OFF, 0);
        assert!(matches!(parse(&b, false), Err(Error::BadFormat(m)) if m.contains("twice")));
    }

    #[test]
    fn kind_codes_are_their_positions() {
        for (code, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(Kind::from_code(code as u8), Some(*kind));
            assert_eq!(*kind as u8 as usize, code);
        }
        assert_eq!(Kind::from_code(Kind::ALL.len() as u8), None);
    }

    #[test]
    fn plan_refuses_bad_parts() {
        let odd = [Part {
            kind: Kind::Float32,
            name: "",
            bytes: &[0; 6],
        }];
        assert!(plan(&odd, &PackOptions::default()).is_err());
        let ok = [Part {
            kind: Kind::Uint8,
            name: "",
            bytes: &[0; 6],
        }];
        for align in [0, 4, 24, 8192] {
            let opts = PackOptions {
                align,
                ..Default::default()
            };
            assert!(plan(&ok, &opts).is_err(), "align {align}");
        }
        let empty = plan(&[], &PackOptions::default()).unwrap();
        assert_eq!(empty.total, empty.data_start);
        assert!(parse(&pack(&[], &PackOptions::default()), true)
            .unwrap()
            .entries
            .is_empty());
    }

    fn kind() -> impl Strategy<Value = Kind> {
        (0u8..=12).prop_map(|c| Kind::from_code(c).unwrap())
    }

    fn specs() -> impl Strategy<Value = Vec<(Kind, String, Vec<u8>)>> {
        proptest::collection::vec(
            (kind(), 0usize..40, any::<u8>()).prop_map(|(k, n, seed)| {
                let len = n * k.element_size() as usize;
                (
                    k,
                    String::new(),
                    (0..len).map(|i| seed.wrapping_add(i as u8)).collect(),
                )
            }),
            0..12,
        )
        .prop_map(|mut v| {
            for (i, s) in v.iter_mut().enumerate() {
                s.1 = format!("part-{i}");
            }
            v
        })
    }

    proptest! {
        #[test]
        fn any_parts_round_trip(specs in specs(), align_log in 3u32..=12, checksum: bool, named: bool) {
            let parts = parts_of(&specs);
            let opts = PackOptions { align: 1 << align_log, checksum, named };
            let packed = pack(&parts, &opts);
            let u = parse(&packed, true).unwrap();
            prop_assert_eq!(u.entries.len(), specs.len());
            for (e, (kind, name, bytes)) in u.entries.iter().zip(&specs) {
                prop_assert_eq!(e.kind, *kind);
                if named { prop_assert_eq!(&e.name, name); }
                prop_assert_eq!(&packed[e.offset as usize..(e.offset + e.length) as usize], &bytes[..]);
            }
        }

        #[test]
        fn mutations_never_panic_and_stay_in_bounds(
            specs in specs(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
            named: bool,
        ) {
            let parts = parts_of(&specs);
            let opts = PackOptions { named, ..Default::default() };
            let mut packed = pack(&parts, &opts);
            for (at, byte) in edits {
                let at = at % packed.len();
                packed[at] = byte;
            }
            let cut = cut % (packed.len() + 1);
            for input in [&packed[..], &packed[..cut]] {
                for verify in [true, false] {
                    match parse(input, verify) {
                        Ok(u) => {
                            let mut end = 0;
                            for e in &u.entries {
                                prop_assert!(e.offset >= end);
                                end = e.offset + e.length;
                                prop_assert!(end <= input.len() as u64);
                                prop_assert_eq!(e.offset % u.align as u64, 0);
                                prop_assert_eq!(e.length % e.kind.element_size(), 0);
                            }
                        }
                        Err(Error::BadFormat(_)) | Err(Error::Checksum(_)) => {}
                        Err(other) => prop_assert!(false, "unexpected error {:?}", other),
                    }
                }
            }
        }
    }
}
