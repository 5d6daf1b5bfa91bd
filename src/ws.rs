//! WebSocket connections (design.md section 8), both roles, over the codec of
//! [`abio_core::ws`]. A server's connections come from an upgrade on its HTTP port
//! (src/http/); a client's from [`connect_web_socket`].
//!
//! Sending: `lib/ws.js` gathers the messages of one turn of the event loop (flushed in its
//! check phase) and hands them over in one [`NativeWebSocket::send_batch`] call. Each
//! becomes a frame header plus the payload (payloads up to 16 KiB copied, larger ones held,
//! never copied: a server frame is the caller's memory after a 2-10 byte header); the frames
//! leave in one `sendmsg` from the JS thread when the socket takes them, else a writer task
//! on the tokio runtime sends the rest as the socket becomes writable. `broadcast` frames a
//! message once and queues the same bytes on every connection; a turn's broadcasts leave in
//! one `sendmsg` per connection ([`flush`]). A client masks its frames, which needs a copy.
//!
//! Receiving: on the JS thread, from Node's own event loop ([`JsPoll`], a libuv poll
//! handle): read, parse, answer pings, and hand each wake-up's messages to JS in one call,
//! with no thread hop (a hop to a runtime thread and back cost the echo case half its
//! speed). An async iterator whose consumer is behind stops the poll until it catches up.
//!
//! Measured (bench/ws.js, 2 cores, against `ws` with bufferutil, client and server of each
//! stack in their own processes): a stream of 1 KiB messages ~4x, echo with 32 in flight
//! ~1.9-2.3x, broadcast to 100 clients ~2.9-3.2x.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abio_core::net::io_slice;
use abio_core::ws::{self as codec, code, Incoming, Masks, Opcode, Parser, Role, MAX_HEADER};
use abio_core::Error as CoreError;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use napi::bindgen_prelude::{ClassInstance, Either, FnArgs, Function, FunctionRef};
use napi::{sys, Env};
use napi_derive::napi;
use tokio::io::Interest;
use tokio::sync::Notify;

use crate::bytes::{OutBytes, WriteList};
use crate::cancel::{cancel_of, CancelToken};
use crate::error::{sync_call, AbioError, AbioResult};
use crate::headers::header_pairs;
use crate::net::dial::{open, Target};
use crate::net::transport::Transport;
use crate::net::{lock, Io};
use crate::runtime::{net as rt, woken_on_cancel, Deferred, Js, JsPoll, KeepAlive, Promise};

/// Reads per readiness callback at most, so that one busy connection cannot starve the
/// event loop.
const READS_PER_WAKE: usize = 16;
/// How long a closing handshake may take before the connection is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 << 10;
/// Most frames in one `sendmsg`.
const IOV_BATCH: usize = 512;

/// A message for JS: text, or an exact `ArrayBuffer`.
type Message = Either<String, OutBytes>;

thread_local! {
    /// `lib/ws.js`'s callbacks of this thread's environment.
    static EVENTS: RefCell<Option<(sys::napi_env, Events)>> = const { RefCell::new(None) };
}

struct Events {
    messages: FunctionRef<FnArgs<(u32, Vec<Message>)>, ()>,
    close: FunctionRef<FnArgs<(u32, u32, String)>, ()>,
}

/// Registers `lib/ws.js`'s event callbacks for this thread: `(id, messages)` with every
/// message of one read, and `(id, code, reason)` once when a connection is gone.
#[napi]
pub fn set_web_socket_callbacks(
    env: Env,
    #[napi(ts_arg_type = "(id: number, messages: Array<string | ArrayBuffer>) => void")]
    messages: Function<FnArgs<(u32, Vec<Message>)>, ()>,
    #[napi(ts_arg_type = "(id: number, code: number, reason: string) => void")] close: Function<
        FnArgs<(u32, u32, String)>,
        (),
    >,
) -> napi::Result<()> {
    let events = Events {
        messages: messages.create_ref()?,
        close: close.create_ref()?,
    };
    EVENTS.with(|cell| *cell.borrow_mut() = Some((env.raw(), events)));
    Ok(())
}

fn with_events(env: &Env, f: impl FnOnce(&Env, &Events)) {
    EVENTS.with(|cell| {
        if let Some((owner, events)) = cell.borrow().as_ref() {
            if *owner == env.raw() {
                f(env, events);
            }
        }
    });
}

/// The read side, on the JS thread.
struct Rx {
    parser: Parser,
    buf: Vec<u8>,
    events: Vec<Incoming>,
    /// The connection is over: nothing more is read.
    done: bool,
}

/// Frames waiting to be sent.
#[derive(Default)]
struct Out {
    pieces: VecDeque<Bytes>,
    /// The writer task owns sending until the queue is empty.
    writing: bool,
    /// Nothing more is sent (the connection is gone).
    shut: bool,
}

/// The connections a server has open, for `broadcast` and `close`.
#[derive(Default)]
pub(crate) struct Registry(Mutex<HashMap<u32, Arc<Ws>>>);

impl Registry {
    fn all(&self) -> Vec<Arc<Ws>> {
        lock(&self.0).values().cloned().collect()
    }

    /// Closes every connection with 1001 (the server is going away).
    pub(crate) fn going_away(&self) {
        for ws in self.all() {
            ws.close(code::GOING_AWAY, "server closing");
        }
    }
}

/// One WebSocket connection.
pub(crate) struct Ws {
    id: u32,
    role: Role,
    /// The transport, until the connection is over: then it is let go at once, not when
    /// the JS object is collected. The writer task holds it too while it runs. Every call on
    /// it goes through [`Ws::with_io`], so none reaches a descriptor number reused since.
    sock: Mutex<Option<Io>>,
    out: Mutex<Out>,
    /// Bytes queued and not yet taken by the kernel (`bufferedAmount`).
    buffered: AtomicU64,
    wake_writer: Notify,
    /// `drained()` promises waiting for the queue to empty.
    drained: Mutex<Vec<Deferred>>,
    sent_close: AtomicBool,
    /// Set once the connection is over (the reader stopped).
    over: AtomicBool,
    /// What is read, on the JS thread.
    rx: Mutex<Rx>,
    /// The JS thread's readiness of the socket, while reading.
    poll: Mutex<Option<JsPoll>>,
    /// Something arrived since the last ping; a ping went unanswered (the drop's reason).
    heard: AtomicBool,
    timed_out: AtomicBool,
    /// JS paused reading (a consumer behind): silence is not a dead peer then.
    paused: AtomicBool,
    /// More than `limit` bytes are queued to send: nothing more is read (a peer's pings would
    /// queue pongs without bound) until the queue has drained.
    throttled: AtomicBool,
    /// `backpressureLimit`.
    limit: u64,
    masks: Mutex<Masks>,
    ping_ms: u64,
    js: Js,
    keep: KeepAlive,
    registry: Option<Arc<Registry>>,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

impl Ws {
    /// A connection over `stream`; it reads once [`Ws::run`] is called (after JS was told
    /// of it: its messages must not reach JS before it does).
    pub(crate) fn new(
        stream: Transport,
        role: Role,
        options: &WsOptions,
        js: Js,
        registry: Option<Arc<Registry>>,
    ) -> Arc<Ws> {
        let stream = Arc::new(stream);
        let ws = Arc::new(Ws {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            role,
            sock: Mutex::new(Some(stream.clone())),
            out: Mutex::default(),
            buffered: AtomicU64::new(0),
            wake_writer: Notify::new(),
            drained: Mutex::default(),
            sent_close: AtomicBool::new(false),
            over: AtomicBool::new(false),
            rx: Mutex::new(Rx {
                parser: Parser::new(role, options.max_payload as u64),
                buf: Vec::new(),
                events: Vec::new(),
                done: false,
            }),
            poll: Mutex::new(None),
            heard: AtomicBool::new(true),
            timed_out: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            throttled: AtomicBool::new(false),
            limit: options.backpressure_limit as u64,
            masks: Mutex::default(),
            ping_ms: options.ping_interval as u64,
            js,
            keep: KeepAlive::default(),
            registry,
        });
        if let Some(r) = &ws.registry {
            lock(&r.0).insert(ws.id, ws.clone());
        }
        ws.js.spawn(ws.clone().writer(stream));
        ws
    }

    /// Starts reading on the JS thread (`env`); `early` are the bytes that came with the
    /// handshake. With `pingInterval`, a task pings and drops a silent peer.
    pub(crate) fn run(self: &Arc<Self>, env: &Env, early: Vec<u8>) {
        lock(&self.rx).buf = early;
        let (me, gone) = (Arc::downgrade(self), Arc::downgrade(self));
        let poll = match self.with_io(|io| io.raw()) {
            Some(fd) => JsPoll::start(
                env,
                fd,
                Box::new(move |env| {
                    if let Some(me) = me.upgrade() {
                        me.pump(env);
                    }
                }),
                Box::new(move || {
                    if let Some(me) = gone.upgrade() {
                        me.torn_down();
                    }
                }),
            ),
            None => Err(napi::Error::from_reason("the socket is closed")),
        };
        match poll {
            Ok(p) => *lock(&self.poll) = Some(p),
            Err(_) => {
                lock(&self.rx).done = true;
                self.finish(
                    env,
                    code::ABNORMAL,
                    "the socket could not be watched".into(),
                );
                return;
            }
        }
        if self.ping_ms > 0 {
            let me = Arc::downgrade(self);
            let every = Duration::from_millis(self.ping_ms);
            self.js.spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(me) = me.upgrade() else { return };
                    if me.over.load(Ordering::Acquire) {
                        return;
                    }
                    // Not reading (JS paused us, or the queue is full) is not silence.
                    let paused =
                        me.paused.load(Ordering::Acquire) || me.throttled.load(Ordering::Acquire);
                    if !me.heard.swap(false, Ordering::AcqRel) && !paused {
                        me.timed_out.store(true, Ordering::Release);
                        me.cut();
                        return;
                    }
                    me.enqueue(me.control(Opcode::Ping, b""), None);
                }
            });
        }
        // The bytes that came with the handshake, if any.
        self.pump(env);
    }

    /// The JS environment went away (a worker terminated) with the connection open: close
    /// it, and let go of everything that holds it (the writer task, the server's list).
    fn torn_down(&self) {
        self.over.store(true, Ordering::Release);
        if let Some(r) = &self.registry {
            lock(&r.0).remove(&self.id);
        }
        self.release();
    }

    /// Runs `f` on the transport while it is held; `None` once it was let go.
    fn with_io<T>(&self, f: impl FnOnce(&Transport) -> T) -> Option<T> {
        lock(&self.sock).as_deref().map(f)
    }

    /// Cuts the connection from any thread: the JS thread's reader sees its end (a throttled
    /// one is woken to read it).
    fn cut(self: &Arc<Self>) {
        self.shut_socket();
        if self.throttled.swap(false, Ordering::AcqRel) {
            let me = self.clone();
            self.js.post(move |env| {
                me.watch_poll();
                me.pump(env);
            });
        }
    }

    fn shut_socket(&self) {
        self.with_io(|io| io.shutdown(Shutdown::Both));
    }

    /// Ends the connection for good: drops what is queued, stops the writer task, shuts the
    /// socket down and lets go of it (it closes once the writer task has returned).
    fn release(&self) {
        let mut out = lock(&self.out);
        self.drop_queue(&mut out);
        drop(out);
        self.wake_writer.notify_one();
        self.shut_socket();
        lock(&self.sock).take();
    }

    /// The frame of one message: header, then payload pieces (the caller's memory where
    /// held). A client's frame is masked, in a copy.
    fn frame(&self, opcode: Opcode, head: Vec<u8>, rest: Vec<Bytes>, len: usize) -> Vec<Bytes> {
        // `head` is MAX_HEADER bytes of room, then the payload when it was small.
        let mask = (self.role == Role::Client).then(|| lock(&self.masks).next_key());
        let mut h = [0u8; MAX_HEADER];
        let n = codec::header(opcode, len as u64, mask, &mut h);
        let mut first = head;
        if let Some(key) = mask {
            // Masked into one new buffer: header, then every byte of the payload.
            let mut all = Vec::with_capacity(n + len);
            all.extend_from_slice(&h[..n]);
            all.extend_from_slice(&first[MAX_HEADER..]);
            for r in &rest {
                all.extend_from_slice(r);
            }
            codec::apply_mask(&mut all[n..], key, 0);
            return vec![Bytes::from(all)];
        }
        first[MAX_HEADER - n..MAX_HEADER].copy_from_slice(&h[..n]);
        let mut pieces = Vec::with_capacity(1 + rest.len());
        pieces.push(Bytes::from(first).slice(MAX_HEADER - n..));
        pieces.extend(rest);
        pieces
    }

    /// A control frame (close, ping, pong) with `payload`.
    fn control(&self, opcode: Opcode, payload: &[u8]) -> Vec<Bytes> {
        let mut head = vec![0u8; MAX_HEADER];
        head.extend_from_slice(payload);
        self.frame(opcode, head, Vec::new(), payload.len())
    }

    /// Queues `pieces` and sends what the socket takes now (any thread); the writer task
    /// sends the rest. `env` is given on the JS thread, to settle `drained()` there.
    fn enqueue(self: &Arc<Self>, pieces: Vec<Bytes>, env: Option<&Env>) {
        if self.queue(pieces) {
            self.kick(env);
        }
    }

    /// Queues `pieces` without sending them yet (a broadcast: [`Ws::kick`] sends the
    /// turn's messages together); false when the connection is gone.
    fn queue(&self, pieces: Vec<Bytes>) -> bool {
        let total: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        let mut out = lock(&self.out);
        if out.shut {
            return false;
        }
        self.buffered.fetch_add(total, Ordering::AcqRel);
        out.pieces.extend(pieces);
        true
    }

    /// Sends what is queued, as far as the socket takes it now; the writer task sends the
    /// rest when it can.
    fn kick(self: &Arc<Self>, env: Option<&Env>) {
        let mut out = lock(&self.out);
        if out.writing || out.shut || out.pieces.is_empty() {
            return;
        }
        match self.send_some(&mut out) {
            Ok(true) => {
                drop(out);
                if let Some(env) = env {
                    self.settle_drained(env);
                    self.unthrottle(env);
                } else {
                    self.post_drained();
                }
            }
            Ok(false) => {
                out.writing = true;
                drop(out);
                self.wake_writer.notify_one();
            }
            Err(_) => {
                // The reader sees the failure too and reports the close.
                self.drop_queue(&mut out);
                drop(out);
                self.cut();
            }
        }
    }

    /// Nothing more will be sent: the queue is dropped (held memory let go) and counts as empty.
    fn drop_queue(&self, out: &mut Out) {
        out.shut = true;
        out.pieces = VecDeque::new();
        self.buffered.store(0, Ordering::Release);
    }

    /// Sends queued frames until the queue is empty (`true`) or the socket is full.
    fn send_some(&self, out: &mut Out) -> io::Result<bool> {
        while !out.pieces.is_empty() {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(out.pieces.len().min(IOV_BATCH));
            for p in out.pieces.iter().take(IOV_BATCH) {
                let (slice, whole) = io_slice(p);
                slices.push(slice);
                if !whole {
                    break;
                }
            }
            let sent = self.with_io(|io| io.send(&slices));
            let mut n = match sent.unwrap_or_else(|| Err(io::ErrorKind::NotConnected.into())) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            };
            drop(slices);
            self.buffered.fetch_sub(n as u64, Ordering::AcqRel);
            while n > 0 {
                let front = out.pieces.front_mut().expect("sent bytes were queued");
                if n >= front.len() {
                    n -= front.len();
                    out.pieces.pop_front();
                } else {
                    let _ = front.split_to(n);
                    n = 0;
                }
            }
        }
        Ok(true)
    }

    /// Sends what `enqueue` could not, as the socket becomes writable.
    async fn writer(self: Arc<Self>, transport: Io) {
        loop {
            self.wake_writer.notified().await;
            if lock(&self.out).shut {
                return;
            }
            loop {
                let Ok(mut guard) = transport.ready(Interest::WRITABLE).await else {
                    return;
                };
                let mut out = lock(&self.out);
                if out.shut {
                    return;
                }
                let sent = guard.try_io(|_| match self.send_some(&mut out) {
                    Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
                    other => other,
                });
                match sent {
                    // Full: the readiness was cleared; wait again.
                    Err(_) => continue,
                    Ok(Ok(_)) => {
                        out.writing = false;
                        drop(out);
                        self.post_drained();
                        break;
                    }
                    Ok(Err(_)) => {
                        self.drop_queue(&mut out);
                        drop(out);
                        self.cut();
                        return;
                    }
                }
            }
        }
    }

    /// Resolves the `drained()` promises (JS thread).
    fn settle_drained(&self, env: &Env) {
        let waiting = std::mem::take(&mut *lock(&self.drained));
        for d in waiting {
            d.settle(env, Ok(()));
        }
    }

    /// The queue is empty (or failed): settles `drained()` and lets a throttled reader read
    /// again, on the JS thread.
    fn post_drained(self: &Arc<Self>) {
        if lock(&self.drained).is_empty() && !self.throttled.load(Ordering::Acquire) {
            return;
        }
        let me = self.clone();
        self.js.post(move |env| {
            me.settle_drained(env);
            me.unthrottle(env);
        });
    }

    /// Reads again after a throttle, once the queue is back under the limit (JS thread).
    fn unthrottle(self: &Arc<Self>, env: &Env) {
        let queued = self.buffered.load(Ordering::Acquire);
        let failed = lock(&self.out).shut;
        if (queued <= self.limit || failed) && self.throttled.swap(false, Ordering::AcqRel) {
            self.watch_poll();
            // What arrived meanwhile, or the end, is read now.
            self.pump(env);
        }
    }

    /// Starts or stops the poll: it runs unless JS paused reading or the queue is full.
    fn watch_poll(&self) {
        let on = !self.paused.load(Ordering::Acquire) && !self.throttled.load(Ordering::Acquire);
        if let Some(poll) = lock(&self.poll).as_ref() {
            poll.resume(on);
        }
    }

    /// Starts the closing handshake with `code` and `reason` (once); the connection is
    /// dropped if the peer does not answer within [`CLOSE_TIMEOUT`].
    fn close(self: &Arc<Self>, code: u16, reason: &str) {
        if self.sent_close.swap(true, Ordering::AcqRel) {
            return;
        }
        self.enqueue(
            self.control(Opcode::Close, &codec::close_payload(code, reason)),
            None,
        );
        let me = Arc::downgrade(self);
        self.js.spawn(async move {
            tokio::time::sleep(CLOSE_TIMEOUT).await;
            if let Some(me) = me.upgrade() {
                me.cut();
            }
        });
    }

    /// Waits (bounded) for the queue to empty, then shuts the socket.
    async fn flush_and_shut(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while !lock(&self.out).pieces.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.release();
    }

    /// Reads what is there, parses it, answers pings, and delivers the messages to JS in
    /// one call; finishes the connection at its end. Called by the poll on the JS thread.
    fn pump(self: &Arc<Self>, env: &Env) {
        let mut messages = Vec::new();
        let mut ended = None;
        {
            let mut rx = lock(&self.rx);
            if rx.done {
                return;
            }
            let Rx {
                parser,
                buf,
                events,
                ..
            } = &mut *rx;
            for round in 0..=READS_PER_WAKE {
                // Parse what is there first (the bytes that came with the handshake, too),
                // and last: nothing read is left unparsed when the callback returns.
                match parser.parse(buf, events) {
                    Ok(used) => {
                        buf.drain(..used);
                    }
                    Err(v) => {
                        self.take_messages(events, &mut messages);
                        self.close(v.code(), &v.to_string());
                        ended = Some((v.code(), v.to_string()));
                        break;
                    }
                }
                if let Some(done) = self.handle(events, &mut messages) {
                    ended = Some(done);
                    break;
                }
                if round == READS_PER_WAKE {
                    // The rest waits for the next callback (the poll is level-triggered).
                    break;
                }
                if self.buffered.load(Ordering::Acquire) > self.limit {
                    // The peer is not taking what we send (pongs included): read no more
                    // until it has, so what it makes us queue stays bounded.
                    self.throttled.store(true, Ordering::Release);
                    break;
                }
                buf.reserve(READ_CHUNK);
                let got = self.with_io(|io| io.recv(buf.spare_capacity_mut(), false));
                match got.unwrap_or(Ok(0)) {
                    Ok(0) => {
                        ended = Some(self.abnormal());
                        break;
                    }
                    Ok(n) => {
                        // SAFETY: recv initialised the first `n` bytes of the spare capacity.
                        unsafe { buf.set_len(buf.len() + n) };
                        self.heard.store(true, Ordering::Release);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        ended = Some(self.abnormal());
                        break;
                    }
                }
            }
            if ended.is_some() {
                rx.done = true;
            }
            if self.throttled.load(Ordering::Acquire) && ended.is_none() {
                self.watch_poll();
                // The queue may have drained in the meantime, before the flag was seen.
                if self.buffered.load(Ordering::Acquire) <= self.limit {
                    let me = self.clone();
                    self.js.post(move |env| me.unthrottle(env));
                }
            }
            if rx.buf.is_empty() {
                // Nothing partial waits: an idle connection keeps no read buffer (a thousand
                // open connections would otherwise hold 64 KiB each).
                rx.buf = Vec::new();
            }
        }
        self.deliver(env, messages);
        if let Some((code, reason)) = ended {
            self.finish(env, code, reason);
        }
    }

    /// The code and reason of a connection that ended without a closing handshake.
    fn abnormal(&self) -> (u16, String) {
        let why = if self.timed_out.load(Ordering::Acquire) {
            "no answer to a ping"
        } else {
            ""
        };
        (code::ABNORMAL, why.to_string())
    }

    /// The connection is over (JS thread): stop reading, let go of the event loop, send
    /// what is queued (briefly) and close the socket, and tell JS.
    fn finish(self: &Arc<Self>, env: &Env, code: u16, reason: String) {
        self.over.store(true, Ordering::Release);
        {
            // What was read and not delivered is dropped now, not when JS lets go of the
            // object: V8 does not see this memory, so it would not hurry to collect it.
            let mut rx = lock(&self.rx);
            rx.done = true;
            rx.buf = Vec::new();
            rx.events = Vec::new();
            rx.parser = Parser::new(self.role, 0);
        }
        if let Some(poll) = lock(&self.poll).take() {
            poll.close(env);
        }
        if let Some(r) = &self.registry {
            lock(&r.0).remove(&self.id);
        }
        self.keep.set(env, false);
        let me = self.clone();
        self.js.spawn(async move { me.flush_and_shut().await });
        self.settle_drained(env);
        with_events(env, |env, ev| {
            if let Ok(f) = ev.close.borrow_back(env) {
                let _ = f.call((self.id, code as u32, reason).into());
            }
        });
    }

    /// Answers pings, collects messages; `Some` when a close frame ended the connection.
    fn handle(
        self: &Arc<Self>,
        events: &mut Vec<Incoming>,
        messages: &mut Vec<Message>,
    ) -> Option<(u16, String)> {
        let mut closed = None;
        for ev in events.drain(..) {
            match ev {
                Incoming::Message { text, data } => messages.push(message(text, data)),
                Incoming::Ping(p) => self.enqueue(self.control(Opcode::Pong, &p), None),
                Incoming::Pong(_) => {}
                Incoming::Close { code: c, reason } => {
                    // Echo the code and reason (none if none came), as RFC 6455 section 5.5.1
                    // asks and `ws` does.
                    if !self.sent_close.swap(true, Ordering::AcqRel) {
                        let payload = c
                            .map(|c| codec::close_payload(c, &reason))
                            .unwrap_or_default();
                        self.enqueue(self.control(Opcode::Close, &payload), None);
                    }
                    closed = Some((c.unwrap_or(code::NO_STATUS), reason));
                }
            }
        }
        closed
    }

    fn take_messages(&self, events: &mut Vec<Incoming>, messages: &mut Vec<Message>) {
        for ev in events.drain(..) {
            if let Incoming::Message { text, data } = ev {
                messages.push(message(text, data));
            }
        }
    }

    /// Hands `messages` to JS in one call (JS thread).
    fn deliver(&self, env: &Env, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        with_events(env, |env, ev| {
            if let Ok(f) = ev.messages.borrow_back(env) {
                let _ = f.call((self.id, messages).into());
            }
        });
    }
}

/// A parsed message as JS gets it.
fn message(text: bool, data: Vec<u8>) -> Message {
    if text {
        // Checked UTF-8 by the parser.
        Either::A(String::from_utf8(data).unwrap_or_default())
    } else {
        Either::B(OutBytes(data))
    }
}

/// The connection options lib/ws.js checked.
#[napi(object)]
#[derive(Clone)]
pub struct WsOptions {
    /// Bytes of one message, then the connection is closed with 1009.
    pub max_payload: f64,
    /// Bytes queued past which `send()` returns false.
    pub backpressure_limit: f64,
    /// Milliseconds between pings; 0: no pings.
    pub ping_interval: f64,
}

/// A WebSocket connection (the native half of `lib/ws.js`'s `WebSocket`).
#[napi]
pub struct NativeWebSocket {
    pub(crate) ws: Arc<Ws>,
}

impl NativeWebSocket {
    /// Wraps a connection that just opened: it holds the event loop until it is over.
    pub(crate) fn opened(env: &Env, ws: Arc<Ws>) -> NativeWebSocket {
        if !ws.over.load(Ordering::Acquire) {
            ws.keep.set(env, true);
        }
        NativeWebSocket { ws }
    }
}

/// Frames the messages of `list`, for `ws` (text for strings, binary otherwise).
fn frames_of(ws: &Ws, list: &WriteList) -> napi::Result<Vec<Bytes>> {
    let mut pieces = Vec::new();
    for item in list.parse(MAX_HEADER)? {
        let item = item?;
        let (len, text) = (item.len, item.text);
        let (head, rest) = item.into_pieces();
        let op = if text { Opcode::Text } else { Opcode::Binary };
        pieces.extend(ws.frame(op, head, rest, len));
    }
    Ok(pieces)
}

#[napi]
impl NativeWebSocket {
    /// How lib/ws.js knows this connection in its events.
    #[napi(getter)]
    pub fn id(&self) -> u32 {
        self.ws.id
    }

    /// Bytes queued and not yet taken by the kernel.
    #[napi(getter)]
    pub fn buffered_amount(&self) -> f64 {
        self.ws.buffered.load(Ordering::Acquire) as f64
    }

    /// Sends each message of `list` (a string as text, bytes as binary) in order; returns
    /// the bytes still queued afterwards. Small payloads are copied now, large ones held
    /// until sent. After the close, messages are dropped.
    #[napi(ts_args_type = "list: Array<string | ArrayBufferView>")]
    pub fn send_batch(&self, env: Env, list: WriteList) -> napi::Result<f64> {
        let pieces = frames_of(&self.ws, &list)?;
        if !self.ws.sent_close.load(Ordering::Acquire) {
            self.ws.enqueue(pieces, Some(&env));
        }
        Ok(self.buffered_amount())
    }

    /// Resolves once everything queued has been handed to the kernel (or the connection
    /// is over).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn drained(&self, env: Env) -> napi::Result<Promise> {
        // A broadcast's messages may wait for the end of the turn: send them now.
        self.ws.kick(Some(&env));
        let (done, promise) = Deferred::new(&env)?;
        let mut waiting = lock(&self.ws.drained);
        if self.ws.buffered.load(Ordering::Acquire) == 0 || self.ws.over.load(Ordering::Acquire) {
            drop(waiting);
            done.settle(&env, Ok(()));
        } else {
            waiting.push(done);
        }
        Ok(promise)
    }

    /// Starts the closing handshake; lib/ws.js checked the code and reason.
    #[napi]
    pub fn close(&self, env: Env, code: u32, reason: String) -> napi::Result<()> {
        sync_call(&env, || {
            self.ws.close(code as u16, &reason);
            Ok(())
        })
    }

    /// Stops (`true`) or resumes reading (an async iterator whose consumer is behind).
    #[napi]
    pub fn pause(&self, paused: bool) {
        self.ws.paused.store(paused, Ordering::Release);
        self.ws.watch_poll();
    }
}

/// Queues `data` on every open connection of `registry` from one framing (sent by
/// [`flush`]); returns how many.
pub(crate) fn broadcast(registry: &Registry, list: &WriteList) -> napi::Result<u32> {
    let all = registry.all();
    let Some(first) = all.first() else {
        return Ok(0);
    };
    // Server frames are unmasked: one framing serves every connection.
    let pieces = frames_of(first, list)?;
    let mut n = 0;
    for ws in &all {
        if !ws.sent_close.load(Ordering::Acquire) && ws.queue(pieces.clone()) {
            n += 1;
        }
    }
    Ok(n)
}

/// Sends what broadcasts queued on every connection of `registry` (lib/http.js calls it
/// once per turn of the event loop: a turn's broadcasts leave in one `sendmsg` per
/// connection).
pub(crate) fn flush(registry: &Registry, env: &Env) {
    for ws in registry.all() {
        ws.kick(Some(env));
    }
}

/// The error of a failed client handshake.
fn handshake_error(status: u16, why: impl std::fmt::Display) -> AbioError {
    CoreError::WsHandshake {
        status,
        reason: why.to_string(),
    }
    .into()
}

/// The client's opening handshake (RFC 6455 section 4.1) on a new connection to
/// `host:port`, through hyper's HTTP/1.1 client; the connection and the bytes that came
/// after the 101 answer.
async fn handshake(
    host: String,
    port: u16,
    target: String,
    headers: Vec<(HeaderName, HeaderValue)>,
) -> AbioResult<(Transport, Vec<u8>)> {
    let sock = open(&Target::Tcp(host.clone(), port)).await?;
    let _ = sock.set_tcp_nodelay(true);
    let stream = Transport::new(sock).map_err(|e| CoreError::net(e, "connect"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| handshake_error(0, e))?;
    rt().spawn(conn.with_upgrades());
    let mut nonce = [0u8; 16];
    codec::fill_random(&mut nonce);
    let key = codec::base64(&nonce);
    let mut req = hyper::Request::new(Empty::new());
    *req.uri_mut() = target.parse().map_err(|e| handshake_error(0, e))?;
    let h = req.headers_mut();
    for (n, v) in headers {
        h.append(n, v);
    }
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let set = |h: &mut hyper::HeaderMap, n: HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(n, v);
        }
    };
    if !h.contains_key(header::HOST) {
        set(h, header::HOST, &authority);
    }
    set(h, header::UPGRADE, "websocket");
    set(h, header::CONNECTION, "Upgrade");
    set(h, header::SEC_WEBSOCKET_KEY, &key);
    set(h, header::SEC_WEBSOCKET_VERSION, "13");
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| handshake_error(0, e))?;
    let status = res.status().as_u16();
    if status != 101 {
        return Err(handshake_error(
            status,
            "the server did not switch protocols",
        ));
    }
    let accept = res.headers().get(header::SEC_WEBSOCKET_ACCEPT);
    if accept.is_none_or(|a| a.as_bytes() != codec::accept_key(key.as_bytes()).as_bytes()) {
        return Err(handshake_error(status, "a wrong Sec-WebSocket-Accept"));
    }
    let up = hyper::upgrade::on(res)
        .await
        .map_err(|e| handshake_error(status, e))?;
    let parts = up
        .downcast::<TokioIo<Transport>>()
        .map_err(|_| handshake_error(status, "the connection could not be taken over"))?;
    Ok((parts.io.into_inner(), parts.read_buf.to_vec()))
}

/// Connects to a WebSocket server at `host:port`, asking for `target` with `headers` (name,
/// value, ...); resolves with the open connection. lib/ws.js turned the `ws:` URL into
/// these.
#[napi(ts_return_type = "Promise<NativeWebSocket>")]
#[allow(
    clippy::too_many_arguments,
    reason = "a #[napi] function's arguments are its JS signature (lib/ checked them)"
)]
pub fn connect_web_socket(
    env: Env,
    host: String,
    port: u32,
    target: String,
    headers: Vec<String>,
    options: WsOptions,
    token: Option<ClassInstance<CancelToken>>,
) -> napi::Result<Promise> {
    let headers = sync_call(&env, || header_pairs(&headers, "options.headers"))?;
    let (done, promise) = Deferred::new(&env)?;
    let js = Js::of(&env)?;
    // A connect in progress holds the event loop, as `connect()` does.
    let keep = Arc::new(KeepAlive::default());
    keep.set(&env, true);
    let cancel = cancel_of(token);
    rt().spawn(async move {
        let aborted = woken_on_cancel(&cancel);
        let result = tokio::select! {
            r = handshake(host, port as u16, target, headers) => r,
            _ = aborted.notified() => Err(CoreError::Aborted.into()),
        };
        let back = js.clone();
        match result {
            Ok((stream, early)) => {
                let ws = Ws::new(stream, Role::Client, &options, js, None);
                back.post(move |env| {
                    keep.set(env, false);
                    let native = NativeWebSocket::opened(env, ws.clone());
                    done.settle(env, Ok(native));
                    ws.run(env, early);
                });
            }
            Err(e) => {
                back.post(move |env| {
                    keep.set(env, false);
                    done.settle::<()>(env, Err(e));
                });
            }
        }
    });
    Ok(promise)
}
