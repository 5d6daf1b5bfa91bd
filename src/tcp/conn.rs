//! A connected socket's shared state ([`Conn`]), held by its JS object and its tasks: the
//! write queue, flushed from the JS thread as far as the socket takes it (the rest goes to
//! the tasks of [`super::send`]); the reads, completed on the spot when their bytes are
//! there, else queued for [`super::receive`]'s task; and how the socket ends (the peer's
//! end, `allowHalfOpen`, a reset, `close()`).

use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use abio_core::error::errno_error;
use abio_core::net::{Reader, Step, Want};
use abio_core::{frame, Error as CoreError};
use napi::Env;
use socket2::Socket;
use tokio::sync::Notify;

use super::closed;
use super::receive::reader;
use super::report::Run;
use super::send::{
    pump_writes, queued_bytes, wait_writable, writer, Flow, Item, Queued, Sent, Waiter, BULK,
};
use super::NativeSocket;
use crate::bytes::{OutBytes, WriteList};
use crate::error::{AbioError, AbioResult};
use crate::net::transport::Transport;
use crate::net::{describe, lock, Failure, Io};
use crate::runtime::{Deferred, Js, KeepAlive, Promise};

/// A write to settle on the JS thread, where its held JS memory is released too.
pub(super) type Settle = (Queued, AbioResult<Sent>);

#[derive(Default)]
pub(super) struct Writes {
    pub(super) queue: VecDeque<Queued>,
    /// The writer task owns the items it took from `queue`.
    pub(super) writer: bool,
    /// The socket was full: a task waits until it is writable, then the JS thread sends.
    pub(super) waiting: bool,
    /// `end()` was called: later writes are refused.
    pub(super) ended: bool,
}

#[derive(Default)]
pub(super) struct Reads {
    pub(super) reader: Reader,
    pub(super) ops: VecDeque<(Want, Deferred)>,
    /// The reader task runs.
    pub(super) task: bool,
}

pub(super) struct Addresses {
    pub(super) local: String,
    pub(super) local_port: u16,
    pub(super) remote: String,
    pub(super) remote_port: u16,
    pub(super) family: &'static str,
}

/// A connected socket, shared by its JS object and its tasks.
pub(super) struct Conn {
    /// How `lib/net.js` knows this socket in [`report_writes`].
    pub(super) id: u32,
    /// `None` once closed or finished; taken on the JS thread only.
    pub(super) io: Mutex<Option<Io>>,
    pub(super) js: Js,
    pub(super) allow_half_open: bool,
    pub(super) keep: KeepAlive,
    /// No more I/O: closed by the user, or finished (both directions ended, or failed).
    pub(super) closed: AtomicBool,
    /// `close()` was called: pending and later calls reject with `ABIO_ERR_CLOSED`.
    pub(super) user_closed: AtomicBool,
    /// Our side was shut down for writing (`end` done) or writing failed.
    pub(super) write_done: AtomicBool,
    /// Our FIN is (about to be) sent: the peer's FIN may now close the connection, which
    /// reads must not take for a reset (see [`net::recv`]).
    pub(super) fin_sent: AtomicBool,
    /// The errno a write failed with (a reset): reads after the socket finished report it,
    /// since the kernel reports a socket error only once.
    pub(super) failed_with: Mutex<Option<i32>>,
    pub(super) closing: Notify,
    pub(super) w: Mutex<Writes>,
    pub(super) r: Mutex<Reads>,
    pub(super) addresses: Addresses,
}

impl Addresses {
    /// Both ends of a connected socket, as Node shows them.
    pub(super) fn of(sock: &Socket) -> Addresses {
        let (local, local_port, _) = describe(sock.local_addr().ok());
        let (remote, remote_port, family) = describe(sock.peer_addr().ok());
        Addresses {
            local,
            local_port,
            remote,
            remote_port,
            family,
        }
    }
}

impl Conn {
    /// The state of a connected socket, over its transport (plain, or TLS with the
    /// handshake done). On a runtime thread.
    pub(super) fn new(
        io: Transport,
        addresses: Addresses,
        js: Js,
        allow_half_open: bool,
    ) -> Arc<Conn> {
        let io = Arc::new(io);
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        Arc::new(Conn {
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
            addresses,
        })
    }

    pub(super) fn io(&self) -> Option<Io> {
        lock(&self.io).clone()
    }

    /// The transport while the socket is neither closed nor finished.
    pub(super) fn live(&self) -> Option<Io> {
        if self.closed.load(Ordering::Acquire) {
            None
        } else {
            self.io()
        }
    }

    /// Hands a new connection to JS: it keeps the loop alive, and a reader watches for
    /// the peer's end (so `allowHalfOpen: false` can answer it). JS thread.
    pub(super) fn start(self: &Arc<Self>, env: &Env) -> NativeSocket {
        self.keep.set(env, true);
        lock(&self.r).task = true;
        if let Some(io) = self.io() {
            self.js.spawn(reader(self.clone(), io));
        }
        NativeSocket { conn: self.clone() }
    }

    /// Both directions are done, or failed: release the loop and the descriptor (tasks
    /// still running hold their own handle until they return). JS thread.
    pub(super) fn finish(&self, env: &Env) {
        self.closed.store(true, Ordering::Release);
        self.closing.notify_waiters();
        self.keep.set(env, false);
        let io = lock(&self.io).take();
        drop(io);
    }

    /// Whether the stream failed (a reset) as a peek or a write saw it.
    pub(super) fn reset(&self) -> bool {
        lock(&self.failed_with).is_some()
    }

    /// The error a failed write reports: `ABIO_ERR_CLOSED` after `close()`, whatever the
    /// OS said then (the shutdown made it fail); the reset that finished the socket when
    /// the peer's failure did.
    pub(super) fn error(&self, f: Failure) -> AbioError {
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
    pub(super) fn push(self: &Arc<Self>, env: &Env, item: Item) -> napi::Result<Promise> {
        let (done, promise) = Deferred::new(env)?;
        match self.enqueue(item, Waiter::Promise(done)) {
            Err((e, Waiter::Promise(done))) => done.settle::<()>(env, Err(e)),
            _ => self.flush(env),
        }
        Ok(promise)
    }

    /// Queues `item`, or refuses it (closed, or ended) and returns its waiter.
    pub(super) fn enqueue(&self, item: Item, waiter: Waiter) -> Result<(), (AbioError, Waiter)> {
        if self.closed.load(Ordering::Acquire) {
            return Err((closed("socket"), waiter));
        }
        let mut w = lock(&self.w);
        if w.ended {
            return Err((closed("socket's writable side"), waiter));
        }
        if let Item::End = item {
            w.ended = true;
        }
        w.queue.push_back(Queued { item, waiter });
        Ok(())
    }

    /// Queues the writes `lib/net.js` gathered in one microtask turn (frames when
    /// `framed`), in order, and sends what the socket takes now. Each is settled through
    /// [`report_writes`], in order, also when refused. JS thread.
    pub(super) fn write_batch(
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
            let item = match write {
                Err(e) => Item::Refused(Some(AbioError::InvalidArg(e.reason))),
                Ok(_) if ended => Item::Refused(Some(closed("socket's writable side"))),
                Ok(mut data) => match framed.then(|| frame::header(data.len as u64)) {
                    Some(Err(e)) => Item::Refused(Some(e.into())),
                    Some(Ok(h)) => {
                        data.head_mut().copy_from_slice(&h);
                        Item::bytes(data)
                    }
                    None => Item::bytes(data),
                },
            };
            w.queue.push_back(Queued {
                item,
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
    pub(super) fn flush(self: &Arc<Self>, env: &Env) {
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
    pub(super) fn fail_writes(
        &self,
        batch: VecDeque<Queued>,
        failure: Failure,
        done: &mut Vec<Settle>,
    ) {
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
    pub(super) fn settle_writes(&self, env: &Env, done: Vec<Settle>) {
        let mut run = Run::default();
        for (out, result) in done {
            if matches!(out.item, Item::End) && result.is_ok() {
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
            // `out.item` (held JS memory) is released here, on the JS thread.
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
    pub(super) fn post_writes(self: &Arc<Self>, done: Vec<Settle>) {
        if done.is_empty() {
            return;
        }
        let me = self.clone();
        self.js.post(move |env| me.settle_writes(env, done));
    }

    // --- reads ---

    /// Starts a read: completed on the spot when its bytes are buffered or waiting in the
    /// socket, else queued for the reader task. JS thread.
    pub(super) fn read(self: &Arc<Self>, env: &Env, want: Want) -> napi::Result<Promise> {
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
    pub(super) fn poll_finished(&self, reader: &mut Reader, want: Want) -> Step {
        let failed = *lock(&self.failed_with);
        reader.poll(
            want,
            &mut |_| failed.map_or(Ok(0), |errno| Err(io::Error::from_raw_os_error(errno))),
            &|| 0,
        )
    }

    /// Settles the reads still queued once the socket closed or finished: rejected after
    /// `close()`, else what is buffered and then the end of the stream. JS thread.
    pub(super) fn drain_reads(&self, env: &Env) {
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
    pub(super) fn after_read(self: &Arc<Self>, env: &Env) {
        let (ended, failed) = {
            let r = lock(&self.r);
            (r.reader.ended(), r.reader.failed() || self.reset())
        };
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        if !(ended || failed) {
            return self.watch_end();
        }
        if failed {
            return self.finish(env);
        }
        if !self.allow_half_open && self.enqueue(Item::End, Waiter::Nobody).is_ok() {
            self.flush(env);
        }
        if self.write_done.load(Ordering::Acquire) && !self.closed.load(Ordering::Acquire) {
            self.finish(env);
        }
    }

    /// Once reads have taken every byte the socket holds, on the JS thread, with none
    /// waiting: a reader task watches for the peer's end (or a reset), so that the socket
    /// still finishes (and lets the event loop go) when the peer ends it. With bytes waiting,
    /// the next read takes them and comes back here; as in Node, unread bytes hold the end.
    fn watch_end(self: &Arc<Self>) {
        let mut r = lock(&self.r);
        if r.task || !r.ops.is_empty() {
            return;
        }
        let Some(io) = self.live() else { return };
        if io.available() > 0 {
            return;
        }
        r.task = true;
        drop(r);
        self.js.spawn(reader(self.clone(), io));
    }

    /// `close()`: pending calls reject with `ABIO_ERR_CLOSED`, the peer sees the end of
    /// the stream, the descriptor is released. Idempotent. JS thread.
    pub(super) fn close(&self, env: &Env) {
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
