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
//! session ([`crate::tls::session`]) stands in here, in one place. A `Transport` made by
//! [`Transport::secure`] runs the handshake, then passes every call through its session;
//! the areas above see the same calls, with two extra rules the session's doc explains
//! (retry a `WouldBlock` send with the same bytes in front, which every caller does
//! anyway; and [`Transport::ready`] answers at once while decrypted bytes wait, so a reader
//! that stops before `WouldBlock` asks [`Transport::buffered`]). The syscalls themselves,
//! per platform, are `abio_core::net`'s; the registration with the runtime's reactor is
//! `crate::runtime`'s.

use std::fs::File;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use abio_core::error::errno_error;
use abio_core::net::{self, raw_of, RawSock};
use abio_core::tls::rustls::Connection;
use socket2::Socket;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use crate::runtime::{peer_of, poll_io, register, reregister, AsyncSock, ReadyGuard};
use crate::tls::session::{handshake_step, Session, Step};
use crate::tls::{ClientContext, ServerTls};

/// A connected socket registered with the runtime's reactor, readable and writable, plain
/// or TLS. The descriptor closes when the `Transport` is dropped (areas share it in an
/// `Arc`, so the last task holding it closes it).
pub(crate) struct Transport {
    sock: AsyncSock,
    raw: RawSock,
    tls: Option<Session>,
}

/// What [`Transport::ready`] gives: `try_io` runs one of the transport's calls, clearing
/// the socket's readiness when it says `WouldBlock`. Without a socket guard when a TLS
/// session already holds what a reader wants.
pub(crate) struct Ready<'a>(Option<ReadyGuard<'a>>);

/// [`Ready::try_io`]'s "it would block; wait again".
#[derive(Debug)]
pub(crate) struct WouldBlock;

impl Ready<'_> {
    /// Runs `f`; a `WouldBlock` clears the readiness and is `Err(WouldBlock)`.
    pub(crate) fn try_io<R>(
        &mut self,
        f: impl FnOnce() -> io::Result<R>,
    ) -> Result<io::Result<R>, WouldBlock> {
        match &mut self.0 {
            Some(guard) => guard.try_io(|_| f()).map_err(|_| WouldBlock),
            None => match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(WouldBlock),
                r => Ok(r),
            },
        }
    }
}

impl Transport {
    /// Registers a connected (nonblocking) socket. On a runtime thread.
    pub(crate) fn new(sock: Socket) -> io::Result<Transport> {
        let raw = raw_of(&sock);
        let sock = register(sock, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Transport {
            sock,
            raw,
            tls: None,
        })
    }

    /// Registers a connected socket and runs the TLS handshake of `conn` (a client's or a
    /// server's) over it; the transport then speaks through the session. On a runtime
    /// thread; a server bounds the wait itself (its handshake timeout).
    pub(crate) async fn secure(sock: Socket, mut conn: Connection) -> io::Result<Transport> {
        let raw = raw_of(&sock);
        let sock = register(sock, Interest::READABLE | Interest::WRITABLE)?;
        // A new socket is writable: the first step runs at once (a client's hello).
        let mut interest = Interest::WRITABLE;
        loop {
            let mut guard = sock.ready(interest).await?;
            let step = guard.try_io(|_| loop {
                let wait = match handshake_step(&mut conn, raw)? {
                    Step::Again => continue,
                    Step::Done => return Ok(None),
                    Step::Readable => Interest::READABLE,
                    Step::Writable => Interest::WRITABLE,
                };
                // Waiting on what the guard is for: its readiness is stale, clear it.
                if wait == interest {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                return Ok(Some(wait));
            });
            match step {
                Err(_) => continue,
                Ok(Ok(None)) => break,
                Ok(Ok(Some(next))) => interest = next,
                Ok(Err(e)) => return Err(e),
            }
        }
        Ok(Transport {
            sock,
            raw,
            tls: Some(Session::new(conn)),
        })
    }

    /// A connection a TLS server accepted, once its handshake is done (within the server's
    /// handshake timeout, else `ETIMEDOUT`).
    pub(crate) async fn accept_tls(sock: Socket, tls: &ServerTls) -> io::Result<Transport> {
        let conn = tls.connection()?;
        tokio::time::timeout(tls.handshake_timeout, Transport::secure(sock, conn))
            .await
            .unwrap_or_else(|_| Err(errno_error(libc::ETIMEDOUT)))
    }

    /// A connection dialed to `host`, once the TLS handshake with `tls` is done.
    pub(crate) async fn connect_tls(
        sock: Socket,
        tls: &ClientContext,
        host: &str,
    ) -> io::Result<Transport> {
        Transport::secure(sock, tls.connection(host)?).await
    }

    /// The same connection, registered with the reactor for writing only: for a reader on
    /// the JS thread (WebSockets), whose readiness is libuv's, so that the runtime is not
    /// woken by every packet that arrives. On a runtime thread.
    pub(crate) fn for_js_reads(self) -> io::Result<Transport> {
        Ok(Transport {
            sock: reregister(self.sock, Interest::WRITABLE)?,
            raw: self.raw,
            tls: self.tls,
        })
    }

    /// The peer's address (`None` once the socket is not connected).
    pub(crate) fn peer_addr(&self) -> Option<socket2::SockAddr> {
        peer_of(&self.sock)
    }

    /// The TLS session, on a secure transport.
    pub(crate) fn session(&self) -> Option<&Session> {
        self.tls.as_ref()
    }

    /// Whether decrypted bytes (or a TLS peer's end) wait in the session: a `recv` needs no
    /// readiness then. Always false on a plain socket.
    pub(crate) fn buffered(&self) -> bool {
        self.tls.as_ref().is_some_and(Session::buffered)
    }

    /// The descriptor, for a readiness watch outside the runtime ([`crate::runtime::JsPoll`]).
    pub(crate) fn raw(&self) -> RawSock {
        self.raw
    }

    /// Waits until the socket is ready for `interest` (at once for reading while a TLS
    /// session holds decrypted bytes); the guard's `try_io` runs one of the calls below,
    /// clearing the readiness when it says `WouldBlock`. (With a way to stop the wait:
    /// [`super::ready`].)
    pub(crate) async fn ready(&self, interest: Interest) -> io::Result<Ready<'_>> {
        if interest.is_readable() && self.buffered() {
            return Ok(Ready(None));
        }
        Ok(Ready(Some(self.sock.ready(interest).await?)))
    }

    /// Receives into `buf` without waiting: `Ok(0)` is the end of the stream. While our
    /// side is open (`fin_sent` false), a reset is `ECONNRESET`, never taken for the peer's
    /// end ([`net::recv`]).
    pub(crate) fn recv(&self, buf: &mut [MaybeUninit<u8>], fin_sent: bool) -> io::Result<usize> {
        match &self.tls {
            None => net::recv(self.raw, buf, fin_sent),
            Some(s) => s.recv(self.raw, buf, fin_sent),
        }
    }

    /// Whether the peer ended the stream (`Ok(true)`) or bytes wait (`Ok(false)`), taking
    /// none; `WouldBlock` when neither.
    pub(crate) fn peek_end(&self, fin_sent: bool) -> io::Result<bool> {
        match &self.tls {
            None => net::peek_end(self.raw, fin_sent),
            Some(s) => s.peek_end(self.raw, fin_sent),
        }
    }

    /// How many bytes can be received now without waiting (a hint; 0 when unknown). On TLS,
    /// the decrypted bytes waiting plus the socket's (still encrypted) ones.
    pub(crate) fn available(&self) -> usize {
        let waiting = self.tls.as_ref().map_or(0, Session::available);
        waiting + net::available(self.raw)
    }

    /// Sends as much of `bufs` (at most [`net::IOV_MAX`]) as the socket takes now.
    pub(crate) fn send(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match &self.tls {
            None => net::send(self.raw, bufs),
            Some(s) => s.send(self.raw, bufs),
        }
    }

    /// Sends up to `count` bytes of `file` from `offset` (advanced by what was sent),
    /// kernel to kernel where the OS can.
    pub(crate) fn sendfile(
        &self,
        file: &File,
        offset: &mut u64,
        count: usize,
    ) -> io::Result<usize> {
        match &self.tls {
            None => net::sendfile(self.raw, file, offset, count),
            Some(s) => s.sendfile(self.raw, file, offset, count),
        }
    }

    /// Ends one or both directions (a waiting task then sees the socket ready). On TLS,
    /// `close_notify` goes first, and `Write` says `WouldBlock` until it (and every record
    /// before it) is out: retry when writable.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.tls {
            None => net::shutdown(self.raw, how),
            Some(s) => s.shutdown(self.raw, how),
        }
    }

    /// `Ok(())` when the socket takes bytes now (and no TLS record waits); `WouldBlock`
    /// when it is full.
    pub(crate) fn poll_writable(&self) -> io::Result<()> {
        match &self.tls {
            None => net::poll_writable(self.raw),
            Some(s) => s.poll_writable(self.raw),
        }
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
        let polled = match &me.tls {
            None => poll_io(&me.sock, cx, Interest::READABLE, || {
                net::recv(me.raw, unfilled, true).map(|n| (n, n > 0 && n < want))
            }),
            // Decrypted bytes may wait with the socket drained: try before any readiness.
            Some(s) => match s.recv(me.raw, unfilled, true) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    poll_io(&me.sock, cx, Interest::READABLE, || {
                        s.recv(me.raw, unfilled, true).map(|n| (n, false))
                    })
                }
                r => Poll::Ready(r),
            },
        };
        let n = match polled {
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
        if let Some(s) = &me.tls {
            return poll_io(&me.sock, cx, Interest::WRITABLE, || {
                s.send(me.raw, bufs).map(|n| (n, false))
            });
        }
        let want: usize = bufs.iter().take(net::IOV_MAX).map(|b| b.len()).sum();
        poll_io(&me.sock, cx, Interest::WRITABLE, || {
            net::send(me.raw, bufs).map(|n| (n, n > 0 && n < want))
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        match &me.tls {
            Some(s) if s.wants_write() => poll_io(&me.sock, cx, Interest::WRITABLE, || {
                s.flush(me.raw).map(|()| ((), false))
            }),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        match &me.tls {
            None => Poll::Ready(me.shutdown(Shutdown::Write)),
            Some(s) => poll_io(&me.sock, cx, Interest::WRITABLE, || {
                s.shutdown(me.raw, Shutdown::Write).map(|()| ((), false))
            }),
        }
    }
}
