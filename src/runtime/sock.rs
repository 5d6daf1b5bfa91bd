//! Sockets on the runtime's reactor: registering one ([`register`]), waiting for its
//! readiness and running a nonblocking syscall under it ([`AsyncSock`], [`ReadyGuard`],
//! [`poll_io`]), and a nonblocking `connect`'s completion ([`connected`]). Unix uses tokio's
//! `AsyncFd`; Windows a tokio `TcpStream` with the same shape. The calls made under the
//! readiness are src/net/transport.rs's.

use std::io;
use std::task::{Context, Poll};

use tokio::io::Interest;

/// A socket registered with [`super::net`]'s reactor: on Unix tokio's `AsyncFd`, which watches any
/// descriptor (`ready`, then `try_io` around our own nonblocking syscalls).
#[cfg(unix)]
pub type AsyncSock = tokio::io::unix::AsyncFd<socket2::Socket>;
/// What [`AsyncSock::ready`] gives: `try_io` runs a syscall, clearing the readiness when it
/// would block.
#[cfg(unix)]
pub type ReadyGuard<'a> = tokio::io::unix::AsyncFdReadyGuard<'a, socket2::Socket>;

/// Registers `sock` with the runtime's reactor. On a runtime thread.
#[cfg(unix)]
pub fn register(
    sock: socket2::Socket,
    interest: tokio::io::Interest,
) -> std::io::Result<AsyncSock> {
    // SAFETY: a `Socket` owns its descriptor, keeps it open until dropped and always
    // reports the same one; the `AsyncFd` owns the `Socket`.
    unsafe { AsyncSock::register_with_interest(sock, interest) }.map_err(std::io::Error::from)
}

/// Registers `sock` again for `interest` alone (a socket whose reads are watched elsewhere,
/// by a [`super::JsPoll`], needs no reactor wake-up per incoming packet). On a runtime
/// thread.
#[cfg(unix)]
pub fn reregister(sock: AsyncSock, interest: Interest) -> io::Result<AsyncSock> {
    register(sock.into_inner(), interest)
}

/// Windows registers every socket for both directions: kept as it is.
#[cfg(windows)]
pub fn reregister(sock: AsyncSock, _interest: Interest) -> io::Result<AsyncSock> {
    Ok(sock)
}

/// Polls `sock`'s readiness for `interest` (readable or writable).
fn poll_ready<'a>(
    sock: &'a AsyncSock,
    cx: &mut Context<'_>,
    interest: Interest,
) -> Poll<io::Result<ReadyGuard<'a>>> {
    if interest.is_readable() {
        sock.poll_read_ready(cx)
    } else {
        sock.poll_write_ready(cx)
    }
}

/// The peer's address of a registered socket (`None` once it is not connected).
pub fn peer_of(sock: &AsyncSock) -> Option<socket2::SockAddr> {
    #[cfg(unix)]
    let peer = sock.get_ref().peer_addr();
    #[cfg(windows)]
    let peer = socket2::SockRef::from(&sock.stream).peer_addr();
    peer.ok()
}

/// Polls `sock` for `interest`, then runs `f` (a nonblocking syscall) until it does not
/// say `WouldBlock` (which clears the readiness, so the next poll waits). `f` also tells
/// whether the socket is now drained or full (a short read or write): its readiness is
/// cleared too, sparing a syscall that would only say `WouldBlock`.
pub fn poll_io<R>(
    sock: &AsyncSock,
    cx: &mut Context<'_>,
    interest: Interest,
    mut f: impl FnMut() -> io::Result<(R, bool)>,
) -> Poll<io::Result<R>> {
    loop {
        let mut guard = std::task::ready!(poll_ready(sock, cx, interest))?;
        match guard.try_io(|_| f()) {
            Ok(Ok((r, drained))) => {
                if drained {
                    guard.clear_ready();
                }
                return Poll::Ready(Ok(r));
            }
            Ok(Err(e)) => return Poll::Ready(Err(e)),
            // `WouldBlock`: the readiness was cleared; poll again.
            Err(_) => continue,
        }
    }
}

/// Waits on the runtime until the nonblocking `connect` of `sock` is done; then takes its
/// result (`SO_ERROR`).
pub async fn connected(sock: socket2::Socket) -> std::io::Result<socket2::Socket> {
    let io = register(sock, tokio::io::Interest::WRITABLE)?;
    let _ = io.writable().await?;
    let sock = io.into_inner();
    #[cfg(windows)]
    let sock = sock?;
    match sock.take_error()? {
        Some(e) => Err(e),
        None => Ok(sock),
    }
}

/// Windows has no `AsyncFd`: a socket (connected, connecting or listening) is registered as
/// a tokio `TcpStream`, whose `ready` and `try_io` work the same way for our own syscalls
/// on its handle (mio's readable interest includes `AFD_POLL_ACCEPT`, so a listening
/// socket's readiness is its pending connections). The same API as Unix's `AsyncFd`, as far
/// as abio uses it.
#[cfg(windows)]
pub struct AsyncSock {
    stream: tokio::net::TcpStream,
}

#[cfg(windows)]
impl AsyncSock {
    /// Waits until the socket is ready for `interest`.
    pub async fn ready(&self, interest: tokio::io::Interest) -> std::io::Result<ReadyGuard<'_>> {
        self.stream.ready(interest).await?;
        Ok(ReadyGuard { io: self, interest })
    }

    /// Waits until the socket is writable.
    pub async fn writable(&self) -> std::io::Result<ReadyGuard<'_>> {
        self.ready(tokio::io::Interest::WRITABLE).await
    }

    /// Polls for readability, as `AsyncFd::poll_read_ready`.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyGuard<'_>>> {
        let interest = Interest::READABLE;
        self.stream
            .poll_read_ready(cx)
            .map_ok(|()| ReadyGuard { io: self, interest })
    }

    /// Polls for writability, as `AsyncFd::poll_write_ready`.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyGuard<'_>>> {
        let interest = Interest::WRITABLE;
        self.stream
            .poll_write_ready(cx)
            .map_ok(|()| ReadyGuard { io: self, interest })
    }

    /// The socket back, no longer registered.
    pub fn into_inner(self) -> std::io::Result<socket2::Socket> {
        self.stream.into_std().map(socket2::Socket::from)
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for AsyncSock {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        self.stream.as_raw_socket()
    }
}

/// What [`AsyncSock::ready`] gives: `try_io` runs a syscall, clearing the readiness when it
/// would block.
#[cfg(windows)]
pub struct ReadyGuard<'a> {
    io: &'a AsyncSock,
    interest: tokio::io::Interest,
}

/// `try_io`'s "it would block; the readiness was cleared".
#[cfg(windows)]
#[derive(Debug)]
pub struct TryIoError;

#[cfg(windows)]
impl<'a> ReadyGuard<'a> {
    /// Runs `f`; a `WouldBlock` clears the readiness (and re-arms the reactor) and is
    /// `Err(TryIoError)`, as `AsyncFdReadyGuard::try_io`.
    pub fn try_io<R>(
        &mut self,
        f: impl FnOnce(&'a AsyncSock) -> std::io::Result<R>,
    ) -> Result<std::io::Result<R>, TryIoError> {
        let io = self.io;
        match io.stream.try_io(self.interest, || f(io)) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(TryIoError),
            r => Ok(r),
        }
    }

    /// tokio keeps no readiness to clear after a short read or write on Windows.
    pub fn clear_ready(&mut self) {}
}

/// Registers `sock` with the runtime's reactor. On a runtime thread.
#[cfg(windows)]
pub fn register(
    sock: socket2::Socket,
    _interest: tokio::io::Interest,
) -> std::io::Result<AsyncSock> {
    let stream = tokio::net::TcpStream::from_std(std::net::TcpStream::from(sock))?;
    Ok(AsyncSock { stream })
}
