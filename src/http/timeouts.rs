//! `headersTimeout` and `idleTimeout` (design.md section 7), told apart as Node tells them
//! apart. hyper 1's `header_read_timeout` starts as soon as a connection waits for a request,
//! so it bounds idle keep-alive connections and slow request heads with one figure. abio
//! watches each connection itself instead: [`Watched`] (its socket) sees the first byte of a
//! request arrive, the service sees the head complete, and [`Tracked`] (the response body)
//! sees the answer go out. [`watch`] closes the connection when it sits idle longer than
//! `idleTimeout`, or takes longer than `headersTimeout` from a request's first byte to the
//! end of its head. A request being answered (a slow handler, a long body) is never cut.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// Milliseconds since the first call: a clock cheap enough to read on every read.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Where one connection is: idle, reading a request head, or busy with a request; and since
/// when.
pub(crate) struct Activity {
    phase: AtomicU8,
    since: AtomicU64,
    /// Told when a request starts arriving: the limit shortens from idle to headers.
    started: Notify,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            phase: AtomicU8::new(IDLE),
            since: AtomicU64::new(now_ms()),
            started: Notify::new(),
        })
    }

    fn enter(&self, phase: u8) {
        self.since.store(now_ms(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// A request head is complete: no timeout until its answer is out.
    pub(crate) fn busy(&self) {
        self.enter(BUSY);
    }
}

/// A connection's socket, noting the first byte of each request.
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
        if buf.filled().len() > before && self.activity.phase.load(Ordering::Acquire) == IDLE {
            self.activity.enter(HEAD);
            self.activity.started.notify_one();
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
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
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

/// Resolves when the connection has overstayed: idle longer than `idle`, or reading one
/// request head longer than `headers`.
pub(crate) async fn watch(activity: Arc<Activity>, headers: Duration, idle: Duration) {
    let (headers, idle) = (headers.as_millis() as u64, idle.as_millis() as u64);
    loop {
        let since = activity.since.load(Ordering::Relaxed);
        let limit = match activity.phase.load(Ordering::Acquire) {
            IDLE => idle,
            HEAD => headers,
            // Busy: look again after the shorter limit; the phase will have moved on.
            _ => headers.min(idle),
        };
        let busy = activity.phase.load(Ordering::Acquire) == BUSY;
        let now = now_ms();
        let deadline = if busy { now + limit } else { since + limit };
        if !busy && now >= deadline {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(deadline - now)) => {}
            _ = activity.started.notified() => {}
        }
    }
}
