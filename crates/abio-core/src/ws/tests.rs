//! The codec's tests: RFC 6455 and RFC 7692 examples, every length width, violations and
//! their codes, and property tests over any split of the input.

use super::*;
use proptest::prelude::*;

/// One frame as a client (masked) or server (unmasked) would send it.
fn frame(op: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    zframe(op, fin, false, payload, mask)
}

/// [`frame`], with RSV1 set when `rsv1`.
fn zframe(op: u8, fin: bool, rsv1: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut h = [0u8; MAX_HEADER];
    let opcode = Opcode::of(op).unwrap();
    let n = header_with(opcode, payload.len() as u64, mask, rsv1, &mut h);
    if !fin {
        h[0] &= 0x7f;
    }
    let mut f = h[..n].to_vec();
    let mut p = payload.to_vec();
    if let Some(k) = mask {
        apply_mask(&mut p, k, 0);
    }
    f.extend_from_slice(&p);
    f
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn parse_all(p: &mut Parser, bytes: &[u8]) -> Result<Vec<Incoming>, Violation> {
    let mut out = Vec::new();
    let n = p.parse(bytes, &mut out)?;
    assert_eq!(n, bytes.len());
    Ok(out)
}

#[test]
fn rfc_examples() {
    // RFC 6455 section 5.7.
    let mut c = Parser::new(Role::Client, 1 << 20);
    let hello = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        parse_all(&mut c, &hello).unwrap(),
        vec![Incoming::Message {
            text: true,
            data: b"Hello".to_vec()
        }]
    );
    let mut s = Parser::new(Role::Server, 1 << 20);
    let masked = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        parse_all(&mut s, &masked).unwrap(),
        vec![Incoming::Message {
            text: true,
            data: b"Hello".to_vec()
        }]
    );
    assert_eq!(frame(1, true, b"Hello", Some(KEY)), masked);
    let frag = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(
        parse_all(&mut c, &frag).unwrap(),
        vec![Incoming::Message {
            text: true,
            data: b"Hello".to_vec()
        }]
    );
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn lengths_of_every_width() {
    for len in [0usize, 1, 125, 126, 65535, 65536, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let mut s = Parser::new(Role::Server, 1 << 20);
        let got = parse_all(&mut s, &frame(2, true, &payload, Some(KEY))).unwrap();
        assert_eq!(
            got,
            vec![Incoming::Message {
                text: false,
                data: payload.clone()
            }]
        );
        let mut c = Parser::new(Role::Client, 1 << 20);
        let got = parse_all(&mut c, &frame(2, true, &payload, None)).unwrap();
        assert_eq!(
            got,
            vec![Incoming::Message {
                text: false,
                data: payload
            }]
        );
    }
}

#[test]
fn control_frames_between_fragments_and_close() {
    let mut s = Parser::new(Role::Server, 1 << 20);
    let mut bytes = frame(2, false, b"ab", Some(KEY));
    bytes.extend(frame(9, true, b"ping!", Some(KEY)));
    bytes.extend(frame(0, true, b"cd", Some(KEY)));
    bytes.extend(frame(8, true, &close_payload(4001, "bye"), Some(KEY)));
    bytes.extend(frame(2, true, b"after close: ignored", Some(KEY)));
    let mut out = Vec::new();
    s.parse(&bytes, &mut out).unwrap();
    assert_eq!(
        out,
        vec![
            Incoming::Ping(b"ping!".to_vec()),
            Incoming::Message {
                text: false,
                data: b"abcd".to_vec()
            },
            Incoming::Close {
                code: Some(4001),
                reason: "bye".into()
            },
        ]
    );
    let mut s = Parser::new(Role::Server, 10);
    assert_eq!(
        parse_all(&mut s, &frame(8, true, b"", Some(KEY))).unwrap(),
        vec![Incoming::Close {
            code: None,
            reason: String::new()
        }]
    );
}

#[test]
fn violations_and_their_codes() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (frame(2, true, b"x", None), 1002),      // unmasked client frame
        (vec![0xc2, 0x80, 0, 0, 0, 0], 1002),    // RSV1
        (vec![0x83, 0x80, 0, 0, 0, 0], 1002),    // opcode 3
        (frame(9, false, b"", Some(KEY)), 1002), // fragmented ping
        (frame(9, true, &[0; 126], Some(KEY)), 1002), // ping over 125
        (frame(0, true, b"x", Some(KEY)), 1002), // continuation first
        (frame(8, true, b"x", Some(KEY)), 1002), // 1-byte close
        (frame(8, true, &1005u16.to_be_bytes(), Some(KEY)), 1002), // reserved code
        (frame(1, true, &[0xff, 0xfe], Some(KEY)), 1007), // bad UTF-8
        (frame(2, true, &[0; 11], Some(KEY)), 1009), // over max
    ];
    for (bytes, code) in cases {
        let mut s = Parser::new(Role::Server, 10);
        let err = s.parse(&bytes, &mut Vec::new()).unwrap_err();
        assert_eq!(err.code(), code, "{bytes:?}: {err}");
    }
    // A new message inside a fragmented one.
    let mut s = Parser::new(Role::Server, 100);
    let mut bytes = frame(2, false, b"a", Some(KEY));
    bytes.extend(frame(2, true, b"b", Some(KEY)));
    assert_eq!(s.parse(&bytes, &mut Vec::new()).unwrap_err().code(), 1002);
    // Fragments adding up over max: refused at the header that crosses it.
    let mut s = Parser::new(Role::Server, 10);
    let mut bytes = frame(2, false, &[1; 6], Some(KEY));
    bytes.extend(frame(0, true, &[1; 6], Some(KEY)));
    assert_eq!(
        s.parse(&bytes, &mut Vec::new()).unwrap_err(),
        Violation::TooBig { max: 10 }
    );
    // A server frame announcing 2^63 bytes: refused, nothing allocated.
    let mut c = Parser::new(Role::Client, u64::MAX);
    let huge = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(c.parse(&huge, &mut Vec::new()).unwrap_err().code(), 1002);
    let big = [0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(c.parse(&big, &mut Vec::new()).unwrap_err().code(), 1009);
}

#[test]
fn close_payload_cuts_the_reason_at_a_character() {
    let p = close_payload(1000, &"é".repeat(100));
    assert!(p.len() <= MAX_CONTROL);
    assert!(std::str::from_utf8(&p[2..]).is_ok());
    assert!(valid_close_code(1000) && valid_close_code(4999) && valid_close_code(1012));
    assert!(!valid_close_code(1005) && !valid_close_code(999) && !valid_close_code(2000));
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    let mut m = Masks::default();
    assert_ne!(m.next_key(), m.next_key());
}

/// A server's frames of one message compressed as RFC 7692 section 7.2.3 shows them.
const HELLO_Z: [u8; 9] = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

fn text(s: &str) -> Incoming {
    Incoming::Message {
        text: true,
        data: s.as_bytes().to_vec(),
    }
}

fn deflating(role: Role, max: u64) -> Parser {
    Parser::with_deflate(role, max, Some(Agreed::default()))
}

#[test]
fn header_with_rsv1() {
    let (mut a, mut b) = ([0u8; MAX_HEADER], [0u8; MAX_HEADER]);
    let n = header_with(Opcode::Text, 300, Some(KEY), true, &mut a);
    assert_eq!(header(Opcode::Text, 300, Some(KEY), &mut b), n);
    assert_eq!(a[0], 0xc1);
    assert_eq!(b[0], 0x81);
    assert_eq!(a[1..n], b[1..n]);
}

#[test]
fn rfc7692_examples() {
    // 7.2.3.1: a message compressed in one frame.
    let mut c = deflating(Role::Client, 1 << 20);
    assert_eq!(parse_all(&mut c, &HELLO_Z).unwrap(), vec![text("Hello")]);
    // 7.2.3.1: the same in two fragments.
    let mut c = deflating(Role::Client, 1 << 20);
    let frags = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ];
    assert_eq!(parse_all(&mut c, &frags).unwrap(), vec![text("Hello")]);
    // 7.2.3.2: the second of two messages, the context taken over.
    let mut c = deflating(Role::Client, 1 << 20);
    let mut two = HELLO_Z.to_vec();
    two.extend([0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    assert_eq!(
        parse_all(&mut c, &two).unwrap(),
        vec![text("Hello"), text("Hello")]
    );
    // 7.2.3.3: a DEFLATE block with no compression.
    let mut c = deflating(Role::Client, 1 << 20);
    let stored = [
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    assert_eq!(parse_all(&mut c, &stored).unwrap(), vec![text("Hello")]);
    // 7.2.3.4: a block with BFINAL set, then another message.
    let mut c = deflating(Role::Client, 1 << 20);
    let mut bfinal = vec![0xc1, 0x07, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    bfinal.extend(HELLO_Z);
    assert_eq!(
        parse_all(&mut c, &bfinal).unwrap(),
        vec![text("Hello"), text("Hello")]
    );
    // 7.2.3.5: two DEFLATE blocks in one message.
    let mut c = deflating(Role::Client, 1 << 20);
    let blocks = [
        0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    assert_eq!(parse_all(&mut c, &blocks).unwrap(), vec![text("Hello")]);
    // 7.2.3.6: an empty block: an empty message.
    let mut c = deflating(Role::Client, 1 << 20);
    assert_eq!(
        parse_all(&mut c, &[0xc1, 0x01, 0x00]).unwrap(),
        vec![text("")]
    );
    // Our deflater writes the first example's bytes, and the second's after it.
    let mut d = Deflater::new(&Agreed::default(), Role::Server);
    let z = d.compress(b"Hello");
    let mut h = [0u8; MAX_HEADER];
    let n = header_with(Opcode::Text, z.len() as u64, None, true, &mut h);
    let mut wire = h[..n].to_vec();
    wire.extend(&z);
    let z2 = d.compress(b"Hello");
    assert!(z2.len() < z.len());
    wire.extend(zframe(1, true, true, &z2, None));
    let mut c = deflating(Role::Client, 1 << 20);
    assert_eq!(
        parse_all(&mut c, &wire).unwrap(),
        vec![text("Hello"), text("Hello")]
    );
}

/// What flate2's own `DeflateEncoder` writes (sync-flushed, context kept), framed by hand.
#[test]
fn independent_zlib_output_parses() {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let mut c = deflating(Role::Client, 1 << 20);
    let mut s = Parser::with_deflate(Role::Server, 1 << 20, Some(Agreed::default()));
    for i in 0..20 {
        let msg = format!(
            "message {i}: {}",
            "the same words again and again ".repeat(i)
        );
        enc.write_all(msg.as_bytes()).unwrap();
        enc.flush().unwrap(); // a sync flush
        let mut z = std::mem::take(enc.get_mut());
        assert!(z.ends_with(&[0, 0, 0xff, 0xff]));
        z.truncate(z.len() - 4);
        let server = zframe(1, true, true, &z, None);
        assert_eq!(parse_all(&mut c, &server).unwrap(), vec![text(&msg)]);
        let client = zframe(1, true, true, &z, Some(KEY));
        assert_eq!(parse_all(&mut s, &client).unwrap(), vec![text(&msg)]);
    }
}

#[test]
fn deflate_violations() {
    let ping = zframe(9, true, true, b"", Some(KEY));
    let mut cont = zframe(1, false, true, &[0xf2, 0x48], Some(KEY));
    cont.extend(zframe(
        0,
        true,
        true,
        &[0xcd, 0xc9, 0xc9, 0x07, 0x00],
        Some(KEY),
    ));
    let mut rsv2 = frame(1, true, b"x", Some(KEY));
    rsv2[0] |= 0x20;
    let mut rsv3 = frame(1, true, b"x", Some(KEY));
    rsv3[0] |= 0x10;
    let mut rsv12 = zframe(1, true, true, &[0x00], Some(KEY));
    rsv12[0] |= 0x20;
    let cases: Vec<(Vec<u8>, Violation)> = vec![
        (ping, Violation::Protocol("RSV1 set on a control frame")),
        (
            cont,
            Violation::Protocol("RSV1 set on a continuation frame"),
        ),
        (
            rsv2,
            Violation::Protocol("reserved bits set without an extension"),
        ),
        (
            rsv3,
            Violation::Protocol("reserved bits set without an extension"),
        ),
        (
            rsv12,
            Violation::Protocol("reserved bits set without an extension"),
        ),
        // A block of the reserved type 3.
        (
            zframe(2, true, true, &[0xff, 0xff, 0xff], Some(KEY)),
            Violation::BadDeflate,
        ),
        // Compressed bytes on the wire over what deflate can make of max bytes (100 + 64).
        (
            zframe(2, true, true, &[0; 165], Some(KEY)),
            Violation::TooBig { max: 100 },
        ),
    ];
    for (bytes, want) in cases {
        let mut s = deflating(Role::Server, 100);
        let err = s.parse(&bytes, &mut Vec::new()).unwrap_err();
        assert_eq!(err, want, "{bytes:02x?}");
    }
    assert_eq!(Violation::BadDeflate.code(), 1007);
    // RSV1 without deflate: a protocol error.
    let mut s = Parser::new(Role::Server, 100);
    let err = s.parse(&HELLO_Z, &mut Vec::new()).unwrap_err();
    assert_eq!(err.code(), 1002);
    // With deflate, a message without RSV1 is not compressed.
    let mut s = deflating(Role::Server, 100);
    let mut bytes = frame(1, false, b"He", Some(KEY));
    bytes.extend(frame(0, true, b"llo", Some(KEY)));
    assert_eq!(parse_all(&mut s, &bytes).unwrap(), vec![text("Hello")]);
    // Decompressed over max: exactly max is fine.
    let data = vec![b'a'; 100];
    let z = Deflater::new(&Agreed::default(), Role::Client).compress(&data);
    let mut s = deflating(Role::Server, 100);
    let got = parse_all(&mut s, &zframe(2, true, true, &z, Some(KEY))).unwrap();
    assert_eq!(got, vec![Incoming::Message { text: false, data }]);
    let z = Deflater::new(&Agreed::default(), Role::Client).compress(&[b'a'; 101]);
    let mut s = deflating(Role::Server, 100);
    let err = s.parse(&zframe(2, true, true, &z, Some(KEY)), &mut Vec::new());
    assert_eq!(err, Err(Violation::TooBig { max: 100 }));
    // A peer compressing with a larger window than agreed is caught when it reaches back
    // past the agreed one (here into the previous message, 2000 bytes back).
    let agreed = Agreed {
        server_max_window_bits: 9,
        ..Agreed::default()
    };
    let mut c = Parser::with_deflate(Role::Client, 1 << 20, Some(agreed));
    let mut d = Deflater::new(&Agreed::default(), Role::Server);
    // Bytes without repeats of their own: only the second message reaches back.
    let msg: Vec<u8> = (0..2000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let first = zframe(2, true, true, &d.compress(&msg), None);
    assert_eq!(parse_all(&mut c, &first).unwrap().len(), 1);
    let second = zframe(2, true, true, &d.compress(&msg), None);
    assert_eq!(
        c.parse(&second, &mut Vec::new()),
        Err(Violation::BadDeflate)
    );
}

/// 1 MiB of zeros compresses to a few KiB: with a 64 KiB limit the parser fails before
/// the message is all read, having held no more than the limit.
#[test]
fn zip_bomb() {
    let max = 64 * 1024;
    let zeros = vec![0u8; 1 << 20];
    for (role, mask) in [(Role::Server, Some(KEY)), (Role::Client, None)] {
        let sender = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let z = Deflater::new(&Agreed::default(), sender).compress(&zeros);
        let wire = zframe(2, true, true, &z, mask);
        let mut p = deflating(role, max);
        let mut pending = Vec::new();
        let mut failed_at = None;
        for (i, piece) in wire.chunks(100).enumerate() {
            pending.extend_from_slice(piece);
            let r = p.parse(&pending, &mut Vec::new());
            assert!(p.held() as u64 <= max + 1, "{}", p.held());
            match r {
                Ok(used) => drop(pending.drain(..used)),
                Err(e) => {
                    assert_eq!(e, Violation::TooBig { max });
                    failed_at = Some(i);
                    break;
                }
            }
        }
        let failed_at = failed_at.expect("the bomb is refused");
        assert!(failed_at < wire.len() / 100 / 2, "{failed_at}");
        // In one read, too.
        let mut p = deflating(role, max);
        assert_eq!(
            p.parse(&wire, &mut Vec::new()),
            Err(Violation::TooBig { max })
        );
        assert!(p.held() as u64 <= max + 1);
    }
}

/// The wire position of the byte that makes `payload` (sent whole, as the frames `wire`
/// carry it) invalid UTF-8, if one does.
fn bad_utf8_at(payload: &[u8]) -> Option<usize> {
    (0..payload.len())
        .find(|&i| matches!(std::str::from_utf8(&payload[..=i]), Err(e) if e.error_len().is_some()))
}

#[test]
fn invalid_utf8_fails_at_the_fragment_that_carries_it() {
    // Autobahn 6.4.1: the first fragment has an invalid sequence (U+110000 and on);
    // the rest never comes.
    let mut s = Parser::new(Role::Server, 1 << 20);
    let first = [
        0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xf4, 0x90, 0x80, 0x80,
    ];
    let bytes = frame(1, false, &first, Some(KEY));
    assert_eq!(s.parse(&bytes, &mut Vec::new()), Err(Violation::BadUtf8));
    // Mid-frame: the frame announces more than has come.
    let mut s = Parser::new(Role::Server, 1 << 20);
    let mut bytes = frame(1, true, &[b'a', 0xff, b'b', b'c'], Some(KEY));
    bytes.truncate(bytes.len() - 2);
    assert_eq!(s.parse(&bytes, &mut Vec::new()), Err(Violation::BadUtf8));
    // A character cut between fragments is fine; cut at the end of the message it is not.
    let mut s = Parser::new(Role::Server, 1 << 20);
    let mut bytes = frame(1, false, &[b'a', 0xe2, 0x82], Some(KEY));
    bytes.extend(frame(9, true, b"", Some(KEY)));
    bytes.extend(frame(0, false, &[0xac], Some(KEY)));
    bytes.extend(frame(0, false, &[0xe2], Some(KEY)));
    let mut out = Vec::new();
    assert_eq!(s.parse(&bytes, &mut out), Ok(bytes.len()));
    let end = frame(0, true, &[0x82], Some(KEY));
    assert_eq!(s.parse(&end, &mut out), Err(Violation::BadUtf8));
    let mut s = Parser::new(Role::Server, 1 << 20);
    assert_eq!(
        s.parse(&frame(1, true, &[0xe2, 0x82], Some(KEY)), &mut out),
        Err(Violation::BadUtf8)
    );
    let mut s = Parser::new(Role::Server, 1 << 20);
    assert_eq!(
        s.parse(&frame(1, false, &[0xe2, 0x82], Some(KEY)), &mut out),
        Ok(8)
    );
    assert_eq!(
        s.parse(&frame(0, true, &[], Some(KEY)), &mut out),
        Err(Violation::BadUtf8)
    );
    // Compressed: the first fragment is flushed on its own, and found invalid before the
    // second comes.
    let mut z = flate2::Compress::new(flate2::Compression::default(), false);
    let mut first = Vec::with_capacity(256);
    z.compress_vec(
        b"valid, then \xc0\xaf",
        &mut first,
        flate2::FlushCompress::Sync,
    )
    .unwrap();
    let mut s = deflating(Role::Server, 1 << 20);
    let bytes = zframe(1, false, true, &first, Some(KEY));
    assert_eq!(s.parse(&bytes, &mut Vec::new()), Err(Violation::BadUtf8));
    // A valid character cut between compressed fragments is fine.
    let mut z = flate2::Compress::new(flate2::Compression::default(), false);
    let (mut a, mut b) = (Vec::with_capacity(256), Vec::with_capacity(256));
    z.compress_vec(b"caf\xc3", &mut a, flate2::FlushCompress::Sync)
        .unwrap();
    z.compress_vec(b"\xa9", &mut b, flate2::FlushCompress::Sync)
        .unwrap();
    b.truncate(b.len() - 4);
    let mut s = deflating(Role::Server, 1 << 20);
    let mut bytes = zframe(1, false, true, &a, Some(KEY));
    bytes.extend(zframe(0, true, false, &b, Some(KEY)));
    assert_eq!(parse_all(&mut s, &bytes).unwrap(), vec![text("café")]);
}

proptest! {
    /// An invalid byte of a text message fails the read that brings it, never a later
    /// one, and no read before it fails: whatever the fragments and the reads.
    #[test]
    fn invalid_utf8_is_found_when_its_byte_arrives(
        good in "\\PC{0,40}",
        bad in proptest::collection::vec(any::<u8>(), 1..8),
        tail in "\\PC{0,10}",
        pieces in 1usize..5,
        cuts in proptest::collection::vec(1usize..9, 1..20),
        key in any::<[u8; 4]>(),
    ) {
        let mut payload = good.into_bytes();
        payload.extend(&bad);
        payload.extend(tail.as_bytes());
        let per = payload.len().div_ceil(pieces).max(1);
        let mut wire = Vec::new();
        // Where each payload byte is on the wire.
        let mut at_wire = Vec::new();
        let parts: Vec<&[u8]> = payload.chunks(per).collect();
        for (i, part) in parts.iter().enumerate() {
            let f = frame(if i == 0 { 1 } else { 0 }, i == parts.len() - 1, part, Some(key));
            let start = wire.len() + f.len() - part.len();
            at_wire.extend(start..start + part.len());
            wire.extend(f);
        }
        let expect = match bad_utf8_at(&payload) {
            Some(i) => Some(at_wire[i]),
            // Valid, or cut at the end: found with the last byte.
            None if std::str::from_utf8(&payload).is_err() => Some(wire.len() - 1),
            None => None,
        };
        let mut p = Parser::new(Role::Server, 1 << 20);
        let mut pending = Vec::new();
        let (mut fed, mut i) = (0, 0);
        let mut failed = None;
        while fed < wire.len() {
            let n = cuts[i % cuts.len()].min(wire.len() - fed);
            i += 1;
            pending.extend_from_slice(&wire[fed..fed + n]);
            fed += n;
            match p.parse(&pending, &mut Vec::new()) {
                Ok(used) => drop(pending.drain(..used)),
                Err(e) => {
                    prop_assert_eq!(e, Violation::BadUtf8);
                    failed = Some(fed);
                    break;
                }
            }
        }
        match expect {
            // The read that failed is the one that brought the byte.
            Some(pos) => {
                let fed = failed.expect("invalid UTF-8 is refused");
                prop_assert!(pos < fed && fed - n_before(&cuts, fed) <= pos, "byte {} read {}", pos, fed);
            }
            None => prop_assert_eq!(failed, None),
        }
    }

    /// Compressed messages, from our deflater, in fragments and any reads, with control
    /// frames between fragments, for every agreement: the same messages come out.
    #[test]
    fn compressed_messages_in_any_delivery(
        msgs in proptest::collection::vec((any::<bool>(), any::<bool>(), proptest::collection::vec(0u8..4, 0..600), 1usize..4), 1..8),
        cuts in proptest::collection::vec(1usize..64, 1..50),
        key in any::<[u8; 4]>(),
        no_takeover in any::<(bool, bool)>(),
        bits in (8u8..=15, 8u8..=15),
        server in any::<bool>(),
    ) {
        let agreed = Agreed {
            server_no_context_takeover: no_takeover.0,
            client_no_context_takeover: no_takeover.1,
            server_max_window_bits: bits.0,
            client_max_window_bits: bits.1,
        };
        // `server`: the parser reads for a server (masked client frames).
        let (role, sender, mask) = if server {
            (Role::Server, Role::Client, Some(key))
        } else {
            (Role::Client, Role::Server, None)
        };
        let mut d = Deflater::new(&agreed, sender);
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (binary, compress, data, pieces) in &msgs {
            // Few distinct bytes: it compresses, and references reach back.
            let data: Vec<u8> = data.iter().map(|b| if *binary { *b } else { b"ab c"[*b as usize] }).collect();
            let payload = if *compress { d.compress(&data) } else { data.clone() };
            let per = payload.len().div_ceil(*pieces).max(1);
            let parts: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(per).collect() };
            for (i, part) in parts.iter().enumerate() {
                let op = if i > 0 { 0 } else if *binary { 2 } else { 1 };
                wire.extend(zframe(op, i == parts.len() - 1, i == 0 && *compress, part, mask));
                if i == 0 && parts.len() > 1 {
                    wire.extend(frame(10, true, b"p", mask));
                    want.push(Incoming::Pong(b"p".to_vec()));
                }
            }
            want.push(Incoming::Message { text: !*binary, data });
        }
        let mut p = Parser::with_deflate(role, 1 << 20, Some(agreed));
        let mut got = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < wire.len() {
            let n = cuts[i % cuts.len()].min(wire.len() - at);
            i += 1;
            pending.extend_from_slice(&wire[at..at + n]);
            at += n;
            let used = p.parse(&pending, &mut got).unwrap();
            pending.drain(..used);
        }
        prop_assert!(pending.is_empty());
        prop_assert_eq!(got, want);
    }
}

/// How many bytes the read that ended at `fed` brought, `cuts` being the reads' sizes
/// in turn (the last read may be shorter: the end of the wire).
fn n_before(cuts: &[usize], fed: usize) -> usize {
    let (mut total, mut i) = (0, 0);
    loop {
        let n = cuts[i % cuts.len()];
        if total + n >= fed {
            return fed - total;
        }
        total += n;
        i += 1;
    }
}

proptest! {
    /// Any split of a stream of messages into reads gives the same messages.
    #[test]
    fn any_delivery_gives_the_same_messages(
        msgs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), 1usize..4), 1..8),
        cuts in proptest::collection::vec(1usize..64, 1..50),
        key in any::<[u8; 4]>(),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (binary, data, pieces) in &msgs {
            let data = if *binary { data.clone() } else { String::from_utf8_lossy(data).into_owned().into_bytes() };
            let per = data.len().div_ceil(*pieces).max(1);
            let parts: Vec<&[u8]> = if data.is_empty() { vec![&[]] } else { data.chunks(per).collect() };
            // A ping before a whole message, or between its first two fragments:
            // either way it is found before the message.
            want.push(Incoming::Ping(b"p".to_vec()));
            if parts.len() == 1 {
                wire.extend(frame(9, true, b"p", Some(key)));
            }
            for (i, part) in parts.iter().enumerate() {
                let op = if i > 0 { 0 } else if *binary { 2 } else { 1 };
                wire.extend(frame(op, i == parts.len() - 1, part, Some(key)));
                if i == 0 && parts.len() > 1 {
                    wire.extend(frame(9, true, b"p", Some(key)));
                }
            }
            want.push(Incoming::Message { text: !*binary, data });
        }
        let mut p = Parser::new(Role::Server, 1 << 20);
        let mut got = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < wire.len() {
            let n = cuts[i % cuts.len()].min(wire.len() - at);
            i += 1;
            pending.extend_from_slice(&wire[at..at + n]);
            at += n;
            let used = p.parse(&pending, &mut got).unwrap();
            pending.drain(..used);
        }
        prop_assert!(pending.is_empty());
        prop_assert_eq!(got, want);
    }
}
