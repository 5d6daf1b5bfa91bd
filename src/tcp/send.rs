//! What a socket sends: the queued items (writes, `sendFile`, `end`) in call order,
//! gathered into as few `sendmsg` calls as the socket allows ([`pump_writes`]), and the
//! tasks that wait for room: the [`writer`] (bulk writes, and every `sendFile`, from disk to
//! socket) and [`wait_writable`] (small writes, sent again from the JS thread).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use abio_core::error::errno_error;
use abio_core::net::{self, IOV_MAX};
use abio_core::{Cancel, Error as CoreError};
use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use tokio::io::Interest;

use super::conn::{Conn, Settle};
use super::{closed, would_block};
use crate::bytes::{Outgoing, SendPiece};
use crate::error::{AbioError, AbioResult};
use crate::net::transport::Transport;
use crate::net::{lock, ready, Failure, Io};
use crate::runtime::{woken_on_cancel, Deferred, Progress};

/// One outgoing item, in call order.
pub(super) enum Item {
    /// `write`/`writev`/`writeFrame`: `first` (a frame's header, and the bytes when they
    /// are small, copied), then `rest` (copied or held JS memory); `sent` bytes of `total`
    /// are gone.
    Bytes {
        first: Vec<u8>,
        rest: Vec<SendPiece>,
        sent: usize,
        total: usize,
    },
    /// `sendFile`.
    File(Box<FileItem>),
    /// `end`: `shutdown(SHUT_WR)` once everything before it is sent.
    End,
    /// A write refused when it was queued (after `end()`, or unreadable data): it fails
    /// in its turn, leaving the stream as it is.
    Refused(Option<AbioError>),
}

impl Item {
    pub(super) fn bytes(data: Outgoing) -> Item {
        Item::Bytes {
            total: data.total(),
            first: data.first,
            rest: data.rest,
            sent: 0,
        }
    }
}

pub(super) struct FileItem {
    pub(super) path: PathBuf,
    pub(super) offset: u64,
    pub(super) length: Option<u64>,
    pub(super) progress: Option<Arc<Progress>>,
    pub(super) cancel: Cancel,
}

/// Who learns that an outgoing item is done.
pub(super) enum Waiter {
    /// A write of `lib/net.js`: it holds the promises of its writes in call order, and
    /// learns how many settled through [`report_writes`] (no Node-API promise per write).
    Counted,
    /// A `sendFile` or `end`: its own promise.
    Promise(Deferred),
    /// The `end` abio makes itself (the peer ended): nobody awaits it.
    Nobody,
}

pub(super) struct Queued {
    pub(super) item: Item,
    pub(super) waiter: Waiter,
}

/// What a finished write resolves with.
pub(super) enum Sent {
    Unit,
    Count(u64),
}

impl ToNapiValue for Sent {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY: forwarded from our caller's contract (JS thread).
        unsafe {
            match val {
                Sent::Unit => <()>::to_napi_value(env, ()),
                Sent::Count(n) => f64::to_napi_value(env, n as f64),
            }
        }
    }
}

/// How far [`pump_writes`] got.
pub(super) enum Flow {
    /// Everything was sent.
    Idle,
    /// The socket is full.
    Blocked,
    /// A `sendFile` is next: the writer task does it.
    File,
}

/// Sends the batch's leading writes with as few `sendmsg` calls as the socket allows,
/// moving finished ones to `done`; stops at a full socket or a `sendFile`.
pub(super) fn pump_writes(
    io: &Transport,
    fin_sent: &AtomicBool,
    batch: &mut VecDeque<Queued>,
    done: &mut Vec<Settle>,
) -> Result<Flow, Failure> {
    loop {
        match batch.front().map(|o| &o.item) {
            None => return Ok(Flow::Idle),
            Some(Item::File(_)) => return Ok(Flow::File),
            Some(Item::Refused(_)) => {
                let mut out = batch.pop_front().expect("front exists");
                let e = match &mut out.item {
                    Item::Refused(e) => e.take(),
                    _ => None,
                };
                done.push((out, Err(e.unwrap_or_else(|| closed("socket")))));
            }
            Some(Item::End) => {
                // Before the FIN leaves: from then on the peer's FIN may close the
                // connection, which reads must not take for a reset.
                fin_sent.store(true, Ordering::Release);
                match io.shutdown(Shutdown::Write) {
                    // TLS: `close_notify` waits for room; retried when writable.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flow::Blocked),
                    r => r.map_err(|e| Failure::os(&e, "shutdown"))?,
                }
                let out = batch.pop_front().expect("front exists");
                done.push((out, Ok(Sent::Unit)));
            }
            Some(Item::Bytes { .. }) => {
                let mut iov = Vec::new();
                gather(batch, &mut iov);
                let n = if iov.is_empty() {
                    0
                } else {
                    match io.send(&iov) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            return Ok(Flow::Blocked)
                        }
                        Err(e) => return Err(Failure::os(&e, "write")),
                    }
                };
                drop(iov);
                advance(batch, n, done);
            }
        }
    }
}

/// The unsent bytes of the batch's leading writes, as at most [`IOV_MAX`] buffers.
pub(super) fn gather<'a>(batch: &'a VecDeque<Queued>, iov: &mut Vec<IoSlice<'a>>) {
    for out in batch {
        let Item::Bytes {
            first, rest, sent, ..
        } = &out.item
        else {
            return;
        };
        let mut skip = *sent;
        for piece in std::iter::once(&first[..]).chain(rest.iter().map(SendPiece::as_ref)) {
            if skip >= piece.len() {
                skip -= piece.len();
                continue;
            }
            let (slice, whole) = net::io_slice(&piece[skip..]);
            iov.push(slice);
            skip = 0;
            if iov.len() == IOV_MAX || !whole {
                return;
            }
        }
    }
}

/// Accounts `n` sent bytes to the batch's leading writes; finished ones move to `done`.
pub(super) fn advance(batch: &mut VecDeque<Queued>, mut n: usize, done: &mut Vec<Settle>) {
    while let Some(Queued {
        item: Item::Bytes { sent, total, .. },
        ..
    }) = batch.front_mut()
    {
        let take = (*total - *sent).min(n);
        *sent += take;
        n -= take;
        if *sent < *total {
            break;
        }
        let out = batch.pop_front().expect("front exists");
        done.push((out, Ok(Sent::Unit)));
    }
}

/// The writer task: sends what the JS thread could not, in order, waiting for the socket
/// to take more; does every `sendFile`; picks up writes queued meanwhile; returns when the
/// queue is empty.
pub(super) async fn writer(conn: Arc<Conn>, io: Io, mut batch: VecDeque<Queued>) {
    loop {
        if batch.is_empty() {
            let mut w = lock(&conn.w);
            if w.queue.is_empty() {
                w.writer = false;
                return;
            }
            batch = std::mem::take(&mut w.queue);
        }
        let mut done = Vec::new();
        let flow = match ready(
            io.ready(Interest::WRITABLE),
            &conn.closing,
            &conn.closed,
            None,
        )
        .await
        {
            Err(e) => Err(e),
            Ok(mut guard) => match guard.try_io(|| {
                match pump_writes(&io, &conn.fin_sent, &mut batch, &mut done) {
                    Ok(Flow::Blocked) => Err(would_block()),
                    other => Ok(other),
                }
            }) {
                // Full: readiness was cleared; wait again.
                Err(_) => Ok(Flow::Blocked),
                Ok(Ok(flow)) => flow,
                Ok(Err(e)) => Err(Failure::os(&e, "write")),
            },
        };
        let flow = match flow {
            Ok(Flow::File) => send_file(&conn, &io, &mut batch, &mut done).await,
            other => other,
        };
        if let Err(failure) = flow {
            conn.fail_writes(std::mem::take(&mut batch), failure, &mut done);
            conn.post_writes(done);
            return;
        }
        conn.post_writes(done);
    }
}

/// Unsent bytes from which a full socket is refilled by the writer task (see `flush`).
pub(super) const BULK: usize = 1 << 20;

/// The unsent bytes of the writes in `batch`.
pub(super) fn queued_bytes(batch: &VecDeque<Queued>) -> usize {
    batch
        .iter()
        .map(|o| match &o.item {
            Item::Bytes { sent, total, .. } => total - sent,
            _ => 0,
        })
        .sum()
}

/// Waits until the socket takes bytes again (or closes), then has the JS thread flush.
pub(super) async fn wait_writable(conn: Arc<Conn>, io: Io) {
    loop {
        match ready(
            io.ready(Interest::WRITABLE),
            &conn.closing,
            &conn.closed,
            None,
        )
        .await
        {
            // Closed: the flush fails what is queued.
            Err(_) => break,
            // tokio's readiness may be stale (the JS thread's sends do not clear it): ask
            // the socket, and on "not yet" clear it and wait for the next edge.
            Ok(mut guard) => {
                if guard.try_io(|| io.poll_writable()).is_ok() {
                    break;
                }
            }
        }
    }
    drop(io);
    let me = conn.clone();
    conn.js.post(move |env| {
        lock(&me.w).waiting = false;
        me.flush(env);
    });
}

/// Sends the file of the `sendFile` at the front of `batch` with `sendfile(2)`: disk to
/// socket without passing through user space. A file that cannot be opened fails only its
/// own call (nothing was sent); a socket error fails the writes.
pub(super) async fn send_file(
    conn: &Arc<Conn>,
    io: &Transport,
    batch: &mut VecDeque<Queued>,
    done: &mut Vec<Settle>,
) -> Result<Flow, Failure> {
    let Some(Queued {
        item: Item::File(item),
        ..
    }) = batch.front()
    else {
        return Ok(Flow::Idle);
    };
    let finish = |batch: &mut VecDeque<Queued>, done: &mut Vec<Settle>, r: AbioResult<Sent>| {
        let out = batch.pop_front().expect("front exists");
        done.push((out, r));
        Ok(Flow::Idle)
    };
    let opened = std::fs::File::open(&item.path)
        .map_err(|e| (e, "open"))
        .and_then(|f| f.metadata().map(|m| (f, m)).map_err(|e| (e, "fstat")))
        .and_then(|(f, m)| match m {
            m if m.is_file() => Ok((f, m.len())),
            m if m.is_dir() => Err((errno_error(libc::EISDIR), "read")),
            _ => Err((errno_error(libc::EINVAL), "sendfile")),
        });
    let (file, size) = match opened {
        Ok(v) => v,
        Err((e, syscall)) => {
            let err = CoreError::io(e, syscall, Some(&item.path)).into();
            return finish(batch, done, Err(err));
        }
    };
    let start = item.offset.min(size);
    let total = item.length.map_or(size - start, |l| l.min(size - start));
    let (cancel, progress) = (item.cancel.clone(), item.progress.clone());
    let aborted = woken_on_cancel(&cancel);
    let mut offset = start;
    loop {
        let sent = offset - start;
        if let Some(p) = &progress {
            if sent > 0 || total == 0 {
                p.report(&conn.js, sent, total);
            }
        }
        if sent == total {
            return finish(batch, done, Ok(Sent::Count(sent)));
        }
        if cancel.is_cancelled() {
            return finish(batch, done, Err(CoreError::Aborted.into()));
        }
        let writable = io.ready(Interest::WRITABLE);
        let mut guard = match ready(writable, &conn.closing, &conn.closed, Some(&aborted)).await {
            Ok(g) => g,
            Err(Failure::Aborted) => return finish(batch, done, Err(CoreError::Aborted.into())),
            Err(failure) => return Err(failure),
        };
        let chunk = (total - sent).min(16 << 20) as usize;
        match guard.try_io(|| io.sendfile(&file, &mut offset, chunk)) {
            Err(_) => {}
            // The file shrank under us: report what was sent.
            Ok(Ok(0)) => return finish(batch, done, Ok(Sent::Count(sent))),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(Failure::os(&e, "sendfile")),
        }
    }
}
