//! The TCP frame format: a u32 big-endian length, then that many bytes (docs/FORMAT.md,
//! "TCP frames"). Pure functions over byte slices, so the socket code (and `cargo test`,
//! proptest) share one implementation of the rules.

use crate::{Error, Result};

/// Bytes of a frame header.
pub const HEADER_LEN: usize = 4;
/// The default largest frame a reader accepts: 64 MiB.
pub const DEFAULT_MAX: u32 = 64 << 20;

/// The header of a frame carrying `len` bytes, or [`Error::FrameTooLarge`] when `len` does
/// not fit the u32 length field.
pub fn header(len: u64) -> Result<[u8; HEADER_LEN]> {
    let len = u32::try_from(len).map_err(|_| Error::FrameTooLarge {
        len,
        max: u32::MAX as u64,
    })?;
    Ok(len.to_be_bytes())
}

/// The header of a frame made of `parts` (written one after another, never concatenated).
pub fn header_of(parts: &[&[u8]]) -> Result<[u8; HEADER_LEN]> {
    header(parts.iter().map(|p| p.len() as u64).sum())
}

/// What [`decode`] found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Not a whole frame yet: at least this many more bytes are needed.
    Need(usize),
    /// A whole frame: its payload is `buf[HEADER_LEN..HEADER_LEN + len]`.
    Frame {
        /// Payload length.
        len: usize,
    },
}

/// Looks at the start of `buf` for a frame of at most `max` bytes. A header announcing more
/// is refused as soon as its 4 bytes are there, before anything is allocated or read for it.
pub fn decode(buf: &[u8], max: u32) -> Result<Decoded> {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(Decoded::Need(HEADER_LEN - buf.len()));
    };
    let len = u32::from_be_bytes(*head);
    if len > max {
        return Err(Error::FrameTooLarge {
            len: len as u64,
            max: max as u64,
        });
    }
    let len = len as usize;
    let have = buf.len() - HEADER_LEN;
    Ok(if have >= len {
        Decoded::Frame { len }
    } else {
        Decoded::Need(len - have)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn headers_are_big_endian_lengths() {
        assert_eq!(header(0).unwrap(), [0, 0, 0, 0]);
        assert_eq!(header(0x0102_0304).unwrap(), [1, 2, 3, 4]);
        assert!(matches!(header(1 << 32), Err(Error::FrameTooLarge { .. })));
        assert_eq!(header_of(&[b"ab", b"", b"c"]).unwrap(), [0, 0, 0, 3]);
    }

    #[test]
    fn decode_needs_refuses_and_finds() {
        assert_eq!(decode(&[], 10).unwrap(), Decoded::Need(4));
        assert_eq!(decode(&[0, 0], 10).unwrap(), Decoded::Need(2));
        assert_eq!(decode(&[0, 0, 0, 3, 9], 10).unwrap(), Decoded::Need(2));
        assert_eq!(
            decode(&[0, 0, 0, 3, 9, 9, 9, 7], 10).unwrap(),
            Decoded::Frame { len: 3 }
        );
        assert_eq!(decode(&[0, 0, 0, 0], 0).unwrap(), Decoded::Frame { len: 0 });
        // A 4 GiB announcement is refused from its header alone.
        assert!(matches!(
            decode(&[0xff, 0xff, 0xff, 0xff], DEFAULT_MAX),
            Err(Error::FrameTooLarge {
                len: 0xffff_ffff,
                ..
            })
        ));
        assert!(matches!(
            decode(&[0, 0, 0, 11], 10),
            Err(Error::FrameTooLarge { .. })
        ));
    }

    proptest! {
        /// Any stream of frames, cut anywhere, decodes back into the same payloads.
        #[test]
        fn any_split_of_a_stream_round_trips(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
            cuts in proptest::collection::vec(1usize..64, 1..50),
        ) {
            let mut stream = Vec::new();
            for p in &payloads {
                stream.extend_from_slice(&header(p.len() as u64).unwrap());
                stream.extend_from_slice(p);
            }
            // Feed the stream in pieces, as a socket would deliver it.
            let (mut buf, mut got, mut fed, mut k) = (Vec::new(), Vec::new(), 0, 0);
            while fed < stream.len() || !buf.is_empty() {
                let step = cuts[k % cuts.len()].min(stream.len() - fed);
                k += 1;
                buf.extend_from_slice(&stream[fed..fed + step]);
                fed += step;
                while let Decoded::Frame { len } = decode(&buf, 1 << 20).unwrap() {
                    got.push(buf[HEADER_LEN..HEADER_LEN + len].to_vec());
                    buf.drain(..HEADER_LEN + len);
                }
                if step == 0 {
                    prop_assert!(buf.is_empty(), "bytes left over at the end of the stream");
                    break;
                }
            }
            prop_assert_eq!(got, payloads);
        }
    }
}
