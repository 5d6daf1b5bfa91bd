//! `headersTimeout`, `idleTimeout` and `bodyTimeout` (design.md section 7), told apart as
//! Node tells the first two apart. hyper 1's `header_read_timeout` starts as soon as a
//! connection waits for a request, so it bounds idle keep-alive connections and slow request
//! heads with one figure. abio watches each connection itself instead: [`Watched`] (its
//! socket) sees the first byte of a request arrive and each byte move, the service sees the
//! head complete, [`Drawn`] (the request body) sees a handler wait for body bytes, and
//! [`Tracked`] (the response body) sees the answer go out. [`watch`] closes the connection
//! when it sits idle longer than `idleTimeout`, takes longer than `headersTimeout` from a
//! request's first byte to the end of its head, or makes no progress for `bodyTimeout`
//! while it waits on its peer: a handler waits for request body bytes that do not come, or
//! the kernel takes no byte of the answer (the client does not read it). A slow handler is
//! never cut, nor a slow peer that keeps moving bytes.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::body::BodyTimeout;

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// Milliseconds since the first call: a clock cheap enough to read on every read.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Where one connection is: idle, reading a request head, or busy with a request, and since
/// when; whether it waits on its peer (for body bytes, or for room to send), and since its
/// last progress.
pub(crate) struct Activity {
    phase: AtomicU8,
    since: AtomicU64,
    /// A handler waits for request body bytes ([`Drawn`]).
    body_wanted: AtomicBool,
    /// The kernel refused the last write: the peer is not reading the answer.
    write_blocked: AtomicBool,
    /// When a wait on the peer began, or last moved a byte.
    progress: AtomicU64,
    /// The limit (ms) after which [`watch`] closed the connection; 0 while open.
    expired: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            phase: AtomicU8::new(IDLE),
            since: AtomicU64::new(now_ms()),
            body_wanted: AtomicBool::new(false),
            write_blocked: AtomicBool::new(false),
            progress: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        })
    }

    fn enter(&self, phase: u8) {
        self.since.store(now_ms(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// A request head is complete: no timeout until its answer is out, unless it waits on
    /// the peer.
    pub(crate) fn busy(&self) {
        self.enter(BUSY);
    }

    /// A wait on the peer begins (`flag` goes up): the progress clock starts now.
    fn wait_on(&self, flag: &AtomicBool) {
        if !flag.load(Ordering::Relaxed) {
            self.progress.store(now_ms(), Ordering::Relaxed);
            flag.store(true, Ordering::Release);
        }
    }

    /// A write returned: refused (`pending`), the wait on the peer begins; taken, it ends,
    /// and a connection flushing the end of an answer is not idle.
    fn wrote(&self, pending: bool) {
        if pending {
            self.wait_on(&self.write_blocked);
        } else if self.write_blocked.load(Ordering::Relaxed) {
            self.write_blocked.store(false, Ordering::Relaxed);
            if self.phase.load(Ordering::Acquire) == IDLE {
                self.since.store(now_ms(), Ordering::Relaxed);
            }
        }
    }
}

/// A connection's socket, noting the first byte of each request and the progress of bodies.
pub(crate) struct Watched<S> {
    pub io: S,
    pub activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            let a = &self.activity;
            if a.phase.load(Ordering::Acquire) == IDLE {
                a.enter(HEAD);
            } else if a.body_wanted.load(Ordering::Relaxed) {
                a.progress.store(now_ms(), Ordering::Relaxed);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.activity.wrote(r.is_pending());
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.activity.wrote(r.is_pending());
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A response body that marks its connection idle once it is sent (or dropped).
pub(crate) struct Tracked<B> {
    pub body: B,
    pub activity: Arc<Activity>,
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.activity.enter(IDLE);
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body as a handler reads it: while the handler waits for bytes, the connection
/// waits on its peer (`bodyTimeout` counts). Once [`watch`] has closed the connection, the
/// end of the body is a [`BodyTimeout`], not a short body.
pub(crate) struct Drawn<B> {
    body: B,
    activity: Arc<Activity>,
    waiting: bool,
}

impl<B> Drawn<B> {
    pub(crate) fn new(body: B, activity: Arc<Activity>) -> Drawn<B> {
        Drawn {
            body,
            activity,
            waiting: false,
        }
    }

    fn wait(&mut self, on: bool) {
        if on != self.waiting {
            self.waiting = on;
            if on {
                self.activity.wait_on(&self.activity.body_wanted);
            } else {
                self.activity.body_wanted.store(false, Ordering::Relaxed);
            }
        }
    }
}

impl<B> Drop for Drawn<B> {
    fn drop(&mut self) {
        self.wait(false);
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> hyper::body::Body for Drawn<B>
where
    B: hyper::body::Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let r = Pin::new(&mut self.body).poll_frame(cx);
        self.wait(r.is_pending());
        let ms = self.activity.expired.load(Ordering::Acquire);
        match r {
            Poll::Ready(None | Some(Err(_))) if ms != 0 => {
                Poll::Ready(Some(Err(Box::new(BodyTimeout { ms }))))
            }
            r => r.map(|f| f.map(|f| f.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The limits of [`watch`].
pub(crate) struct Limits {
    pub headers: Duration,
    pub idle: Duration,
    pub body: Duration,
}

/// Resolves when the connection has overstayed: idle longer than `idle`, reading one
/// request head longer than `headers`, or waiting on its peer without progress longer than
/// `body`.
///
/// Nothing wakes the watch when the connection changes (no cost per request): it looks
/// again at least every shortest limit, which is enough to be exact. Whatever starts a limit
/// at `t` sets its end at `t + limit` or later, and the look that follows `t` comes by
/// `t + shortest`, then sleeps until that end.
pub(crate) async fn watch(activity: Arc<Activity>, limits: Limits) {
    let ms = |d: Duration| d.as_millis() as u64;
    let (headers, idle, body) = (ms(limits.headers), ms(limits.idle), ms(limits.body));
    let shortest = headers.min(idle).min(body).max(1);
    let a = &activity;
    loop {
        let since = a.since.load(Ordering::Relaxed);
        let mut due = match a.phase.load(Ordering::Acquire) {
            IDLE => Some((since + idle, idle)),
            HEAD => Some((since + headers, headers)),
            // Busy: a slow handler is not cut.
            _ => None,
        };
        let stalled =
            a.body_wanted.load(Ordering::Acquire) || a.write_blocked.load(Ordering::Acquire);
        if stalled {
            let d = (a.progress.load(Ordering::Relaxed) + body, body);
            due = Some(due.map_or(d, |o| o.min(d)));
        }
        let now = now_ms();
        let next = match due {
            Some((at, limit)) if now >= at => {
                a.expired.store(limit.max(1), Ordering::Release);
                return;
            }
            Some((at, _)) => at.min(now + shortest),
            None => now + shortest,
        };
        tokio::time::sleep(Duration::from_millis(next - now)).await;
    }
}
