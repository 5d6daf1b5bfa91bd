//! [`Reader`]: the read side of a stream socket, which turns the received byte stream into
//! what JS asked for ([`Want`]): chunks, exact reads and frames, receiving through whatever
//! `recv` its caller passes (the socket's, or a test's peer).

use std::io;
use std::mem::MaybeUninit;

use super::CHUNK;
use crate::frame::{self, Decoded, HEADER_LEN};
use crate::{Error, Result};

/// What a read asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Whatever has arrived, at least 1 and at most this many bytes (`read`).
    Chunk(usize),
    /// Exactly this many bytes (`readExactly`).
    Exactly(usize),
    /// One frame of at most this many bytes (`readFrame`).
    Frame(u32),
}

/// The outcome of [`Reader::poll`].
#[derive(Debug)]
pub enum Step {
    /// The read is complete: its bytes, `None` at the end of the stream, or its error.
    Done(Result<Option<Vec<u8>>>),
    /// More bytes are needed and none can be received now: poll again once readable.
    Blocked,
}

/// The read side of a stream socket: bytes received but not handed out yet, and the
/// progress of the read at the head of the queue. A large exact read or frame is received
/// straight into its own exact allocation; small ones are cut out of a [`CHUNK`] buffer.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
    start: usize,
    /// The head read's own buffer and the length it needs.
    partial: Option<(Vec<u8>, usize)>,
    ended: bool,
    failed: Option<i32>,
}

fn spare(v: &mut Vec<u8>, max: usize) -> &mut [MaybeUninit<u8>] {
    let spare = v.spare_capacity_mut();
    let n = spare.len().min(max);
    &mut spare[..n]
}

impl Reader {
    /// Bytes received and not handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start + self.partial.as_ref().map_or(0, |(v, _)| v.len())
    }

    /// Whether the peer's end of the stream was seen.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Records the end of the stream seen elsewhere (a peek).
    pub fn set_ended(&mut self) {
        self.ended = true;
    }

    /// Whether the stream failed (reset): every read rejects with that error.
    pub fn failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Drops the head read's progress (it was cancelled, or the socket closed).
    pub fn abandon(&mut self) {
        self.partial = None;
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        out
    }

    /// Receives up to [`CHUNK`] more bytes into the buffer: `Ok(false)` at the end.
    fn fill(
        &mut self,
        recv: &mut dyn FnMut(&mut [MaybeUninit<u8>]) -> io::Result<usize>,
    ) -> io::Result<bool> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(CHUNK);
        let n = recv(spare(&mut self.buf, CHUNK))?;
        // SAFETY: recv initialised `n` bytes of the spare capacity.
        unsafe { self.buf.set_len(self.buf.len() + n) };
        Ok(n > 0)
    }

    fn fail(&mut self, e: io::Error) -> Step {
        if e.kind() == io::ErrorKind::WouldBlock {
            return Step::Blocked;
        }
        self.partial = None;
        self.failed = crate::error::errno_of(&e);
        Step::Done(Err(Error::net(e, "read")))
    }

    /// Completes `want` from the buffered bytes and `recv` (a nonblocking receive: `Ok(0)`
    /// at the end of the stream, `WouldBlock` when nothing is there), or says it is
    /// `Blocked`. `available` hints how many bytes are waiting, so a chunk is allocated at
    /// its exact size. A frame header over its limit is refused before anything is
    /// allocated, and left in place: a retry with a larger limit reads it.
    pub fn poll(
        &mut self,
        want: Want,
        recv: &mut dyn FnMut(&mut [MaybeUninit<u8>]) -> io::Result<usize>,
        available: &dyn Fn() -> usize,
    ) -> Step {
        if let Some(errno) = self.failed {
            return Step::Done(Err(Error::net(crate::error::errno_error(errno), "read")));
        }
        loop {
            if let Some((mut v, need)) = self.partial.take() {
                let want_more = need - v.len();
                match recv(spare(&mut v, want_more)) {
                    Ok(0) => {
                        self.ended = true;
                        return Step::Done(Err(Error::Ended {
                            got: v.len() as u64,
                            wanted: need as u64,
                        }));
                    }
                    Ok(n) => {
                        // SAFETY: recv initialised `n` bytes of the spare capacity.
                        unsafe { v.set_len(v.len() + n) };
                        if v.len() == need {
                            return Step::Done(Ok(Some(v)));
                        }
                        self.partial = Some((v, need));
                        continue;
                    }
                    Err(e) => {
                        self.partial = Some((v, need));
                        return self.fail(e);
                    }
                }
            }
            let have = self.buf.len() - self.start;
            let need = match want {
                Want::Chunk(max) => {
                    if have > 0 {
                        return Step::Done(Ok(Some(self.take(have.min(max)))));
                    }
                    if self.ended {
                        return Step::Done(Ok(None));
                    }
                    let waiting = available();
                    let size = if waiting > 0 {
                        waiting.min(max)
                    } else {
                        max.min(CHUNK)
                    };
                    let mut v = Vec::with_capacity(size);
                    return match recv(spare(&mut v, size)) {
                        Ok(0) => {
                            self.ended = true;
                            Step::Done(Ok(None))
                        }
                        Ok(n) => {
                            // SAFETY: recv initialised `n` bytes.
                            unsafe { v.set_len(n) };
                            if v.capacity() > 2 * n + 4096 {
                                v.shrink_to_fit();
                            }
                            Step::Done(Ok(Some(v)))
                        }
                        Err(e) => self.fail(e),
                    };
                }
                Want::Exactly(n) => n,
                Want::Frame(max) => match frame::decode(&self.buf[self.start..], max) {
                    Err(e) => return Step::Done(Err(e)),
                    Ok(Decoded::Frame { len }) => {
                        self.start += HEADER_LEN;
                        return Step::Done(Ok(Some(self.take(len))));
                    }
                    Ok(Decoded::Need(_)) if have < HEADER_LEN => {
                        if self.ended {
                            return Step::Done(if have == 0 {
                                Ok(None)
                            } else {
                                Err(Error::Ended {
                                    got: have as u64,
                                    wanted: HEADER_LEN as u64,
                                })
                            });
                        }
                        match self.fill(recv) {
                            Ok(true) => {}
                            Ok(false) => self.ended = true,
                            Err(e) => return self.fail(e),
                        }
                        continue;
                    }
                    Ok(Decoded::Need(more)) => have + more,
                },
            };
            // An exact read (or a frame, header included) of `need` bytes.
            if have >= need {
                let mut v = self.take(need);
                if let Want::Frame(_) = want {
                    v.drain(..HEADER_LEN);
                }
                return Step::Done(Ok(Some(v)));
            }
            if self.ended {
                return Step::Done(Err(Error::Ended {
                    got: have as u64,
                    wanted: need as u64,
                }));
            }
            if need <= CHUNK {
                match self.fill(recv) {
                    Ok(true) => {}
                    Ok(false) => self.ended = true,
                    Err(e) => return self.fail(e),
                }
                continue;
            }
            // Large: its own allocation, with what is buffered moved in; the header of a
            // frame is consumed here.
            let (skip, size) = match want {
                Want::Frame(_) => (HEADER_LEN, need - HEADER_LEN),
                _ => (0, need),
            };
            let mut v = Vec::with_capacity(size);
            v.extend_from_slice(&self.buf[self.start + skip..]);
            self.buf.clear();
            self.start = 0;
            self.partial = Some((v, size));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A peer that delivers `data` in pieces of the given sizes, then ends (or blocks).
    struct Peer {
        data: Vec<u8>,
        at: usize,
        cuts: Vec<usize>,
        k: usize,
        end: bool,
    }

    impl Peer {
        fn recv(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
            if self.at == self.data.len() {
                return if self.end {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let cut = self.cuts[self.k % self.cuts.len()];
            self.k += 1;
            let n = cut.min(buf.len()).min(self.data.len() - self.at);
            for (d, s) in buf[..n].iter_mut().zip(&self.data[self.at..self.at + n]) {
                d.write(*s);
            }
            self.at += n;
            Ok(n)
        }
    }

    fn poll(r: &mut Reader, p: &mut Peer, want: Want) -> Step {
        let left = p.data.len() - p.at;
        r.poll(want, &mut |b| p.recv(b), &|| left)
    }

    fn frames(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut s = Vec::new();
        for p in payloads {
            s.extend_from_slice(&frame::header(p.len() as u64).unwrap());
            s.extend_from_slice(p);
        }
        s
    }

    #[test]
    fn reads_chunks_exact_reads_and_frames_then_the_end() {
        let mut data = frames(&[b"abc".to_vec(), vec![7; 100_000]]);
        data.extend_from_slice(b"0123456789");
        let mut p = Peer {
            data,
            at: 0,
            cuts: vec![5, 3000],
            k: 0,
            end: true,
        };
        let mut r = Reader::default();
        let got = |s: Step| match s {
            Step::Done(Ok(v)) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(got(poll(&mut r, &mut p, Want::Frame(10))).unwrap(), b"abc");
        // Over the limit: refused, and left for a retry with a larger limit.
        assert!(matches!(
            poll(&mut r, &mut p, Want::Frame(1000)),
            Step::Done(Err(Error::FrameTooLarge { len: 100_000, .. }))
        ));
        assert_eq!(
            got(poll(&mut r, &mut p, Want::Frame(1 << 20))).unwrap(),
            vec![7; 100_000]
        );
        assert_eq!(
            got(poll(&mut r, &mut p, Want::Exactly(4))).unwrap(),
            b"0123"
        );
        assert_eq!(got(poll(&mut r, &mut p, Want::Exactly(2))).unwrap(), b"45");
        assert!(matches!(
            poll(&mut r, &mut p, Want::Exactly(5)),
            Step::Done(Err(Error::Ended { got: 4, wanted: 5 }))
        ));
        assert_eq!(
            got(poll(&mut r, &mut p, Want::Chunk(100))).unwrap(),
            b"6789"
        );
        assert!(got(poll(&mut r, &mut p, Want::Chunk(100))).is_none());
        assert!(got(poll(&mut r, &mut p, Want::Frame(100))).is_none());
    }

    #[test]
    fn blocks_without_losing_progress_and_refuses_4_gib_headers() {
        let mut p = Peer {
            data: vec![0, 0],
            at: 0,
            cuts: vec![1],
            k: 0,
            end: false,
        };
        let mut r = Reader::default();
        assert!(matches!(
            poll(&mut r, &mut p, Want::Frame(10)),
            Step::Blocked
        ));
        p.data.extend_from_slice(&[0, 2, b'h', b'i']);
        match poll(&mut r, &mut p, Want::Frame(10)) {
            Step::Done(Ok(Some(v))) => assert_eq!(v, b"hi"),
            other => panic!("{other:?}"),
        }
        p.data.extend_from_slice(&[0xff; 4]);
        assert!(matches!(
            poll(&mut r, &mut p, Want::Frame(frame::DEFAULT_MAX)),
            Step::Done(Err(Error::FrameTooLarge {
                len: 0xffff_ffff,
                ..
            }))
        ));
        // Nothing was allocated for it: only the 4 header bytes are buffered.
        assert_eq!(r.buffered(), 4);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Frames and exact reads of any sizes, delivered in any pieces with pauses,
        /// come out byte for byte.
        #[test]
        fn any_delivery_reads_back(
            payloads in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..300),
                    proptest::collection::vec(any::<u8>(), 60_000..140_000),
                ], 1..6),
            cuts in proptest::collection::vec(1usize..70_000, 1..8),
            exact in any::<bool>(),
        ) {
            let data = frames(&payloads);
            let mut p = Peer { data: Vec::new(), at: 0, cuts, k: 0, end: false };
            let mut r = Reader::default();
            let mut fed = 0;
            for want in &payloads {
                loop {
                    let w = if exact { Want::Exactly(want.len() + 4) } else { Want::Frame(1 << 20) };
                    match poll(&mut r, &mut p, w) {
                        Step::Done(Ok(Some(mut v))) => {
                            if exact {
                                v.drain(..4);
                            }
                            prop_assert_eq!(&v, want);
                            break;
                        }
                        Step::Blocked => {
                            // Deliver some more of the stream.
                            let next = (fed + 50_000).min(data.len());
                            prop_assert!(next > fed, "blocked with the whole stream delivered");
                            p.data.extend_from_slice(&data[fed..next]);
                            fed = next;
                        }
                        other => prop_assert!(false, "{:?}", other),
                    }
                }
            }
            prop_assert_eq!(r.buffered(), 0);
        }
    }
}
