//! TCP and Unix domain sockets (design.md section 6): `connect`, `listen`, and the
//! `Socket`'s writes, `sendFile`, reads and frames.
//!
//! Each call first tries its syscall on the JS thread without waiting (`sendmsg` with
//! `MSG_DONTWAIT | MSG_NOSIGNAL`, `recv` with `MSG_DONTWAIT`): a write the kernel takes at
//! once, or a read whose bytes are already there, settles with no thread hop. What would
//! block waits on tokio and comes back through [`Js::post`]: the reader task completes
//! reads; a full socket is refilled by the writer task for bulk transfers (and every
//! `sendFile`), or by the JS thread once a task saw it writable for small writes.
//!
//! `lib/net.js` gathers the writes of a microtask turn and hands them over in one
//! [`NativeSocket::write_batch`] call; they queue in call order, leave in as few `sendmsg`
//! calls as the socket allows (up to 1024 buffers each, never concatenated), and are
//! settled in order through [`report_writes`]: one callback for many plain JS promises,
//! no Node-API promise per write. The byte rules (chunks, exact reads, frames) are
//! [`abio_core::net::Reader`]'s. Dialing (hosts, Unix paths, Node-shaped errors) is
//! src/net/dial.rs, shared with the HTTP and WebSocket clients.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abio_core::error::{errno_error, errno_of};
use abio_core::net::{self, Reader, Step, Want, IOV_MAX};
use abio_core::{frame, Cancel, Error as CoreError};
use napi::bindgen_prelude::{ClassInstance, FnArgs, Function, FunctionRef, ToNapiValue};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use socket2::Socket;
use tokio::io::Interest;
use tokio::sync::Notify;

use crate::bytes::{OutBytes, Outgoing, SendPiece, WriteList};
use crate::cancel::{cancel_of, CancelToken};
use crate::error::{error_value, AbioError, AbioResult};
use crate::net::dial::{open, target, Target};
use crate::net::listen::{listening, Bound, Listening};
use crate::net::transport::Transport;
use crate::net::{describe, lock, ready, Failure, Io};
use crate::runtime::{net as rt, woken_on_cancel, Deferred, Js, KeepAlive, Progress, Promise};

fn closed(what: &'static str) -> AbioError {
    CoreError::Closed(what).into()
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

// ---------------------------------------------------------------------------------------
// The connection

/// One outgoing item, in call order.
enum Job {
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
    File(Box<FileJob>),
    /// `end`: `shutdown(SHUT_WR)` once everything before it is sent.
    End,
    /// A write refused when it was queued (after `end()`, or unreadable data): it fails
    /// in its turn, leaving the stream as it is.
    Refused(Option<AbioError>),
}

impl Job {
    fn bytes(data: Outgoing) -> Job {
        Job::Bytes {
            total: data.total(),
            first: data.first,
            rest: data.rest,
            sent: 0,
        }
    }
}

struct FileJob {
    path: PathBuf,
    offset: u64,
    length: Option<u64>,
    progress: Option<Arc<Progress>>,
    cancel: Cancel,
}

/// Who learns that an outgoing item is done.
enum Waiter {
    /// A write of `lib/net.js`: it holds the promises of its writes in call order, and
    /// learns how many settled through [`report_writes`] (no Node-API promise per write).
    Counted,
    /// A `sendFile` or `end`: its own promise.
    Promise(Deferred),
    /// The `end` abio makes itself (the peer ended): nobody awaits it.
    Nobody,
}

struct Out {
    job: Job,
    waiter: Waiter,
}

/// What a finished write resolves with.
enum Sent {
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

/// A write to settle on the JS thread, where its held JS memory is released too.
type Settle = (Out, AbioResult<Sent>);

#[derive(Default)]
struct Writes {
    queue: VecDeque<Out>,
    /// The writer task owns the items it took from `queue`.
    writer: bool,
    /// The socket was full: a task waits until it is writable, then the JS thread sends.
    waiting: bool,
    /// `end()` was called: later writes are refused.
    ended: bool,
}

#[derive(Default)]
struct Reads {
    reader: Reader,
    ops: VecDeque<(Want, Deferred)>,
    /// The reader task runs.
    task: bool,
}

struct Addresses {
    local: String,
    local_port: u16,
    remote: String,
    remote_port: u16,
    family: &'static str,
}

/// A connected socket, shared by its JS object and its tasks.
struct Conn {
    /// How `lib/net.js` knows this socket in [`report_writes`].
    id: u32,
    /// `None` once closed or finished; taken on the JS thread only.
    io: Mutex<Option<Io>>,
    js: Js,
    allow_half_open: bool,
    keep: KeepAlive,
    /// No more I/O: closed by the user, or finished (both directions ended, or failed).
    closed: AtomicBool,
    /// `close()` was called: pending and later calls reject with `ABIO_ERR_CLOSED`.
    user_closed: AtomicBool,
    /// Our side was shut down for writing (`end` done) or writing failed.
    write_done: AtomicBool,
    /// Our FIN is (about to be) sent: the peer's FIN may now close the connection, which
    /// reads must not take for a reset (see [`net::recv`]).
    fin_sent: AtomicBool,
    /// The errno a write failed with (a reset): reads after the socket finished report it,
    /// since the kernel reports a socket error only once.
    failed_with: Mutex<Option<i32>>,
    closing: Notify,
    w: Mutex<Writes>,
    r: Mutex<Reads>,
    addresses: Addresses,
}

impl Conn {
    /// Registers a connected socket with the runtime. On a runtime thread.
    fn new(sock: Socket, js: Js, allow_half_open: bool) -> io::Result<Arc<Conn>> {
        let (local, local_port, _) = describe(sock.local_addr().ok());
        let (remote, remote_port, family) = describe(sock.peer_addr().ok());
        let io = Arc::new(Transport::new(sock)?);
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        Ok(Arc::new(Conn {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            io: Mutex::new(Some(io)),
            js,
            allow_half_open,
            keep: KeepAlive::default(),
            closed: AtomicBool::new(false),
            user_closed: AtomicBool::new(false),
            write_done: AtomicBool::new(false),
            failed_with: Mutex::new(None),
            fin_sent: AtomicBool::new(false),
            closing: Notify::new(),
            w: Mutex::default(),
            r: Mutex::default(),
            addresses: Addresses {
                local,
                local_port,
                remote,
                remote_port,
                family,
            },
        }))
    }

    fn io(&self) -> Option<Io> {
        lock(&self.io).clone()
    }

    /// The transport while the socket is neither closed nor finished.
    fn live(&self) -> Option<Io> {
        if self.closed.load(Ordering::Acquire) {
            None
        } else {
            self.io()
        }
    }

    /// Hands a new connection to JS: it keeps the loop alive, and a reader watches for
    /// the peer's end (so `allowHalfOpen: false` can answer it). JS thread.
    fn start(self: &Arc<Self>, env: &Env) -> NativeSocket {
        self.keep.set(env, true);
        lock(&self.r).task = true;
        if let Some(io) = self.io() {
            self.js.spawn(reader(self.clone(), io));
        }
        NativeSocket { conn: self.clone() }
    }

    /// Both directions are done, or failed: release the loop and the descriptor (tasks
    /// still running hold their own handle until they return). JS thread.
    fn finish(&self, env: &Env) {
        self.closed.store(true, Ordering::Release);
        self.closing.notify_waiters();
        self.keep.set(env, false);
        let io = lock(&self.io).take();
        drop(io);
    }

    /// Whether the stream failed (a reset) as a peek or a write saw it.
    fn reset(&self) -> bool {
        lock(&self.failed_with).is_some()
    }

    /// The error a failed write reports: `ABIO_ERR_CLOSED` after `close()`, whatever the
    /// OS said then (the shutdown made it fail); the reset that finished the socket when
    /// the peer's failure did.
    fn error(&self, f: Failure) -> AbioError {
        let user_closed = self.user_closed.load(Ordering::Acquire);
        match f {
            Failure::Aborted => CoreError::Aborted.into(),
            _ if user_closed => closed("socket"),
            Failure::Os(errno, syscall) => CoreError::net(errno_error(errno), syscall).into(),
            Failure::Closed => match *lock(&self.failed_with) {
                Some(errno) => CoreError::net(errno_error(errno), "write").into(),
                None => closed("socket"),
            },
        }
    }

    // --- writes ---

    /// Queues a `sendFile` or `end` with its own promise, and sends what it can.
    fn push(self: &Arc<Self>, env: &Env, job: Job) -> napi::Result<Promise> {
        let (done, promise) = Deferred::new(env)?;
        match self.enqueue(job, Waiter::Promise(done)) {
            Err((e, Waiter::Promise(done))) => done.settle::<()>(env, Err(e)),
            _ => self.flush(env),
        }
        Ok(promise)
    }

    /// Queues `job`, or refuses it (closed, or ended) and returns its waiter.
    fn enqueue(&self, job: Job, waiter: Waiter) -> Result<(), (AbioError, Waiter)> {
        if self.closed.load(Ordering::Acquire) {
            return Err((closed("socket"), waiter));
        }
        let mut w = lock(&self.w);
        if w.ended {
            return Err((closed("socket's writable side"), waiter));
        }
        if let Job::End = job {
            w.ended = true;
        }
        w.queue.push_back(Out { job, waiter });
        Ok(())
    }

    /// Queues the writes `lib/net.js` gathered in one microtask turn (frames when
    /// `framed`), in order, and sends what the socket takes now. Each is settled through
    /// [`report_writes`], in order, also when refused. JS thread.
    fn write_batch(
        self: &Arc<Self>,
        env: &Env,
        list: &WriteList,
        framed: bool,
    ) -> napi::Result<()> {
        let head = if framed { frame::HEADER_LEN } else { 0 };
        let writes = list.parse(head)?;
        let mut w = lock(&self.w);
        let ended = w.ended;
        for write in writes {
            let job = match write {
                Err(e) => Job::Refused(Some(AbioError::InvalidArg(e.reason))),
                Ok(_) if ended => Job::Refused(Some(closed("socket's writable side"))),
                Ok(mut data) => match framed.then(|| frame::header(data.len as u64)) {
                    Some(Err(e)) => Job::Refused(Some(e.into())),
                    Some(Ok(h)) => {
                        data.head_mut().copy_from_slice(&h);
                        Job::bytes(data)
                    }
                    None => Job::bytes(data),
                },
            };
            w.queue.push_back(Out {
                job,
                waiter: Waiter::Counted,
            });
        }
        drop(w);
        self.flush(env);
        Ok(())
    }

    /// Sends what is queued from the JS thread, as far as the socket takes it now. When it
    /// is full, small writes wait here for [`wait_writable`], bulk ones (and a `sendFile`)
    /// go to the writer task.
    fn flush(self: &Arc<Self>, env: &Env) {
        let mut w = lock(&self.w);
        if w.writer || w.waiting || w.queue.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut w.queue);
        let mut done = Vec::new();
        let Some(io) = self.live() else {
            drop(w);
            self.fail_writes(batch, Failure::Closed, &mut done);
            return self.settle_writes(env, done);
        };
        match pump_writes(&io, &self.fin_sent, &mut batch, &mut done) {
            Ok(Flow::Idle) => drop(w),
            Ok(Flow::Blocked) if queued_bytes(&batch) >= BULK => {
                // Full, with a bulk transfer: the writer task refills the socket as soon
                // as it can take more (measured faster for large writes than waking
                // this thread for each refill).
                w.writer = true;
                drop(w);
                self.js.spawn(writer(self.clone(), io, batch));
            }
            Ok(Flow::Blocked) => {
                // Full, with small writes: they stay queued, and this thread sends them
                // once a task has seen the socket writable again; their promises settle
                // here, without a hand-off each (measured ~2x the frames per second).
                w.queue = batch;
                w.waiting = true;
                drop(w);
                self.js.spawn(wait_writable(self.clone(), io));
            }
            Ok(Flow::File) => {
                // sendfile(2) may wait on the disk: the writer task does it, and what
                // follows it.
                w.writer = true;
                drop(w);
                self.js.spawn(writer(self.clone(), io, batch));
            }
            Err(failure) => {
                drop(w);
                self.fail_writes(batch, failure, &mut done);
            }
        }
        self.settle_writes(env, done);
    }

    /// Rejects `batch` and everything queued; writing is over. Any thread.
    fn fail_writes(&self, batch: VecDeque<Out>, failure: Failure, done: &mut Vec<Settle>) {
        let mut w = lock(&self.w);
        w.ended = true;
        w.writer = false;
        let queued = std::mem::take(&mut w.queue);
        drop(w);
        self.write_done.store(true, Ordering::Release);
        if let Failure::Os(errno, _) = failure {
            lock(&self.failed_with).get_or_insert(errno);
        }
        for out in batch.into_iter().chain(queued) {
            done.push((out, Err(self.error(failure))));
        }
    }

    /// Settles finished writes (JS thread); once the write side is done and the read side
    /// has ended (or writing failed), the socket is finished.
    fn settle_writes(&self, env: &Env, done: Vec<Settle>) {
        let mut run = Run::default();
        for (out, result) in done {
            if matches!(out.job, Job::End) && result.is_ok() {
                self.write_done.store(true, Ordering::Release);
            }
            match out.waiter {
                Waiter::Counted => match result {
                    Ok(_) => {
                        if run.failed > 0 {
                            run.report(env, self.id);
                        }
                        run.ok += 1;
                    }
                    Err(e) => {
                        run.error.get_or_insert(e);
                        run.failed += 1;
                    }
                },
                Waiter::Promise(d) => {
                    // Writes before it settle first, as they were made first.
                    run.report(env, self.id);
                    d.settle(env, result);
                }
                Waiter::Nobody => {}
            }
            // `out.job` (held JS memory) is released here, on the JS thread.
        }
        run.report(env, self.id);
        let failed = self.reset();
        if self.write_done.load(Ordering::Acquire)
            && (failed || lock(&self.r).reader.ended())
            && !self.closed.load(Ordering::Acquire)
        {
            self.finish(env);
        }
    }

    /// Posts finished writes to the JS thread.
    fn post_writes(self: &Arc<Self>, done: Vec<Settle>) {
        if done.is_empty() {
            return;
        }
        let me = self.clone();
        self.js.post(move |env| me.settle_writes(env, done));
    }

    // --- reads ---

    /// Starts a read: completed on the spot when its bytes are buffered or waiting in the
    /// socket, else queued for the reader task. JS thread.
    fn read(self: &Arc<Self>, env: &Env, want: Want) -> napi::Result<Promise> {
        let (done, promise) = Deferred::new(env)?;
        if self.user_closed.load(Ordering::Acquire) {
            done.settle::<()>(env, Err(closed("socket")));
            return Ok(promise);
        }
        let mut r = lock(&self.r);
        if r.ops.is_empty() {
            let step = match self.live() {
                None => self.poll_finished(&mut r.reader, want),
                Some(io) => {
                    let ended = self.fin_sent.load(Ordering::Acquire);
                    r.reader
                        .poll(want, &mut |b| io.recv(b, ended), &|| io.available())
                }
            };
            if let Step::Done(result) = step {
                drop(r);
                done.settle(env, result.map(|v| v.map(OutBytes)).map_err(Into::into));
                self.after_read(env);
                return Ok(promise);
            }
        }
        r.ops.push_back((want, done));
        if !r.task {
            if let Some(io) = self.io() {
                r.task = true;
                self.js.spawn(reader(self.clone(), io));
            }
        }
        Ok(promise)
    }

    /// A read on a finished socket: what is buffered, then the end of the stream, or the
    /// error a write failed with.
    fn poll_finished(&self, reader: &mut Reader, want: Want) -> Step {
        let failed = *lock(&self.failed_with);
        reader.poll(
            want,
            &mut |_| failed.map_or(Ok(0), |errno| Err(io::Error::from_raw_os_error(errno))),
            &|| 0,
        )
    }

    /// Settles the reads still queued once the socket closed or finished: rejected after
    /// `close()`, else what is buffered and then the end of the stream. JS thread.
    fn drain_reads(&self, env: &Env) {
        if !self.closed.load(Ordering::Acquire) {
            return;
        }
        let user_closed = self.user_closed.load(Ordering::Acquire);
        loop {
            let mut r = lock(&self.r);
            let Some((want, d)) = r.ops.pop_front() else {
                return;
            };
            let result = if user_closed {
                Err(closed("socket"))
            } else {
                match self.poll_finished(&mut r.reader, want) {
                    Step::Done(result) => result.map(|v| v.map(OutBytes)).map_err(Into::into),
                    Step::Blocked => Err(closed("socket")),
                }
            };
            drop(r);
            d.settle(env, result);
        }
    }

    /// After reads complete: once the peer ended its side, end ours after pending writes
    /// unless `allowHalfOpen` (as Node); a failed stream, or both sides ended, finishes
    /// the socket. JS thread.
    fn after_read(self: &Arc<Self>, env: &Env) {
        let (ended, failed) = {
            let r = lock(&self.r);
            (r.reader.ended(), r.reader.failed() || self.reset())
        };
        if self.closed.load(Ordering::Acquire) || !(ended || failed) {
            return;
        }
        if failed {
            return self.finish(env);
        }
        if !self.allow_half_open && self.enqueue(Job::End, Waiter::Nobody).is_ok() {
            self.flush(env);
        }
        if self.write_done.load(Ordering::Acquire) && !self.closed.load(Ordering::Acquire) {
            self.finish(env);
        }
    }

    /// `close()`: pending calls reject with `ABIO_ERR_CLOSED`, the peer sees the end of
    /// the stream, the descriptor is released. Idempotent. JS thread.
    fn close(&self, env: &Env) {
        if self.user_closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(io) = self.live() {
            // Wakes the tasks (their waits end with ABIO_ERR_CLOSED).
            let _ = io.shutdown(Shutdown::Both);
        }
        let mut done: Vec<Settle> = Vec::new();
        let queued = std::mem::take(&mut lock(&self.w).queue);
        for out in queued {
            done.push((out, Err(closed("socket"))));
        }
        let ops = std::mem::take(&mut lock(&self.r).ops);
        lock(&self.r).reader.abandon();
        self.finish(env);
        self.settle_writes(env, done);
        for (_, d) in ops {
            d.settle::<()>(env, Err(closed("socket")));
        }
    }
}

/// How far [`pump_writes`] got.
enum Flow {
    /// Everything was sent.
    Idle,
    /// The socket is full.
    Blocked,
    /// A `sendFile` is next: the writer task does it.
    File,
}

/// Sends the batch's leading writes with as few `sendmsg` calls as the socket allows,
/// moving finished ones to `done`; stops at a full socket or a `sendFile`.
fn pump_writes(
    io: &Transport,
    fin_sent: &AtomicBool,
    batch: &mut VecDeque<Out>,
    done: &mut Vec<Settle>,
) -> Result<Flow, Failure> {
    loop {
        match batch.front().map(|o| &o.job) {
            None => return Ok(Flow::Idle),
            Some(Job::File(_)) => return Ok(Flow::File),
            Some(Job::Refused(_)) => {
                let mut out = batch.pop_front().expect("front exists");
                let e = match &mut out.job {
                    Job::Refused(e) => e.take(),
                    _ => None,
                };
                done.push((out, Err(e.unwrap_or_else(|| closed("socket")))));
            }
            Some(Job::End) => {
                // Before the FIN leaves: from then on the peer's FIN may close the
                // connection, which reads must not take for a reset.
                fin_sent.store(true, Ordering::Release);
                io.shutdown(Shutdown::Write)
                    .map_err(|e| Failure::os(&e, "shutdown"))?;
                let out = batch.pop_front().expect("front exists");
                done.push((out, Ok(Sent::Unit)));
            }
            Some(Job::Bytes { .. }) => {
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
fn gather<'a>(batch: &'a VecDeque<Out>, iov: &mut Vec<IoSlice<'a>>) {
    for out in batch {
        let Job::Bytes {
            first, rest, sent, ..
        } = &out.job
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
fn advance(batch: &mut VecDeque<Out>, mut n: usize, done: &mut Vec<Settle>) {
    while let Some(Out {
        job: Job::Bytes { sent, total, .. },
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
async fn writer(conn: Arc<Conn>, io: Io, mut batch: VecDeque<Out>) {
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
            Ok(mut guard) => match guard.try_io(|_| {
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
const BULK: usize = 1 << 20;

/// The unsent bytes of the writes in `batch`.
fn queued_bytes(batch: &VecDeque<Out>) -> usize {
    batch
        .iter()
        .map(|o| match &o.job {
            Job::Bytes { sent, total, .. } => total - sent,
            _ => 0,
        })
        .sum()
}

/// Waits until the socket takes bytes again (or closes), then has the JS thread flush.
async fn wait_writable(conn: Arc<Conn>, io: Io) {
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
                if guard.try_io(|_| io.poll_writable()).is_ok() {
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
async fn send_file(
    conn: &Arc<Conn>,
    io: &Transport,
    batch: &mut VecDeque<Out>,
    done: &mut Vec<Settle>,
) -> Result<Flow, Failure> {
    let Some(Out {
        job: Job::File(job),
        ..
    }) = batch.front()
    else {
        return Ok(Flow::Idle);
    };
    let finish = |batch: &mut VecDeque<Out>, done: &mut Vec<Settle>, r: AbioResult<Sent>| {
        let out = batch.pop_front().expect("front exists");
        done.push((out, r));
        Ok(Flow::Idle)
    };
    let opened = std::fs::File::open(&job.path)
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
            let err = CoreError::io(e, syscall, Some(&job.path)).into();
            return finish(batch, done, Err(err));
        }
    };
    let start = job.offset.min(size);
    let total = job.length.map_or(size - start, |l| l.min(size - start));
    let (cancel, progress) = (job.cancel.clone(), job.progress.clone());
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
        match guard.try_io(|_| io.sendfile(&file, &mut offset, chunk)) {
            Err(_) => {}
            // The file shrank under us: report what was sent.
            Ok(Ok(0)) => return finish(batch, done, Ok(Sent::Count(sent))),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(Failure::os(&e, "sendfile")),
        }
    }
}

/// The reader task: completes queued reads as bytes arrive, in order; with none queued,
/// watches for the peer's end of the stream without taking any bytes. Returns when bytes
/// wait with nobody asking (the next read takes them on the JS thread), at the end of
/// the stream, on an error, or when the socket closes.
async fn reader(conn: Arc<Conn>, io: Io) {
    loop {
        let mut done = Vec::new();
        let readable = io.ready(Interest::READABLE);
        let waited = ready(readable, &conn.closing, &conn.closed, None).await;
        // Whether the socket has nothing more for us (bytes wait unasked, or it ended).
        let mut idle = false;
        let gone = waited.is_err();
        if let Ok(mut guard) = waited {
            let polled = guard.try_io(|_| {
                let mut r = lock(&conn.r);
                loop {
                    if conn.user_closed.load(Ordering::Acquire) {
                        // `close()` rejects what is queued; the end of stream its shutdown
                        // makes is not the peer's.
                        return Ok(());
                    }
                    let Some(&(want, _)) = r.ops.front() else {
                        let ended = conn.fin_sent.load(Ordering::Acquire);
                        return match io.peek_end(ended) {
                            Ok(true) => {
                                r.reader.set_ended();
                                Ok(())
                            }
                            // Bytes wait: the next read takes them.
                            Ok(false) => Ok(()),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
                            // Reset: the peek took the error the kernel reports once. Kept
                            // for the reads and writes still to come; the socket finishes.
                            Err(e) => {
                                let errno = errno_of(&e).unwrap_or(libc::ECONNRESET);
                                lock(&conn.failed_with).get_or_insert(errno);
                                Ok(())
                            }
                        };
                    };
                    let ended = conn.fin_sent.load(Ordering::Acquire);
                    let step = r
                        .reader
                        .poll(want, &mut |b| io.recv(b, ended), &|| io.available());
                    match step {
                        Step::Done(result) => {
                            let (_, d) = r.ops.pop_front().expect("front exists");
                            done.push((d, result));
                        }
                        // Readiness is cleared by `try_io`: wait again.
                        Step::Blocked => return Err(would_block()),
                    }
                }
            });
            idle = polled.is_ok();
        }
        let stop = {
            let mut r = lock(&conn.r);
            let over = r.reader.ended() || r.reader.failed() || conn.reset();
            let stop = gone || (r.ops.is_empty() && (idle || over));
            if stop {
                r.task = false;
            }
            stop
        };
        if done.is_empty() && !stop {
            continue;
        }
        let me = conn.clone();
        conn.js.post(move |env| {
            for (d, result) in done {
                d.settle(env, result.map(|v| v.map(OutBytes)).map_err(Into::into));
            }
            if stop {
                // Reads queued when the socket closed or finished meanwhile.
                me.drain_reads(env);
            }
            me.after_read(env);
        });
        if stop {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Settling writes in JS

thread_local! {
    /// `lib/net.js`'s `(id, ok, failed, error)` of this thread's environment.
    static ON_WRITES: RefCell<Option<(sys::napi_env, FunctionRef<(), ()>)>> = const { RefCell::new(None) };
}

/// Consecutive settled writes of one socket, told to JS at once.
#[derive(Default)]
struct Run {
    ok: u32,
    failed: u32,
    error: Option<AbioError>,
}

impl Run {
    fn report(&mut self, env: &Env, id: u32) {
        if self.ok + self.failed > 0 {
            report_writes(env, id, self.ok, self.failed, self.error.take());
        }
        *self = Run::default();
    }
}

/// Tells `lib/net.js` that the next `ok` writes of socket `id` succeeded and the `failed`
/// after them failed with `error` (JS resolves and rejects its promises in order).
fn report_writes(env: &Env, id: u32, ok: u32, failed: u32, error: Option<AbioError>) {
    ON_WRITES.with(|cell| {
        let slot = cell.borrow();
        let Some((owner, callback)) = slot.as_ref().filter(|(e, _)| *e == env.raw()) else {
            return;
        };
        let Ok(f) = callback.borrow_back(env) else {
            return;
        };
        let raw = env.raw();
        let error = error.map(|e| error_value(env, e));
        // SAFETY: JS thread (the caller's `Env`, the one the callback belongs to); the
        // arguments are values made in this scope.
        unsafe {
            let mut argv = [std::ptr::null_mut(); 4];
            let mut undefined = std::ptr::null_mut();
            sys::napi_get_undefined(*owner, &mut undefined);
            for (slot, n) in argv.iter_mut().zip([id, ok, failed]) {
                sys::napi_create_uint32(raw, n, slot);
            }
            argv[3] = error.unwrap_or(undefined);
            let mut result = std::ptr::null_mut();
            // A throwing callback would be a bug of lib/net.js: it surfaces as uncaught.
            sys::napi_call_function(
                raw,
                undefined,
                f.raw(),
                argv.len(),
                argv.as_ptr(),
                &mut result,
            );
        }
    });
}

/// Registers `lib/net.js`'s `(id, ok, failed, error)`, called on the JS thread as writes
/// settle (see [`report_writes`]). Once per environment.
#[napi]
pub fn set_write_callback(env: Env, callback: Function<(), ()>) -> napi::Result<()> {
    let callback = callback.create_ref()?;
    ON_WRITES.with(|cell| *cell.borrow_mut() = Some((env.raw(), callback)));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The JS classes

/// A connected TCP or Unix socket (the native half of `lib/net.js`'s `Socket`).
#[napi]
pub struct NativeSocket {
    conn: Arc<Conn>,
}

impl Drop for NativeSocket {
    /// Collected while open: nothing can use the socket any more. It stops keeping the
    /// process alive, and is shut down so the peer sees the end (its tasks settle what is
    /// pending and return). Runs on the JS thread, in a finalizer: no JS calls here.
    fn drop(&mut self) {
        let conn = &self.conn;
        if conn.closed.load(Ordering::Acquire) {
            return;
        }
        conn.keep.release_here();
        if let Some(io) = conn.io() {
            let _ = io.shutdown(Shutdown::Both);
        }
    }
}

#[napi]
impl NativeSocket {
    /// Queues the writes of one microtask turn (`writes[i]` is `Data` or `Data[]`, one
    /// write each; frames when `framed`) and sends what the socket takes now. Parts over
    /// 16 KiB are held until their write settles, smaller ones copied now. Each write is
    /// settled, in order, through the callback given to `setWriteCallback`.
    #[napi]
    pub fn write_batch(
        &self,
        env: Env,
        #[napi(ts_arg_type = "Array<string | ArrayBufferView | Array<string | ArrayBufferView>>")]
        writes: WriteList,
        framed: bool,
    ) -> napi::Result<()> {
        self.conn.write_batch(&env, &writes, framed)
    }

    /// The id `setWriteCallback`'s callback names this socket by.
    #[napi(getter)]
    pub fn id(&self) -> u32 {
        self.conn.id
    }

    /// Queues `sendfile(2)` of `path` from `offset` for `length` bytes (-1: to the end);
    /// resolves with the bytes sent.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn send_file(
        &self,
        env: Env,
        path: String,
        offset: f64,
        length: f64,
        on_progress: Option<Function<FnArgs<(f64, f64)>, ()>>,
        token: Option<ClassInstance<CancelToken>>,
    ) -> napi::Result<Promise> {
        let progress = on_progress.map(Progress::new).transpose()?;
        self.conn.push(
            &env,
            Job::File(Box::new(FileJob {
                path: PathBuf::from(path),
                offset: offset as u64,
                length: (length >= 0.0).then_some(length as u64),
                progress,
                cancel: cancel_of(token),
            })),
        )
    }

    /// Queues the end of our side of the stream (after pending writes).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn end(&self, env: Env) -> napi::Result<Promise> {
        if lock(&self.conn.w).ended && !self.conn.user_closed.load(Ordering::Acquire) {
            // Ended already (by an earlier call, or in answer to the peer's end): a no-op,
            // as Node's second `end()`.
            return Deferred::settled(&env, Ok(()));
        }
        self.conn.push(&env, Job::End)
    }

    /// Reads: `kind` 0 up to `n` bytes (null at the end), 1 exactly `n` bytes, 2 one frame
    /// of at most `n` bytes (null at the end).
    #[napi(ts_return_type = "Promise<ArrayBuffer | null>")]
    pub fn read(&self, env: Env, kind: u32, n: f64) -> napi::Result<Promise> {
        let want = match kind {
            0 => Want::Chunk(n as usize),
            1 => Want::Exactly(n as usize),
            _ => Want::Frame(n.min(u32::MAX as f64) as u32),
        };
        self.conn.read(&env, want)
    }

    /// Closes the socket now; idempotent.
    #[napi]
    pub fn close(&self, env: Env) {
        self.conn.close(&env);
    }

    /// Keeps the event loop alive while open (the default).
    #[napi(js_name = "ref")]
    pub fn ref_(&self, env: Env) {
        if !self.conn.closed.load(Ordering::Acquire) {
            self.conn.keep.set(&env, true);
        }
    }

    /// Lets the process exit while this socket is open.
    #[napi]
    pub fn unref(&self, env: Env) {
        self.conn.keep.set(&env, false);
    }

    /// Whether the socket is closed (by `close`, or finished).
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.conn.closed.load(Ordering::Acquire)
    }

    /// This end's address.
    #[napi(getter)]
    pub fn local_address(&self) -> String {
        self.conn.addresses.local.clone()
    }

    /// This end's port (0 for a Unix socket).
    #[napi(getter)]
    pub fn local_port(&self) -> u32 {
        self.conn.addresses.local_port as u32
    }

    /// The peer's address (a Unix socket's path, if any).
    #[napi(getter)]
    pub fn remote_address(&self) -> String {
        self.conn.addresses.remote.clone()
    }

    /// The peer's port (0 for a Unix socket).
    #[napi(getter)]
    pub fn remote_port(&self) -> u32 {
        self.conn.addresses.remote_port as u32
    }

    /// `IPv4`, `IPv6` or `Unix`.
    #[napi(getter)]
    pub fn remote_family(&self) -> String {
        self.conn.addresses.family.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// connect

/// Socket options shared by `connect` and `listen`.
#[napi(object)]
pub struct SocketOptions {
    /// `TCP_NODELAY` (writes leave at once).
    pub no_delay: bool,
    /// `SO_KEEPALIVE`.
    pub keep_alive: bool,
    /// Keep our side open after the peer ended its own.
    pub allow_half_open: bool,
}

fn configure(sock: &Socket, unix: bool, o: &SocketOptions) -> io::Result<()> {
    if !unix {
        sock.set_tcp_nodelay(o.no_delay)?;
        if o.keep_alive {
            sock.set_keepalive(true)?;
        }
    }
    Ok(())
}

/// Connects to `host:port` (or the Unix socket at `path`); `timeout_ms` 0 waits as long
/// as the OS does. Keeps the event loop alive until it settles.
#[napi(ts_return_type = "Promise<NativeSocket>")]
#[allow(
    clippy::too_many_arguments,
    reason = "a #[napi] function's arguments are its JS signature (lib/ checked them)"
)]
pub fn connect(
    env: Env,
    host: Option<String>,
    port: u32,
    path: Option<String>,
    options: SocketOptions,
    timeout_ms: f64,
    token: Option<ClassInstance<CancelToken>>,
) -> napi::Result<Promise> {
    let (done, promise) = Deferred::new(&env)?;
    let js = Js::of(&env)?;
    let keep = Arc::new(KeepAlive::default());
    keep.set(&env, true);
    let cancel = cancel_of(token);
    let target = target(host, port, path);
    let unix = matches!(target, Target::Unix(_));
    let back = js.clone();
    rt().spawn(async move {
        let aborted = woken_on_cancel(&cancel);
        let timeout = async {
            if timeout_ms > 0.0 {
                tokio::time::sleep(Duration::from_millis(timeout_ms as u64)).await
            } else {
                std::future::pending().await
            }
        };
        let result = tokio::select! {
            r = open(&target) => r,
            _ = timeout => Err(CoreError::Timeout { what: "connect", ms: timeout_ms as u64 }.into()),
            _ = aborted.notified() => Err(CoreError::Aborted.into()),
        };
        let conn = result.and_then(|sock| {
            configure(&sock, unix, &options)
                .and_then(|_| Conn::new(sock, js, options.allow_half_open))
                .map_err(|e| CoreError::net(e, "connect").into())
        });
        back.post(move |env| {
            keep.set(env, false);
            done.settle(env, conn.map(|c| c.start(env)));
        });
    });
    Ok(promise)
}

// ---------------------------------------------------------------------------------------
// listen

/// A `listen` server: its listening socket, and what each connection gets.
struct Listener {
    core: Arc<Listening>,
    options: SocketOptions,
    on_connection: FunctionRef<NativeSocket, ()>,
}

/// A listening server (the native half of `lib/net.js`'s `Server`).
#[napi]
pub struct NativeServer {
    inner: Arc<Listener>,
    host: String,
    port: u32,
}

#[napi]
impl NativeServer {
    /// The address it listens on (a Unix socket's path).
    #[napi(getter)]
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// The port it listens on (the one picked when 0 was asked; 0 for a Unix socket).
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Stops accepting and closes the listening socket (its port is free when this
    /// resolves; a Unix socket's file is removed). Open connections stay open.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Promise> {
        self.inner.core.close(&env)
    }

    /// Keeps the process alive while listening (the default).
    #[napi(js_name = "ref")]
    pub fn ref_(&self, env: Env) {
        self.inner.core.hold(&env, true);
    }

    /// Lets the process exit while listening.
    #[napi]
    pub fn unref(&self, env: Env) {
        self.inner.core.hold(&env, false);
    }
}

/// Accepts connections until the server closes, handing each to `onConnection` on the
/// JS thread; then closes the descriptor and settles the `close()` calls.
async fn accept_loop(server: Arc<Listener>, io: Bound) {
    let unix = server.core.unix.is_some();
    while let Some(sock) = server.core.accept(&io).await {
        let conn = configure(&sock, unix, &server.options)
            .and_then(|_| Conn::new(sock, server.core.js.clone(), server.options.allow_half_open));
        let Ok(conn) = conn else { continue };
        let me = server.clone();
        server.core.js.post(move |env| {
            if me.core.closed.load(Ordering::Acquire) {
                return;
            }
            let socket = conn.start(env);
            if let Ok(f) = me.on_connection.borrow_back(env) {
                // lib/net.js catches what the handler throws or rejects with.
                let _ = f.call(socket);
            }
        });
    }
    server.core.stopped(io);
}

/// Listens on `host:port` (or the Unix socket `path`) and calls `onConnection` with each
/// accepted socket. Resolves once listening.
#[napi(ts_return_type = "Promise<NativeServer>")]
#[allow(
    clippy::too_many_arguments,
    reason = "a #[napi] function's arguments are its JS signature (lib/ checked them)"
)]
pub fn listen(
    env: Env,
    host: Option<String>,
    port: u32,
    path: Option<String>,
    backlog: i32,
    reuse_port: bool,
    options: SocketOptions,
    on_connection: Function<NativeSocket, ()>,
) -> napi::Result<Promise> {
    let on_connection = on_connection.create_ref()?;
    let target = target(host, port, path);
    listening(
        &env,
        target,
        backlog,
        reuse_port,
        move |core, io, host, port| {
            let inner = Arc::new(Listener {
                core,
                options,
                on_connection,
            });
            inner.core.js.spawn(accept_loop(inner.clone(), io));
            NativeServer {
                inner,
                host,
                port: port as u32,
            }
        },
    )
}
