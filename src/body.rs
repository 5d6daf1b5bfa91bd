//! HTTP bodies, both ways, shared by the HTTP server (src/http/) and client (src/client/): [`Body`] sends held bytes or a
//! file read in pieces; [`body_to_vec`] and [`body_to_file`] receive one whole into an
//! exact buffer or streamed to disk, with limits, cancellation and progress.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use abio_core::error::{errno_error, errno_of};
use abio_core::fs::{FileSink, WriteOptions};
use abio_core::{Cancel, Error as CoreError};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::runtime::{net as rt, woken_on_cancel};

/// Bytes one read of a streamed file asks for.
const FILE_PIECE: u64 = 256 << 10;

/// A body abio sends: bytes it holds (the caller's memory, or a cached file), a file
/// read piece by piece as the peer takes it (one read ahead), or chunks produced as it goes
/// (a `fetch` handler's stream, src/http/outflow.rs).
pub(crate) enum Body {
    Bytes(Option<Bytes>),
    File {
        pieces: mpsc::Receiver<io::Result<Bytes>>,
        left: u64,
    },
    Stream(Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = io::Error> + Send>>),
}

impl Body {
    /// No bytes.
    pub(crate) fn empty() -> Body {
        Body::Bytes(None)
    }

    /// `len` bytes of `file` from `start`, read on the runtime's blocking pool one piece at
    /// a time while the peer keeps up. A file that shrinks underneath ends the body with an
    /// error, so the peer sees a cut response, not a short one that looks whole.
    pub(crate) fn file(file: Arc<File>, path: PathBuf, start: u64, len: u64) -> Body {
        let (tx, pieces) = mpsc::channel(1);
        rt().spawn(async move {
            let mut at = start;
            let end = start + len;
            while at < end {
                let n = FILE_PIECE.min(end - at);
                let (f, p) = (file.clone(), path.clone());
                let read = rt()
                    .spawn_blocking(move || {
                        abio_core::fs::read_at(&f, at, n, &Cancel::default(), &p)
                    })
                    .await;
                let piece = match read {
                    Ok(Ok(v)) if !v.is_empty() => Ok(Bytes::from(v)),
                    Ok(Ok(_)) => Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(Err(e)) => Err(io::Error::other(e.to_string())),
                    Err(e) => Err(io::Error::other(e.to_string())),
                };
                let failed = piece.is_err();
                at += piece.as_ref().map_or(0, |b| b.len() as u64);
                if tx.send(piece).await.is_err() || failed {
                    return; // the peer is gone, or the body is cut
                }
            }
        });
        Body::File { pieces, left: len }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::Bytes((!b.is_empty()).then_some(b))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::File { left: 0, .. } => Poll::Ready(None),
            Body::File { pieces, left } => match pieces.poll_recv(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(b))) => {
                    *left = left.saturating_sub(b.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into()))),
            },
            Body::Stream(s) => s.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Bytes(b) => b.is_none(),
            Body::File { left, .. } => *left == 0,
            Body::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::File { left, .. } => SizeHint::with_exact(*left),
            Body::Stream(s) => s.size_hint(),
        }
    }
}

/// The error of a request body whose connection the HTTP server's `bodyTimeout` watch
/// (src/http/timeouts.rs) closed: [`body_failed`] makes it `ABIO_ERR_TIMEOUT`.
#[derive(Debug)]
pub(crate) struct BodyTimeout {
    /// The limit that expired, in milliseconds.
    pub ms: u64,
}

impl fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no progress for {} ms", self.ms)
    }
}

impl std::error::Error for BodyTimeout {}

/// The error for a body that failed after `got` bytes of `wanted` (when announced): the
/// peer closing midway is [`CoreError::BodyCut`], a malformed chunked body
/// [`CoreError::HttpParse`], `bodyTimeout` expiring [`CoreError::Timeout`], not OS errors;
/// a [`CoreError`] is passed on as it is.
pub(crate) fn body_failed(
    e: Box<dyn std::error::Error + Send + Sync>,
    got: u64,
    wanted: Option<u64>,
) -> CoreError {
    // A body adapter's own failure (src/client/decode.rs: corrupt compressed data) is
    // already one of ours.
    let e = match e.downcast::<CoreError>() {
        Ok(ours) => return *ours,
        Err(e) => e,
    };
    if let Some(t) = e.downcast_ref::<BodyTimeout>() {
        return CoreError::Timeout {
            what: "Waiting for the request body (bodyTimeout)",
            ms: t.ms,
        };
    }
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
            return CoreError::BodyCut { got, wanted };
        }
        let mut source = std::error::Error::source(h);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<io::Error>() {
                if let Some(code) = io.raw_os_error().and(errno_of(io)) {
                    return CoreError::net(errno_error(code), "read");
                }
                if io.kind() == io::ErrorKind::UnexpectedEof {
                    return CoreError::BodyCut { got, wanted };
                }
                // hyper's decoder: a malformed chunk size, chunk end or trailer.
                if matches!(
                    io.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
                ) {
                    return CoreError::HttpParse(format!("The body is not valid HTTP/1.1: {io}"));
                }
            }
            source = s.source();
        }
    }
    CoreError::net(io::Error::other(e.to_string()), "read")
}

/// Reads all of `body` into one exact buffer: allocated once from an announced length
/// (refused before allocating when over `max`), grown for a chunked one up to `max`, then
/// `BodyTooLarge`. `progress` sees the bytes received so far; `cancel` stops the read.
pub(crate) async fn body_to_vec<B>(
    mut body: B,
    max: u64,
    cancel: &Cancel,
    mut progress: impl FnMut(u64),
) -> Result<Vec<u8>, CoreError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let wanted = body.size_hint().exact();
    if wanted.is_some_and(|n| n > max) {
        return Err(CoreError::BodyTooLarge { max });
    }
    let mut all = match wanted {
        Some(n) => {
            abio_core::fs::alloc(n as usize).map_err(|e| CoreError::io(e, "malloc", None))?
        }
        None => Vec::new(),
    };
    let aborted = woken_on_cancel(cancel);
    loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            _ = aborted.notified() => return Err(CoreError::Aborted),
        };
        let data = match frame {
            None => return Ok(all),
            Some(Err(e)) => return Err(body_failed(e.into(), all.len() as u64, wanted)),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue, // trailers
            },
        };
        if (all.len() + data.len()) as u64 > max {
            return Err(CoreError::BodyTooLarge { max });
        }
        if all.capacity() - all.len() < data.len() {
            all.try_reserve(data.len())
                .map_err(|_| CoreError::io(errno_error(libc::ENOMEM), "malloc", None))?;
        }
        all.extend_from_slice(&data);
        progress(all.len() as u64);
    }
}

/// What the network side hands the file writer of [`body_to_file`].
enum ToDisk {
    Data(Bytes),
    /// The body ended whole: commit the file.
    End,
}

/// Pieces in flight between the network and the disk: 8 frames (hyper's are up to
/// ~400 KiB) keep both busy without buffering a body.
const PIECES_IN_FLIGHT: usize = 8;

/// Streams `body` into the file `path` (design.md section 4's `WriteOptions`), never holding
/// more than a few pieces of it: the network side reads frames, a blocking writer on the
/// runtime's pool writes them (several at once with `writev`). More than `max` bytes is
/// `BodyTooLarge`; `progress` sees the bytes received so far. The file is committed only
/// when the body ended whole; any failure (the peer closing mid-body, `cancel`, a write
/// error) leaves what [`FileSink`]'s drop leaves: no temporary file, no created file.
pub(crate) async fn body_to_file<B>(
    mut body: B,
    path: PathBuf,
    opts: WriteOptions,
    max: u64,
    cancel: Cancel,
    mut progress: impl FnMut(u64),
) -> Result<u64, CoreError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let wanted = body.size_hint().exact();
    let (tx, mut rx) = mpsc::channel::<ToDisk>(PIECES_IN_FLIGHT);
    let stop = cancel.clone();
    let writer = rt().spawn_blocking(move || {
        let mut sink = FileSink::create(&path, &opts)?;
        let mut batch = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < PIECES_IN_FLIGHT * 2 {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let end = matches!(batch.last(), Some(ToDisk::End));
            let parts: Vec<&[u8]> = batch
                .iter()
                .filter_map(|p| match p {
                    ToDisk::Data(b) => Some(&b[..]),
                    ToDisk::End => None,
                })
                .collect();
            sink.write(&parts, &stop)?;
            batch.clear();
            if end {
                stop.check()?;
                return sink.commit();
            }
        }
        // The network side gave up: its error is the one reported.
        Err(CoreError::Aborted)
    });
    let aborted = woken_on_cancel(&cancel);
    let mut got: u64 = 0;
    let read: Result<(), CoreError> = loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            _ = aborted.notified() => break Err(CoreError::Aborted),
        };
        let data = match frame {
            None => break Ok(()),
            Some(Err(e)) => break Err(body_failed(e.into(), got, wanted)),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue, // trailers
            },
        };
        got += data.len() as u64;
        if got > max {
            break Err(CoreError::BodyTooLarge { max });
        }
        progress(got);
        if tx.send(ToDisk::Data(data)).await.is_err() {
            break Ok(()); // the writer failed: its error follows
        }
    };
    if read.is_ok() {
        let _ = tx.send(ToDisk::End).await;
    }
    drop(tx);
    let written = writer
        .await
        .unwrap_or_else(|e| Err(CoreError::net(io::Error::other(e.to_string()), "write")));
    match (read, written) {
        (Err(e), _) => Err(e),
        (Ok(()), w) => w,
    }
}
