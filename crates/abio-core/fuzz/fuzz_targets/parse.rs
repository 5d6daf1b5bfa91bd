//! The reader on arbitrary bytes: it must never panic, and whatever it accepts must be in
//! bounds of the input and obey the rules of docs/FORMAT.md.
#![no_main]

use abio_core::pack::{parse, Unpacked, HEADER_LEN, MAX_ALIGN, MIN_ALIGN};
use abio_core::Error;
use libfuzzer_sys::fuzz_target;

fn check(data: &[u8], u: &Unpacked) {
    let align = u.align as u64;
    assert!(u.align.is_power_of_two() && (MIN_ALIGN..=MAX_ALIGN).contains(&u.align));
    let mut end = HEADER_LEN as u64;
    for (i, e) in u.entries.iter().enumerate() {
        let stop = e
            .offset
            .checked_add(e.length)
            .expect("offset + length overflows");
        assert!(
            stop <= data.len() as u64,
            "part {i}: {}+{} past {} bytes",
            e.offset,
            e.length,
            data.len()
        );
        assert_eq!(
            e.offset % align,
            0,
            "part {i}: offset {} not aligned to {align}",
            e.offset
        );
        assert!(
            e.offset >= end,
            "part {i}: offset {} overlaps the previous end {end}",
            e.offset
        );
        assert_eq!(
            e.length % e.kind.element_size(),
            0,
            "part {i}: length {} vs {:?}",
            e.length,
            e.kind
        );
        if !u.named {
            assert!(e.name.is_empty(), "part {i}: a name in an unnamed pack");
        }
        end = stop;
    }
    if u.named {
        let mut names: Vec<&str> = u.entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate names accepted");
    }
}

fuzz_target!(|data: &[u8]| {
    let verified = parse(data, true);
    let unverified = parse(data, false);
    if let Ok(u) = &verified {
        check(data, u);
        // Verifying only adds checks: what passes them passes without them, unchanged.
        assert_eq!(
            unverified.as_ref().ok(),
            Some(u),
            "verify=true accepted what verify=false refused"
        );
    }
    match &unverified {
        Ok(u) => check(data, u),
        // Without verification no checksum is compared, so no checksum error can come out.
        Err(Error::Checksum(m)) => panic!("checksum error without verify: {m}"),
        Err(_) => {}
    }
});
