//! Response bodies decoded as `fetch` decodes them (design.md section 12): the
//! `Content-Encoding`s `gzip` (and `x-gzip`), `deflate` (zlib-wrapped, or raw deflate as
//! browsers tolerate) and `br`, undone in reverse order of listing while the body streams.
//!
//! [`Decoded`] wraps a response body and yields decoded pieces of at most [`PIECE`] bytes, so
//! the body readers of src/body.rs count decoded bytes against `maxSize` as they come: a small
//! compressed body that expands without bound (a "bomb") is refused once past the limit,
//! having held at most the limit plus a piece, plus each decoder's window (32 KiB for
//! deflate; for brotli at most 16 MiB, grown only as the data needs it). Nothing is allocated
//! from the announced length of a compressed body.
//!
//! A corrupt stream, or a body that ends before its compressed stream does, fails with
//! [`CoreError::HttpParse`] (never a short body). Bytes after the end of the compressed
//! stream are ignored, as Node's zlib ignores them, except that after a gzip member a byte
//! other than zero starts another member (as `gunzip` reads them).

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use abio_core::Error as CoreError;
use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
use bytes::{Buf, Bytes, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};
use hyper::body::{Body, Frame};
use hyper::header::{HeaderMap, CONTENT_ENCODING};

/// The error type of a body whose failures come from several sources.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Decoded bytes handed on at a time: the granularity of the `maxSize` check.
const PIECE: usize = 64 << 10;

/// Codings undone at most; a response listing more is refused (each holds a window).
const MAX_CODINGS: usize = 4;

/// zlib's largest window (32 KiB), the one gzip and deflate streams may use.
const WINDOW_BITS: u8 = 15;

/// A content coding abio undoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Coding {
    /// `gzip` or `x-gzip` (RFC 1952), one member or several.
    Gzip,
    /// `deflate`: zlib-wrapped (RFC 1950) as specified, or raw (RFC 1951) as some servers send.
    Deflate,
    /// `br` (RFC 7932).
    Brotli,
}

impl Coding {
    fn of(token: &str) -> Option<Coding> {
        [
            ("gzip", Coding::Gzip),
            ("x-gzip", Coding::Gzip),
            ("deflate", Coding::Deflate),
            ("br", Coding::Brotli),
        ]
        .into_iter()
        .find(|(name, _)| token.eq_ignore_ascii_case(name))
        .map(|(_, c)| c)
    }

    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
        }
    }
}

/// The codings `headers`' `Content-Encoding` lists, in the order they were applied
/// (`identity` skipped), when abio can undo every one of them; `None` when there is none or
/// one is unknown: the body is then returned as sent, headers included, as `fetch` does.
pub(super) fn codings(headers: &HeaderMap) -> Result<Option<Vec<Coding>>, CoreError> {
    let mut list = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let Ok(text) = value.to_str() else {
            return Ok(None);
        };
        for token in text.split(',').map(str::trim) {
            if token.is_empty() || token.eq_ignore_ascii_case("identity") {
                continue;
            }
            match Coding::of(token) {
                Some(c) => list.push(c),
                None => return Ok(None),
            }
        }
    }
    if list.len() > MAX_CODINGS {
        return Err(CoreError::HttpParse(format!(
            "The response body has {} content codings; abio undoes at most {MAX_CODINGS}",
            list.len()
        )));
    }
    Ok((!list.is_empty()).then_some(list))
}

/// Whether a `deflate` body starting with `head` is zlib-wrapped: a zlib header names the
/// deflate method in its first byte's low nibble and is a multiple of 31 (RFC 1950); raw
/// deflate data that looks like one is not seen in practice.
fn is_zlib(head: &[u8]) -> bool {
    match head {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// One coding's decoder.
enum Decoder {
    /// `deflate` before its first two bytes tell zlib-wrapped from raw.
    Sniffing,
    /// zlib's inflate (zlib-rs): gzip (a member at a time) and both kinds of deflate.
    Flate(Decompress),
    /// RFC 7932 brotli (no large windows).
    Brotli(Box<BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>>),
}

fn gzip() -> Decoder {
    Decoder::Flate(Decompress::new_gzip(WINDOW_BITS))
}

/// One coding undone: the input it has been given and not consumed, and the buffer its
/// pieces are decoded into (reused once the previous piece is dropped).
struct Stage {
    coding: Coding,
    decoder: Decoder,
    input: Bytes,
    out: BytesMut,
    /// The last decode filled a whole piece: more output may be waiting inside the decoder.
    pending: bool,
    /// Some input arrived (an empty body is empty, not cut short).
    seen: bool,
    /// The input has ended.
    ended: bool,
    /// The compressed stream is whole.
    done: bool,
    /// What follows the stream is being ignored.
    trailing: bool,
}

impl Stage {
    fn new(coding: Coding) -> Stage {
        let decoder = match coding {
            Coding::Gzip => gzip(),
            Coding::Deflate => Decoder::Sniffing,
            Coding::Brotli => Decoder::Brotli(Box::new(BrotliState::new_strict(
                StandardAlloc::default(),
                StandardAlloc::default(),
                StandardAlloc::default(),
            ))),
        };
        Stage {
            coding,
            decoder,
            input: Bytes::new(),
            out: BytesMut::new(),
            pending: false,
            seen: false,
            ended: false,
            done: false,
            trailing: false,
        }
    }

    fn feed(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.seen = true;
        if self.input.is_empty() {
            self.input = data;
        } else {
            // Only while sniffing a `deflate` body whose first piece was one byte.
            let mut joined = BytesMut::with_capacity(self.input.len() + data.len());
            joined.extend_from_slice(&self.input);
            joined.extend_from_slice(&data);
            self.input = joined.freeze();
        }
    }

    fn corrupt(&self, why: &str) -> CoreError {
        CoreError::HttpParse(format!(
            "The response body is not valid {}: {why}",
            self.coding.name()
        ))
    }

    /// The next decoded piece; `None` when it needs more input, or (once the input has
    /// ended) when the stream is whole.
    fn step(&mut self) -> Result<Option<Bytes>, CoreError> {
        loop {
            if self.done {
                let another = self.coding == Coding::Gzip
                    && !self.trailing
                    && self.input.first().is_some_and(|&b| b != 0);
                if !another {
                    self.trailing |= !self.input.is_empty();
                    self.input.clear();
                    return Ok(None);
                }
                self.decoder = gzip();
                self.done = false;
            }
            if matches!(self.decoder, Decoder::Sniffing) {
                if self.input.len() < 2 && !self.ended {
                    return Ok(None);
                }
                let zlib = is_zlib(&self.input);
                self.decoder = Decoder::Flate(Decompress::new_with_window_bits(zlib, WINDOW_BITS));
            }
            if !self.seen || (self.input.is_empty() && !self.pending && !self.ended) {
                return Ok(None);
            }
            self.out.clear();
            self.out.resize(PIECE, 0);
            let (consumed, produced, end) = match &mut self.decoder {
                Decoder::Sniffing => unreachable!("decided above"),
                Decoder::Flate(d) => {
                    let (i0, o0) = (d.total_in(), d.total_out());
                    let status = d.decompress(&self.input, &mut self.out, FlushDecompress::None);
                    let status = match status {
                        Ok(s) => s,
                        Err(e) => return Err(self.corrupt(e.message().unwrap_or("invalid data"))),
                    };
                    let consumed = (d.total_in() - i0) as usize;
                    let produced = (d.total_out() - o0) as usize;
                    (consumed, produced, status == Status::StreamEnd)
                }
                Decoder::Brotli(state) => {
                    let (mut avail_in, mut in_at) = (self.input.len(), 0);
                    let (mut avail_out, mut out_at, mut total) = (PIECE, 0, 0);
                    let result = BrotliDecompressStream(
                        &mut avail_in,
                        &mut in_at,
                        &self.input,
                        &mut avail_out,
                        &mut out_at,
                        &mut self.out,
                        &mut total,
                        &mut **state,
                    );
                    if let BrotliResult::ResultFailure = result {
                        let why = format!("{:?}", state.error_code);
                        return Err(self.corrupt(&why));
                    }
                    (in_at, out_at, matches!(result, BrotliResult::ResultSuccess))
                }
            };
            self.input.advance(consumed);
            self.out.truncate(produced);
            self.pending = produced == PIECE;
            self.done = end;
            if produced > 0 {
                return Ok(Some(self.out.split().freeze()));
            }
            if consumed == 0 && !end {
                // Nothing more can come of the input at hand.
                if self.ended {
                    return Err(self.corrupt("the body ends before the compressed data does"));
                }
                return Ok(None);
            }
        }
    }
}

/// A response body with its content codings undone, in pieces of at most [`PIECE`] bytes;
/// its length is unknown until it ends. Its errors are the wrapped body's, or a
/// [`CoreError`] for corrupt data.
pub(super) struct Decoded<B> {
    inner: B,
    /// In the order they are undone: the last coding listed first.
    stages: Vec<Stage>,
}

impl<B> Decoded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// `inner` decoded from `codings` (in the order they were applied).
    pub(super) fn new(inner: B, codings: &[Coding]) -> Self {
        Decoded {
            inner,
            stages: codings.iter().rev().map(|&c| Stage::new(c)).collect(),
        }
    }

    /// The next piece of data out of stage `i`: for `i == 0` the wrapped body's, else the
    /// output of `stages[i - 1]`, fed from stage `i - 1`.
    fn pull(&mut self, i: usize, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
        if i == 0 {
            loop {
                let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
                return Poll::Ready(match frame {
                    None => None,
                    Some(Err(e)) => Some(Err(e.into())),
                    Some(Ok(f)) => match f.into_data() {
                        Ok(data) => Some(Ok(data)),
                        Err(_) => continue, // trailers
                    },
                });
            }
        }
        loop {
            let stage = &mut self.stages[i - 1];
            if let Some(piece) = stage.step()? {
                return Poll::Ready(Some(Ok(piece)));
            }
            if stage.ended {
                return Poll::Ready(None);
            }
            match ready!(self.pull(i - 1, cx)) {
                None => self.stages[i - 1].ended = true,
                Some(Ok(data)) => self.stages[i - 1].feed(data),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl<B> Body for Decoded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let last = this.stages.len();
        this.pull(last, cx)
            .map(|piece| piece.map(|r| r.map(Frame::data)))
    }
}
