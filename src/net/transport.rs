//! The transport seam: the one place where a connection's bytes meet the OS.
//!
//! Every connected socket of abio is a [`Transport`], whatever area owns it: a TCP or Unix
//! socket (src/tcp/), a connection of the HTTP server (src/http/) or of the HTTP client
//! (src/client/), and a WebSocket of either role (src/ws/, which reads on the JS thread
//! through the libuv poll of [`crate::runtime::JsPoll`], watching [`Transport::raw`]).
//! It offers two faces over the same socket:
//!
//! - nonblocking calls for the areas that drive their own readiness (TCP and WebSockets):
//!   [`recv`](Transport::recv), [`send`](Transport::send) (gathered, `sendmsg`),
//!   [`sendfile`](Transport::sendfile), [`shutdown`](Transport::shutdown), the probes
//!   [`peek_end`](Transport::peek_end), [`available`](Transport::available) and
//!   [`poll_writable`](Transport::poll_writable), and [`ready`](Transport::ready) to wait;
//!   each returns `WouldBlock` when the socket is empty or full, from any thread;
//! - tokio's `AsyncRead`/`AsyncWrite`, for hyper (server, client, the WebSocket client's
//!   handshake), which hands the same `Transport` back on an upgrade.
//!
//! Nothing else in the addon calls a socket's `recv`/`send`/`sendfile`/`shutdown`: a TLS
//! session (or any other framing of the byte stream) stands in here, in one place. The
//! syscalls themselves, per platform, are `abio_core::net`'s; the registration with the
//! runtime's reactor is `crate::runtime`'s.

use std::fs::File;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use abio_core::net::{self, raw_of, RawSock};
use socket2::Socket;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use crate::runtime::{poll_io, register, AsyncSock, ReadyGuard};

/// A connected socket registered with the runtime's reactor, readable and writable. The
/// descriptor closes when the `Transport` is dropped (areas share it in an `Arc`, so the
/// last task holding it closes it).
pub(crate) struct Transport {
    sock: AsyncSock,
    raw: RawSock,
}

impl Transport {
    /// Registers a connected (nonblocking) socket. On a runtime thread.
    pub(crate) fn new(sock: Socket) -> io::Result<Transport> {
        let raw = raw_of(&sock);
        let sock = register(sock, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Transport { sock, raw })
    }

    /// The descriptor, for a readiness watch outside the runtime ([`crate::runtime::JsPoll`]).
    pub(crate) fn raw(&self) -> RawSock {
        self.raw
    }

    /// Waits until the socket is ready for `interest`; the guard's `try_io` runs one of the
    /// calls below, clearing the readiness when it says `WouldBlock`. (With a way to stop
    /// the wait: [`super::ready`].)
    pub(crate) async fn ready(&self, interest: Interest) -> io::Result<ReadyGuard<'_>> {
        self.sock.ready(interest).await
    }

    /// Receives into `buf` without waiting: `Ok(0)` is the end of the stream. While our
    /// side is open (`fin_sent` false), a reset is `ECONNRESET`, never taken for the peer's
    /// end ([`net::recv`]).
    pub(crate) fn recv(&self, buf: &mut [MaybeUninit<u8>], fin_sent: bool) -> io::Result<usize> {
        net::recv(self.raw, buf, fin_sent)
    }

    /// Whether the peer ended the stream (`Ok(true)`) or bytes wait (`Ok(false)`), taking
    /// none; `WouldBlock` when neither.
    pub(crate) fn peek_end(&self, fin_sent: bool) -> io::Result<bool> {
        net::peek_end(self.raw, fin_sent)
    }

    /// How many bytes can be received now without waiting (a hint; 0 when unknown).
    pub(crate) fn available(&self) -> usize {
        net::available(self.raw)
    }

    /// Sends as much of `bufs` (at most [`net::IOV_MAX`]) as the socket takes now.
    pub(crate) fn send(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        net::send(self.raw, bufs)
    }

    /// Sends up to `count` bytes of `file` from `offset` (advanced by what was sent),
    /// kernel to kernel where the OS can.
    pub(crate) fn sendfile(
        &self,
        file: &File,
        offset: &mut u64,
        count: usize,
    ) -> io::Result<usize> {
        net::sendfile(self.raw, file, offset, count)
    }

    /// Ends one or both directions (a waiting task then sees the socket ready).
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        net::shutdown(self.raw, how)
    }

    /// `Ok(())` when the socket takes bytes now; `WouldBlock` when it is full.
    pub(crate) fn poll_writable(&self) -> io::Result<()> {
        net::poll_writable(self.raw)
    }
}

// hyper's face. A read or write shorter than asked means the socket is drained or full: the
// readiness is cleared then, as tokio's `TcpStream` does, sparing the syscall that would
// only say `WouldBlock`.

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        // SAFETY: `recv` only writes into the unfilled part, and only initialised bytes are
        // reported (`assume_init` of what it wrote).
        let unfilled = unsafe { buf.unfilled_mut() };
        let want = unfilled.len();
        // hyper takes the end of the stream as it comes (a reset too), as tokio's
        // `TcpStream` reads it: no reset probe here.
        let n = match poll_io(&me.sock, cx, Interest::READABLE, || {
            net::recv(me.raw, unfilled, true).map(|n| (n, n > 0 && n < want))
        }) {
            Poll::Ready(Ok(n)) => n,
            other => return other.map(|r| r.map(drop)),
        };
        // SAFETY: `recv` initialised the first `n` bytes of the unfilled part.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let want: usize = bufs.iter().take(net::IOV_MAX).map(|b| b.len()).sum();
        poll_io(&me.sock, cx, Interest::WRITABLE, || {
            net::send(me.raw, bufs).map(|n| (n, n > 0 && n < want))
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}
