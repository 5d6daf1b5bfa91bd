//! A TLS session standing in for a plain socket behind the transport seam
//! (src/net/transport.rs): the same nonblocking calls (`recv`, `send`, `sendfile`,
//! `shutdown`, the probes), each returning `WouldBlock` exactly when the plain socket's
//! would leave the caller waiting for readiness.
//!
//! rustls's buffered [`Connection`] does the record layer; this module moves its records
//! through the descriptor with abio's own nonblocking syscalls (`abio_core::net`). The
//! session sits behind a mutex because a connection's reader and writer run on different
//! tasks (or the JS thread), as they do on a plain socket; each call holds it for one
//! syscall and the crypto of at most [`SEND_CAP`] bytes.
//!
//! Two contracts differ from a plain socket, and the seam's users keep both:
//! - **A full socket after encryption.** `send` encrypts up to [`SEND_CAP`] bytes of the
//!   front of `bufs`, then writes the records. When the socket takes only part of them, the
//!   rest waits in the session, the call says `WouldBlock`, and the caller retries with the
//!   same bytes in front (as it does on a plain socket): the retry flushes the waiting
//!   records and reports the bytes they carried, without encrypting them again. `sendfile`
//!   does the same with the file's offset.
//! - **Plaintext that waits in the session.** A record decrypts whole, so `recv` into a
//!   small buffer can leave plaintext in the session while the socket is drained: no
//!   readiness event will come for it. [`Session::buffered`] says so; the seam's `ready`
//!   answers at once then, and a reader that stops before `WouldBlock` asks it.

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::sync::Mutex;

use std::sync::MutexGuard;

use abio_core::error::errno_error;
use abio_core::net::{self, RawSock};
use abio_core::tls::rustls::{self, Connection};

/// Plaintext encrypted per `send`/`sendfile` call at most: large enough that the syscalls
/// and locking are a small share of the work, small enough to bound what waits in the
/// session for a slow peer.
pub(crate) const SEND_CAP: usize = 256 << 10;

/// Bytes of a file read and encrypted per `sendfile` call.
const FILE_PIECE: usize = 64 << 10;

/// Bytes received from the socket per `recv(2)`: rustls's own `read_tls` reads at most
/// 4 KiB a call, so records are received here in one syscall and fed to it from memory.
const RECV_CHUNK: usize = 64 << 10;

/// A TLS session over a connected, nonblocking socket whose handshake is done.
pub(crate) struct Session {
    state: Mutex<State>,
}

struct State {
    conn: Connection,
    /// Plaintext bytes the last `send`/`sendfile` encrypted whose records have not all gone
    /// out: reported to the retry that flushes them.
    owed: usize,
    /// Whether `owed` came from `sendfile`: a `send` after a `sendfile` that was given up
    /// (aborted) must not be told those bytes were its own, nor the other way round.
    owed_by_file: bool,
    /// Decrypted plaintext waiting to be received.
    plain: usize,
    /// Received bytes not yet fed to rustls (`inbuf[in_pos..]`): rustls takes no more while
    /// its plaintext buffer is full.
    inbuf: Vec<u8>,
    in_pos: usize,
    /// The peer ended the stream (`close_notify`, or the transport's end).
    eof: bool,
    /// `close_notify` was queued (by `shutdown`).
    closed_ours: bool,
}

/// The descriptor as `Read`/`Write` for rustls's `read_tls`/`write_tls`.
struct Raw {
    fd: RawSock,
    fin_sent: bool,
}

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and recv only
        // writes into it (initialised bytes stay initialised).
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        net::recv(self.fd, uninit, self.fin_sent)
    }
}

impl Write for Raw {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        net::send(self.fd, &[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        net::send(self.fd, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A rustls failure as an `io::Error` (kind `InvalidData`, the rustls error inside): the
/// error maker (src/error.rs) finds it there and gives Node's code.
pub(crate) fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The rustls failure an `io::Error` of [`tls_error`] carries.
pub(crate) fn tls_failure(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

impl State {
    /// Writes waiting records until none wait (`Ok`) or the socket is full (`WouldBlock`).
    fn flush(&mut self, fd: RawSock) -> io::Result<()> {
        let mut raw = Raw {
            fd,
            fin_sent: false,
        };
        while self.conn.wants_write() {
            self.conn.write_tls(&mut raw)?;
        }
        Ok(())
    }

    /// Received bytes wait that rustls has not taken yet.
    fn unfed(&self) -> bool {
        self.in_pos < self.inbuf.len()
    }

    /// Decrypts what came: the bytes received earlier that rustls did not take yet, else
    /// what the socket holds now (one `recv`), or its end; `WouldBlock` when it is empty.
    fn fill(&mut self, fd: RawSock, fin_sent: bool) -> io::Result<()> {
        let mut ended = false;
        if !self.unfed() {
            self.inbuf.clear();
            self.in_pos = 0;
            self.inbuf.reserve(RECV_CHUNK);
            let n = match net::recv(fd, self.inbuf.spare_capacity_mut(), fin_sent) {
                Ok(n) => n,
                Err(e) => {
                    // Drained (or failed): an idle connection keeps no receive buffer (a
                    // thousand open ones would otherwise hold 64 KiB each).
                    self.inbuf = Vec::new();
                    return Err(e);
                }
            };
            // SAFETY: recv initialised the first `n` bytes of the spare capacity.
            unsafe { self.inbuf.set_len(n) };
            ended = n == 0;
        }
        if ended {
            // rustls learns of the transport's end from a read of nothing.
            self.conn.read_tls(&mut io::empty())?;
        }
        // Feed rustls from memory until it holds plaintext (or takes no more).
        while self.unfed() {
            let mut rest = &self.inbuf[self.in_pos..];
            match self.conn.read_tls(&mut rest) {
                Ok(n) => self.in_pos += n,
                // Its plaintext buffer is full: the rest waits here.
                Err(_) => break,
            }
            match self.conn.process_new_packets() {
                Ok(state) if state.plaintext_bytes_to_read() > 0 => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let state = match self.conn.process_new_packets() {
            Ok(state) => state,
            Err(e) => {
                // rustls queued an alert for the peer: a best effort to send it.
                let _ = self.flush(fd);
                return Err(tls_error(e));
            }
        };
        self.plain = state.plaintext_bytes_to_read();
        if (ended || state.peer_has_closed()) && !self.unfed() {
            self.eof = true;
        }
        // Records the peer's ones call for (a key update, an alert): best effort; a
        // writer flushes the rest before its next bytes.
        if state.tls_bytes_to_write() > 0 {
            match self.flush(fd) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes the records just made of `n` bytes of the caller's: `Ok(n)` when they all went
    /// out, else `WouldBlock` with `n` owed to the retry.
    fn seal(&mut self, fd: RawSock, n: usize, by_file: bool) -> io::Result<usize> {
        match self.flush(fd) {
            Ok(()) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.owed = n;
                self.owed_by_file = by_file;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Before new bytes: flushes waiting records; `Some(n)` when they carried `n` bytes of
    /// the caller's kind (`sendfile` or not), to report now.
    fn settle_owed(&mut self, fd: RawSock, by_file: bool) -> io::Result<Option<usize>> {
        self.flush(fd)?;
        let n = std::mem::take(&mut self.owed);
        Ok((n > 0 && self.owed_by_file == by_file).then_some(n))
    }
}

impl Session {
    /// A session whose handshake is done ([`handshake_step`] said [`Step::Done`]).
    pub(crate) fn new(mut conn: Connection) -> Session {
        // rustls encrypts at most its buffer limit per write (64 KiB by default): a `send` may
        // take up to SEND_CAP.
        conn.set_buffer_limit(Some(SEND_CAP));
        // The handshake's last read may have brought application data too (a client's
        // first request right behind its Finished): it waits decrypted already.
        let (plain, eof) = match conn.process_new_packets() {
            Ok(state) => (state.plaintext_bytes_to_read(), state.peer_has_closed()),
            Err(_) => (0, true),
        };
        Session {
            state: Mutex::new(State {
                conn,
                owed: 0,
                owed_by_file: false,
                plain,
                inbuf: Vec::new(),
                in_pos: 0,
                eof,
                closed_ours: false,
            }),
        }
    }

    /// The state, also after a panic elsewhere poisoned the lock (every critical section
    /// leaves it consistent: rustls's own calls, then a few counters).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether decrypted bytes (or the peer's end) wait to be received: then a `recv` needs
    /// no readiness.
    pub(crate) fn buffered(&self) -> bool {
        let st = self.state();
        st.plain > 0 || st.eof || st.unfed()
    }

    /// Bytes waiting in the session: decrypted, and received but not yet decrypted (a hint).
    pub(crate) fn available(&self) -> usize {
        let st = self.state();
        st.plain + (st.inbuf.len() - st.in_pos)
    }

    /// Receives plaintext into `buf` without waiting: `Ok(0)` is the end of the stream.
    pub(crate) fn recv(
        &self,
        fd: RawSock,
        buf: &mut [MaybeUninit<u8>],
        fin_sent: bool,
    ) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.state();
        // Fills `buf` as far as what was received allows (rustls decrypts about a record
        // ahead); a second `recv(2)` only when nothing came of the first.
        let mut n = 0;
        loop {
            if st.plain > 0 {
                let take = st.plain.min(buf.len() - n);
                let out = &mut buf[n..n + take];
                out.fill(MaybeUninit::new(0));
                // SAFETY: these `take` bytes were just initialised.
                let out = unsafe { &mut *(out as *mut [MaybeUninit<u8>] as *mut [u8]) };
                let got = st.conn.reader().read(out)?;
                st.plain -= got;
                n += got;
                if n == buf.len() {
                    return Ok(n);
                }
                continue;
            }
            if st.eof || (n > 0 && !st.unfed()) {
                return Ok(n);
            }
            match st.fill(fd, fin_sent) {
                Ok(()) => {}
                Err(_) if n > 0 => return Ok(n),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the peer ended the stream (`Ok(true)`) or plaintext waits (`Ok(false)`),
    /// taking none; `WouldBlock` when neither.
    pub(crate) fn peek_end(&self, fd: RawSock, fin_sent: bool) -> io::Result<bool> {
        let mut st = self.state();
        loop {
            if st.plain > 0 {
                return Ok(false);
            }
            if st.eof {
                return Ok(true);
            }
            st.fill(fd, fin_sent)?;
        }
    }

    /// Encrypts and sends the front of `bufs` (at most [`SEND_CAP`] bytes), under the
    /// retry contract of the module doc.
    pub(crate) fn send(&self, fd: RawSock, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut st = self.state();
        if let Some(n) = st.settle_owed(fd, false)? {
            return Ok(n);
        }
        // The front of `bufs`, up to SEND_CAP, in one vectored write: rustls fills whole
        // records across the slices (a record per slice would cost 22 bytes and an AEAD
        // call per small message).
        let mut front: Vec<IoSlice<'_>> = Vec::with_capacity(bufs.len().min(net::IOV_MAX));
        let mut total = 0;
        for b in bufs.iter().take(net::IOV_MAX) {
            let want = b.len().min(SEND_CAP - total);
            front.push(IoSlice::new(&b[..want]));
            total += want;
            if total == SEND_CAP {
                break;
            }
        }
        let taken = st.conn.writer().write_vectored(&front)?;
        st.seal(fd, taken, false)
    }

    /// Reads up to `count` bytes of `file` at `*offset` (at most [`SEND_CAP`]), encrypts and
    /// sends them, advancing `*offset` by what is reported: the retry contract again.
    /// `Ok(0)`: the file ended.
    pub(crate) fn sendfile(
        &self,
        fd: RawSock,
        file: &File,
        offset: &mut u64,
        count: usize,
    ) -> io::Result<usize> {
        thread_local! {
            static PIECE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        if let Some(n) = self.state().settle_owed(fd, true)? {
            *offset += n as u64;
            return Ok(n);
        }
        PIECE.with_borrow_mut(|piece| {
            piece.resize(FILE_PIECE, 0);
            let want = count.min(FILE_PIECE);
            // Read outside the lock: the disk may be slow, the reader must not wait on it.
            let n = loop {
                match abio_core::fs::pread(file, &mut piece[..want], *offset) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            if n == 0 {
                return Ok(0);
            }
            let mut st = self.state();
            st.conn.writer().write_all(&piece[..n])?;
            let n = st.seal(fd, n, true)?;
            *offset += n as u64;
            Ok(n)
        })
    }

    /// Writes the records that wait: `Ok(())` once none do, `WouldBlock` while the socket is
    /// full.
    pub(crate) fn flush(&self, fd: RawSock) -> io::Result<()> {
        self.state().flush(fd)
    }

    /// `Ok(())` when nothing waits in the session and the socket takes bytes now.
    pub(crate) fn poll_writable(&self, fd: RawSock) -> io::Result<()> {
        self.state().flush(fd)?;
        net::poll_writable(fd)
    }

    /// Sends `close_notify` (once), then, once every record is out, ends the socket's
    /// direction(s). `Write` says `WouldBlock` while records wait (retry when writable);
    /// `Both` is a best effort.
    pub(crate) fn shutdown(&self, fd: RawSock, how: Shutdown) -> io::Result<()> {
        let mut st = self.state();
        if !st.closed_ours {
            st.closed_ours = true;
            st.conn.send_close_notify();
        }
        match st.flush(fd) {
            Err(e) if how == Shutdown::Write => return Err(e),
            _ => {}
        }
        net::shutdown(fd, how)
    }

    /// Whether records wait to go out (the handshake's, or a cut send's).
    pub(crate) fn wants_write(&self) -> bool {
        self.state().conn.wants_write()
    }

    /// The protocol (`TLSv1.3`, `TLSv1.2`) and the ALPN protocol agreed.
    pub(crate) fn describe(&self) -> (Option<&'static str>, Option<String>) {
        let st = self.state();
        let version = st.conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => "unknown",
        });
        let alpn = st
            .conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        (version, alpn)
    }
}

/// One step of a handshake over `fd`: writes what waits, else reads what came. `Ok(true)`
/// once the handshake is done and nothing waits to go out; `WouldBlock` (with `Interest` of
/// what to wait for) otherwise.
pub(crate) fn handshake_step(conn: &mut Connection, fd: RawSock) -> io::Result<Step> {
    let mut raw = Raw {
        fd,
        fin_sent: false,
    };
    if conn.wants_write() {
        return match conn.write_tls(&mut raw) {
            Ok(_) => Ok(Step::Again),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Writable),
            Err(e) => Err(e),
        };
    }
    if !conn.is_handshaking() {
        return Ok(Step::Done);
    }
    match conn.read_tls(&mut raw) {
        // The peer left before the handshake was done: Node's `ECONNRESET` ("Client network
        // socket disconnected before secure TLS connection was established").
        Ok(0) => Err(errno_error(libc::ECONNRESET)),
        Ok(_) => match conn.process_new_packets() {
            Ok(_) => Ok(Step::Again),
            Err(e) => {
                let mut raw = Raw {
                    fd,
                    fin_sent: false,
                };
                while conn.wants_write() && conn.write_tls(&mut raw).is_ok() {}
                Err(tls_error(e))
            }
        },
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Readable),
        Err(e) => Err(e),
    }
}

/// What a handshake waits for next.
pub(crate) enum Step {
    /// Call again now.
    Again,
    /// The socket must become readable.
    Readable,
    /// The socket must become writable.
    Writable,
    /// The handshake is done.
    Done,
}
