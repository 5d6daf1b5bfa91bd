//! Reading a pack: [`parse_header`] checks the header (rules 1-9 of docs/FORMAT.md),
//! [`parse_entries`] the directory and names, [`verify_parts`] the parts' CRC32Cs, and
//! [`parse`] does all three. Nothing in the input is trusted.

use std::sync::atomic::Ordering;

use crate::fs::Spread;
use crate::{Error, Result};

use super::{
    align_up, bad, check_align, crc32c, get_u16, get_u32, get_u64, Kind, ENTRY_LEN, E_CRC, E_KIND,
    E_LENGTH, E_NAME_LEN, E_NAME_OFF, E_OFFSET, FLAG_CHECKSUMS, FLAG_NAMED, HEADER_LEN, H_ALIGN,
    H_COUNT, H_CRC, H_FLAGS, H_NAMES_LEN, H_TOTAL_LEN, H_VERSION, KNOWN_FLAGS, MAGIC, VERSION,
};

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
