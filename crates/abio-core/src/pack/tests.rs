//! Tests of the pack format: round trips, hostile inputs, proptest.

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
