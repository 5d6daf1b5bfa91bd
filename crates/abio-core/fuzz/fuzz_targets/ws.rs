//! The WebSocket parser on arbitrary bytes, in arbitrary reads, both roles, with and without
//! permessage-deflate: it must never panic, never consume more than it was given, never hold
//! a message over its limit, and parsing the same bytes in one read or in pieces must give
//! the same result.
#![no_main]

use abio_core::ws::{Agreed, Incoming, Parser, Role};
use libfuzzer_sys::fuzz_target;

const MAX: u64 = 4096;

/// Parses `data` split after every `step` bytes; the messages, and whether it failed.
fn run(role: Role, deflate: Option<Agreed>, data: &[u8], step: usize) -> (Vec<Incoming>, bool) {
    let mut p = Parser::with_deflate(role, MAX, deflate);
    let mut out = Vec::new();
    let mut pending = Vec::new();
    for chunk in data.chunks(step.max(1)) {
        pending.extend_from_slice(chunk);
        match p.parse(&pending, &mut out) {
            Ok(used) => {
                assert!(used <= pending.len());
                pending.drain(..used);
            }
            Err(_) => return (out, true),
        }
    }
    for m in &out {
        if let Incoming::Message { data, .. } = m {
            assert!(data.len() as u64 <= MAX);
        }
    }
    (out, false)
}

fuzz_target!(|input: &[u8]| {
    let Some((&split, data)) = input.split_first() else {
        return;
    };
    for role in [Role::Server, Role::Client] {
        // 32 KiB windows: whether a stream reaching back too far fails does not depend on
        // the reads (with a smaller agreed window it could).
        for deflate in [None, Some(Agreed::default())] {
            let whole = run(role, deflate, data, data.len());
            let pieces = run(role, deflate, data, split as usize % 17 + 1);
            assert_eq!(whole, pieces);
        }
    }
});
