//! Stream sockets without an async runtime: the nonblocking syscalls abio's sockets make
//! (`sendmsg` with `MSG_NOSIGNAL`, `recv`, `sendfile`, `shutdown`, per platform), here, and
//! [`Reader`] ([`reader`]), which turns the received byte stream into what JS asked for:
//! chunks, exact reads and frames (docs/FORMAT.md). The addon's transport seam
//! (src/net/transport.rs) calls the syscalls, from the JS thread first and from tokio when a
//! call would block; every rule about the bytes lives here.

use std::fs::File;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::Shutdown;

use socket2::{Domain, SockAddr, Socket, Type};

/// A socket as the OS names it: a descriptor on Unix, a `SOCKET` on Windows.
#[cfg(unix)]
pub type RawSock = std::os::fd::RawFd;
/// A socket as the OS names it: a descriptor on Unix, a `SOCKET` on Windows.
#[cfg(windows)]
pub type RawSock = std::os::windows::io::RawSocket;

/// The [`RawSock`] of a socket (a `socket2::Socket`, a tokio stream, …).
#[cfg(unix)]
pub fn raw_of(s: &impl std::os::fd::AsRawFd) -> RawSock {
    s.as_raw_fd()
}

/// The [`RawSock`] of a socket (a `socket2::Socket`, a tokio stream, …).
#[cfg(windows)]
pub fn raw_of(s: &impl std::os::windows::io::AsRawSocket) -> RawSock {
    s.as_raw_socket()
}

/// Runs `f` on a borrowed `socket2` view of `fd`, for the calls made through socket2 where
/// the platform lacks (or names differently) the libc calls the Linux paths make.
#[cfg(not(target_os = "linux"))]
fn with_sock<T>(fd: RawSock, f: impl FnOnce(&socket2::SockRef<'_>) -> T) -> T {
    #[cfg(unix)]
    // SAFETY: every function here takes a socket its caller keeps open for the call.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    #[cfg(windows)]
    // SAFETY: every function here takes a socket its caller keeps open for the call.
    let borrowed = unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(fd) };
    f(&socket2::SockRef::from(&borrowed))
}

/// `piece` as one buffer of a vectored send, and whether it is whole: on Windows a buffer
/// holds at most 4 GiB - 1 (`WSABUF`'s length is 32 bits), so a longer piece is cut there
/// and nothing may follow it in the same send.
pub fn io_slice(piece: &[u8]) -> (IoSlice<'_>, bool) {
    #[cfg(unix)]
    {
        (IoSlice::new(piece), true)
    }
    #[cfg(windows)]
    {
        let max = u32::MAX as usize;
        (
            IoSlice::new(&piece[..piece.len().min(max)]),
            piece.len() <= max,
        )
    }
}

/// Most buffers one `sendmsg` takes (Linux's `IOV_MAX`).
pub const IOV_MAX: usize = 1024;
/// Bytes received at a time into the read buffer, for small reads and frame headers.
/// Larger reads get their own exact allocation and are received straight into it.
pub const CHUNK: usize = 64 << 10;

#[cfg(unix)]
fn retry<T: PartialOrd + Default>(mut call: impl FnMut() -> T) -> io::Result<T> {
    loop {
        let r = call();
        if r >= T::default() {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `sendmsg` flags: never wait, and on Linux `MSG_NOSIGNAL`, so a closed peer is `EPIPE`,
/// never a `SIGPIPE`. Other Unixes (macOS) have no `MSG_NOSIGNAL`: every socket abio makes
/// or accepts has `SO_NOSIGPIPE` set instead (see [`stream_socket`], [`accept`]).
#[cfg(target_os = "linux")]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
#[cfg(all(unix, not(target_os = "linux")))]
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT;

/// Sends as much of `bufs` (at most [`IOV_MAX`] of them) as the socket takes now, with one
/// `sendmsg`; `MSG_NOSIGNAL`, so a closed peer is `EPIPE`, never a `SIGPIPE`. A full socket
/// is `WouldBlock`.
#[cfg(unix)]
pub fn send(fd: RawSock, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: a zeroed msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on Unix; sendmsg only reads through it.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(IOV_MAX) as _;
    // SAFETY: `msg` points at `bufs`, live for the call.
    retry(|| unsafe { libc::sendmsg(fd, &msg, SEND_FLAGS) }).map(|n| n as usize)
}

/// Sends as much of `bufs` (at most [`IOV_MAX`] of them) as the socket takes now
/// (`WSASend` on the nonblocking socket; no signals on Windows). A full socket is
/// `WouldBlock`.
#[cfg(windows)]
pub fn send(fd: RawSock, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    with_sock(fd, |s| s.send_vectored(&bufs[..bufs.len().min(IOV_MAX)]))
}

/// Receives into `buf` without waiting: `Ok(0)` is the end of the stream, an empty socket
/// `WouldBlock`. While our side is open (`ended_ours` false), a TCP connection that was
/// reset is `ECONNRESET` even when another call (a write) already took the error the kernel
/// reports once: a reset is not mistaken for the peer's clean end.
#[cfg(unix)]
pub fn recv(fd: RawSock, buf: &mut [MaybeUninit<u8>], ended_ours: bool) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length; recv writes at most that many bytes.
    let n = retry(|| unsafe {
        libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
    })?;
    if n == 0 && !buf.is_empty() && !ended_ours && was_reset(fd) {
        return Err(io::Error::from_raw_os_error(libc::ECONNRESET));
    }
    Ok(n as usize)
}

/// Receives into `buf` without waiting (the socket is nonblocking): `Ok(0)` is the end of
/// the stream, an empty socket `WouldBlock`. Windows reports a reset to every receive.
#[cfg(windows)]
pub fn recv(fd: RawSock, buf: &mut [MaybeUninit<u8>], _ended_ours: bool) -> io::Result<usize> {
    with_sock(fd, |s| s.recv(buf))
}

/// Whether `fd` is a TCP socket in state `CLOSE`. While our side is open, the peer's clean
/// end leaves it in `CLOSE_WAIT`: `CLOSE` means it was reset. (Once we have sent our FIN,
/// the peer's FIN also ends in `CLOSE`, so this tells nothing then.)
#[cfg(target_os = "linux")]
fn was_reset(fd: RawSock) -> bool {
    const TCP_CLOSE: u8 = 7;
    // `tcpi_state` is the first byte of `struct tcp_info`.
    let mut info = [0u8; 8];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    r == 0 && len > 0 && info[0] == TCP_CLOSE
}

/// No `TCP_INFO` outside Linux: a reset whose error a write already took reads as the
/// peer's end of the stream.
#[cfg(all(unix, not(target_os = "linux")))]
fn was_reset(_fd: RawSock) -> bool {
    false
}

/// Whether the peer ended the stream (`Ok(true)`) or bytes wait (`Ok(false)`), without
/// taking any; `WouldBlock` when neither.
#[cfg(unix)]
pub fn peek_end(fd: RawSock, ended_ours: bool) -> io::Result<bool> {
    let mut byte = 0u8;
    // SAFETY: one writable byte.
    retry(|| unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    })
    .and_then(|n| {
        if n == 0 && !ended_ours && was_reset(fd) {
            Err(io::Error::from_raw_os_error(libc::ECONNRESET))
        } else {
            Ok(n == 0)
        }
    })
}

/// Whether the peer ended the stream (`Ok(true)`) or bytes wait (`Ok(false)`), without
/// taking any; `WouldBlock` when neither.
#[cfg(windows)]
pub fn peek_end(fd: RawSock, _ended_ours: bool) -> io::Result<bool> {
    let mut byte = [MaybeUninit::<u8>::uninit()];
    with_sock(fd, |s| s.peek(&mut byte)).map(|n| n == 0)
}

/// Whether the socket takes bytes now (`poll` for `POLLOUT`, not waiting): `Ok(())` when
/// it does or has failed (the next send reports how), `WouldBlock` when it is full.
#[cfg(unix)]
pub fn poll_writable(fd: RawSock) -> io::Result<()> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    retry(|| unsafe { libc::poll(&mut p, 1, 0) })?;
    if p.revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0 {
        Ok(())
    } else {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// Whether the socket takes bytes now (`WSAPoll` for `POLLOUT`, not waiting): `Ok(())` when
/// it does or has failed (the next send reports how), `WouldBlock` when it is full.
#[cfg(windows)]
pub fn poll_writable(fd: RawSock) -> io::Result<()> {
    use windows_sys::Win32::Networking::WinSock as ws;
    let mut p = ws::WSAPOLLFD {
        fd: fd as ws::SOCKET,
        events: ws::POLLWRNORM,
        revents: 0,
    };
    // SAFETY: one valid WSAPOLLFD, no waiting.
    if unsafe { ws::WSAPoll(&mut p, 1, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if p.revents & (ws::POLLWRNORM | ws::POLLERR | ws::POLLHUP) != 0 {
        Ok(())
    } else {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// Bytes received and not read yet (`FIONREAD`); 0 when unknown.
#[cfg(unix)]
pub fn available(fd: RawSock) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    if r < 0 {
        0
    } else {
        n.max(0) as usize
    }
}

/// Bytes received and not read yet (`FIONREAD`); 0 when unknown.
#[cfg(windows)]
pub fn available(fd: RawSock) -> usize {
    use windows_sys::Win32::Networking::WinSock as ws;
    let mut n: u32 = 0;
    // SAFETY: FIONREAD writes one u32.
    let r = unsafe { ws::ioctlsocket(fd as ws::SOCKET, ws::FIONREAD, &mut n) };
    if r != 0 {
        0
    } else {
        n as usize
    }
}

/// `sendfile(2)`: up to `count` bytes of `file` from `*offset` into the socket, advancing
/// `*offset`. `Ok(0)` means the file ended; a full socket is `WouldBlock`.
#[cfg(target_os = "linux")]
pub fn sendfile(sock: RawSock, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut off = *offset as libc::off_t;
    // SAFETY: plain syscall; `off` is a live local it updates.
    let n = retry(|| unsafe { libc::sendfile(sock, file.as_raw_fd(), &mut off, count) })?;
    *offset = off as u64;
    Ok(n as usize)
}

/// Bytes of the file [`sendfile`] reads at a time where it copies.
#[cfg(not(target_os = "linux"))]
const SENDFILE_PIECE: usize = 256 << 10;

/// [`sendfile`] without Linux's `sendfile(2)` (macOS's has another contract, Windows's
/// `TransmitFile` wants overlapped I/O): reads a piece of `file` at `*offset` into a buffer
/// and [`send`]s it, advancing `*offset` by what the socket took (a piece it did not take
/// is read again next time). `Ok(0)` means the file ended; a full socket is `WouldBlock`.
#[cfg(not(target_os = "linux"))]
pub fn sendfile(sock: RawSock, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
    thread_local! {
        static PIECE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    PIECE.with_borrow_mut(|buf| {
        buf.resize(SENDFILE_PIECE, 0);
        let want = count.min(SENDFILE_PIECE);
        let n = loop {
            match crate::fs::pread(file, &mut buf[..want], *offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == 0 {
            return Ok(0);
        }
        let sent = send(sock, &[IoSlice::new(&buf[..n])])?;
        *offset += sent as u64;
        Ok(sent)
    })
}

/// `shutdown(2)`: `Write` (end: the peer reads the end of the stream) or `Both`.
#[cfg(unix)]
pub fn shutdown(fd: RawSock, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: plain syscall.
    retry(|| unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// `shutdown`: `Write` (end: the peer reads the end of the stream) or `Both`.
#[cfg(windows)]
pub fn shutdown(fd: RawSock, how: Shutdown) -> io::Result<()> {
    with_sock(fd, |s| s.shutdown(how))
}

/// A new nonblocking, close-on-exec stream socket (TCP, or Unix where `domain` says so).
#[cfg(target_os = "linux")]
pub fn stream_socket(domain: Domain) -> io::Result<Socket> {
    let protocol = (domain != Domain::UNIX).then_some(socket2::Protocol::TCP);
    Socket::new(domain, Type::STREAM.nonblocking(), protocol)
}

/// A new nonblocking, close-on-exec stream socket (TCP, or Unix where `domain` says so).
/// No `SOCK_NONBLOCK` here: set afterwards. On macOS socket2 sets `SO_NOSIGPIPE` on every
/// socket it makes (there is no `MSG_NOSIGNAL`); said again here so it never depends on it.
#[cfg(not(target_os = "linux"))]
pub fn stream_socket(domain: Domain) -> io::Result<Socket> {
    let protocol = (domain != Domain::UNIX).then_some(socket2::Protocol::TCP);
    let sock = Socket::new(domain, Type::STREAM, protocol)?;
    sock.set_nonblocking(true)?;
    #[cfg(target_vendor = "apple")]
    sock.set_nosigpipe(true)?;
    Ok(sock)
}

/// Whether a nonblocking `connect` that returned `e` is under way (`EINPROGRESS`; Windows
/// says `WSAEWOULDBLOCK`).
pub fn connect_pending(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::EINPROGRESS)
    }
    #[cfg(windows)]
    {
        e.kind() == io::ErrorKind::WouldBlock
    }
}

/// Options of a listening TCP socket before `bind`: `SO_REUSEADDR` (a restarted server can
/// bind at once), `SO_REUSEPORT` when asked. On Windows `SO_REUSEADDR` would let another
/// socket take the port (libuv does not set it either), and there is no `SO_REUSEPORT`:
/// asking for it is `ENOTSUP`, as Node on platforms without it.
pub fn reuse(sock: &Socket, reuse_port: bool) -> io::Result<()> {
    #[cfg(unix)]
    {
        sock.set_reuse_address(true)?;
        if reuse_port {
            sock.set_reuse_port(true)?;
        }
        Ok(())
    }
    #[cfg(windows)]
    {
        let _ = sock;
        if reuse_port {
            return Err(crate::error::errno_error(libc::ENOTSUP));
        }
        Ok(())
    }
}

/// The address of a Unix domain socket at `path`. Windows: not supported (`ENOTSUP`).
pub fn unix_addr(path: &std::path::Path) -> io::Result<SockAddr> {
    #[cfg(unix)]
    {
        SockAddr::unix(path)
    }
    #[cfg(windows)]
    {
        let _ = path;
        Err(crate::error::errno_error(libc::ENOTSUP))
    }
}

/// The path of a Unix domain socket's address (`None` for others; always on Windows).
pub fn unix_path(addr: &SockAddr) -> Option<&std::path::Path> {
    #[cfg(unix)]
    {
        addr.as_pathname()
    }
    #[cfg(windows)]
    {
        let _ = addr;
        None
    }
}

/// Accepts one pending connection, nonblocking and close-on-exec (`accept4`).
#[cfg(target_os = "linux")]
pub fn accept(fd: RawSock) -> io::Result<Socket> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain syscall; a returned descriptor is ours to own.
    let r = unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `r` is a new descriptor nothing else owns.
    Ok(unsafe { Socket::from_raw_fd(r) })
}

/// Accepts one pending connection, nonblocking and close-on-exec: no `accept4` here, so
/// `accept` (socket2 sets close-on-exec, or no-inherit on Windows), then nonblocking; on
/// macOS `SO_NOSIGPIPE` too (inherited from the listener; said again, as for
/// [`stream_socket`]; a Unix socket may refuse it, which is harmless).
#[cfg(not(target_os = "linux"))]
pub fn accept(fd: RawSock) -> io::Result<Socket> {
    let (sock, _) = with_sock(fd, |s| s.accept())?;
    sock.set_nonblocking(true)?;
    #[cfg(target_vendor = "apple")]
    let _ = sock.set_nosigpipe(true);
    Ok(sock)
}

mod reader;
pub use reader::{Reader, Step, Want};
