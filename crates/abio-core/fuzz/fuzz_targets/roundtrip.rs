//! Writer and reader together: parts built from the input (any kind, a whole number of
//! elements, unique names in a named pack, any alignment, checksums on or off) are packed
//! with `pack_into` and parsed back; every part must come back with its kind, name and
//! exact bytes, at the planned offset, with zero padding and nothing written past the pack.
#![no_main]

use abio_core::pack::{pack_into, parse, plan, Kind, PackOptions, Part, ENTRY_LEN, HEADER_LEN};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

/// A byte the output buffer starts filled with, to see what `pack_into` wrote.
const FILL: u8 = 0xA5;
/// Bytes past the pack that `pack_into` must leave alone.
const SLACK: usize = 64;

struct Case {
    opts: PackOptions,
    parts: Vec<(Kind, String, Vec<u8>)>,
}

fn case(u: &mut Unstructured) -> Result<Case> {
    let align = 8u32 << u.int_in_range(0..=9u32)?; // 8 ..= 4096
    let checksum = u.arbitrary()?;
    let named = u.arbitrary()?;
    let count = u.int_in_range(0..=8usize)?;
    let mut seen = HashSet::new();
    let mut parts = Vec::with_capacity(count);
    for i in 0..count {
        let kind = Kind::from_code(u.int_in_range(0..=12u8)?).expect("codes 0..=12 are kinds");
        let elems = u.int_in_range(0..=64usize)?;
        let len = elems * kind.element_size() as usize;
        // Bytes from the input while it lasts, then a pattern: lengths do not depend on
        // how much input is left.
        let mut bytes = u.bytes(len.min(u.len()))?.to_vec();
        bytes.extend((bytes.len()..len).map(|j| (j * 31 + i) as u8));
        let mut name: String = if named { u.arbitrary()? } else { String::new() };
        name.truncate(name.char_indices().nth(40).map_or(name.len(), |(at, _)| at));
        if named {
            // A record's keys are unique; the reader refuses a pack whose names are not.
            while !seen.insert(name.clone()) {
                name.push('#');
            }
        }
        parts.push((kind, name, bytes));
    }
    Ok(Case {
        opts: PackOptions {
            align,
            checksum,
            named,
        },
        parts,
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(c) = case(&mut Unstructured::new(data)) else {
        return;
    };
    let parts: Vec<Part> = c
        .parts
        .iter()
        .map(|(kind, name, bytes)| Part {
            kind: *kind,
            name,
            bytes,
        })
        .collect();
    let p = plan(&parts, &c.opts).expect("a valid case plans");
    let total = p.total as usize;
    let mut out = vec![FILL; total + SLACK];
    let n = pack_into(&mut out, &parts, &c.opts).expect("a valid case packs");
    assert_eq!(n, p.total, "pack_into's length vs the plan's");
    assert!(
        out[total..].iter().all(|&b| b == FILL),
        "pack_into wrote past the pack's end"
    );
    let packed = &out[..total];

    // Padding is zeros: between the names and the first part, and between parts.
    let names_len: usize = if c.opts.named {
        parts.iter().map(|p| p.name.len()).sum()
    } else {
        0
    };
    let mut gap_from = HEADER_LEN + ENTRY_LEN * parts.len() + names_len;
    for (i, &at) in p.offsets.iter().enumerate() {
        assert!(
            packed[gap_from..at as usize].iter().all(|&b| b == 0),
            "nonzero padding before part {i}"
        );
        gap_from = at as usize + parts[i].bytes.len();
    }
    assert_eq!(
        gap_from.max(p.data_start as usize),
        total,
        "total_len is not the end of the last part"
    );

    for verify in [false, true] {
        let u = match parse(packed, verify) {
            Ok(u) => u,
            Err(e) => panic!(
                "parse(verify={verify}) refused what pack_into wrote ({} parts, align {}, checksum {}, named {}): {e}",
                parts.len(),
                c.opts.align,
                c.opts.checksum,
                c.opts.named
            ),
        };
        assert_eq!(u.named, c.opts.named);
        assert_eq!(u.align, c.opts.align);
        assert_eq!(u.entries.len(), parts.len());
        for (i, (e, part)) in u.entries.iter().zip(&parts).enumerate() {
            assert_eq!(e.kind, part.kind, "part {i}: kind");
            assert_eq!(
                e.name,
                if c.opts.named { part.name } else { "" },
                "part {i}: name"
            );
            assert_eq!(e.offset, p.offsets[i], "part {i}: offset");
            assert_eq!(e.length, part.bytes.len() as u64, "part {i}: length");
            assert_eq!(
                &packed[e.offset as usize..(e.offset + e.length) as usize],
                part.bytes,
                "part {i}: bytes"
            );
        }
    }
});
