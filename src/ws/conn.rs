//! One WebSocket connection's shared state ([`Ws`]), held by its JS object, its tasks and
//! its server's [`Registry`]: how it starts reading (on the JS thread, through
//! [`JsPoll`]), pings a silent peer, closes (the closing handshake, then the socket) and
//! lets go of its transport.

use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abio_core::ws::{self as codec, code, Agreed, Deflater, Masks, Opcode, Parser, Role};
use napi::Env;
use tokio::sync::Notify;

use super::receive::{with_events, Rx};
use super::registry::{Registry, Topics};
use super::send::SendQueue;
use super::WsOptions;
use crate::net::transport::Transport;
use crate::net::{describe, lock, Io};
use crate::runtime::{Deferred, Js, JsPoll, KeepAlive};

/// How long a closing handshake may take before the connection is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the opening handshake settled for a connection.
pub(crate) struct Opened {
    /// How lib/ws.js knows the connection (chosen before the handshake ends: an upgrade
    /// hook's `data` waits in JS under it).
    pub(crate) id: u32,
    /// The subprotocol agreed (`Sec-WebSocket-Protocol`), or empty.
    pub(crate) protocol: String,
    /// The extensions agreed (`Sec-WebSocket-Extensions`), or empty.
    pub(crate) extensions: String,
    /// permessage-deflate, when agreed.
    pub(crate) deflate: Option<Agreed>,
}

/// A new connection's id.
pub(crate) fn next_id() -> u32 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// One WebSocket connection.
pub(crate) struct Ws {
    pub(super) id: u32,
    pub(super) role: Role,
    pub(super) protocol: String,
    pub(super) extensions: String,
    /// The peer's address, as `net`'s `remoteAddress`.
    pub(super) remote: String,
    /// The compression context of what this end sends, when permessage-deflate was agreed.
    pub(super) deflate: Option<Mutex<Deflater>>,
    /// Messages shorter than this are sent uncompressed.
    pub(super) threshold: usize,
    /// The transport, until the connection is over: then it is let go at once, not when
    /// the JS object is collected. The writer task holds it too while it runs. Every call on
    /// it goes through [`Ws::with_io`], so none reaches a descriptor number reused since.
    pub(super) sock: Mutex<Option<Io>>,
    pub(super) out: Mutex<SendQueue>,
    /// Bytes queued and not yet taken by the kernel (`bufferedAmount`).
    pub(super) buffered: AtomicU64,
    pub(super) wake_writer: Notify,
    /// `drained()` promises waiting for the queue to empty.
    pub(super) drained: Mutex<Vec<Deferred>>,
    pub(super) sent_close: AtomicBool,
    /// Set once the connection is over (the reader stopped).
    pub(super) over: AtomicBool,
    /// What is read, on the JS thread.
    pub(super) rx: Mutex<Rx>,
    /// The JS thread's readiness of the socket, while reading.
    pub(super) poll: Mutex<Option<JsPoll>>,
    /// Something arrived since the last ping; a ping went unanswered (the drop's reason).
    pub(super) heard: AtomicBool,
    pub(super) timed_out: AtomicBool,
    /// JS paused reading (a consumer behind): silence is not a dead peer then.
    pub(super) paused: AtomicBool,
    /// More than `limit` bytes are queued to send: nothing more is read (a peer's pings would
    /// queue pongs without bound) until the queue has drained.
    pub(super) throttled: AtomicBool,
    /// `backpressureLimit`.
    pub(super) limit: u64,
    pub(super) masks: Mutex<Masks>,
    pub(super) ping_ms: u64,
    pub(super) js: Js,
    pub(super) keep: KeepAlive,
    pub(super) registry: Option<Arc<Registry>>,
    /// The topics it is subscribed to (a server's connection).
    pub(super) topics: Topics,
    /// Frames of a `broadcast` or `publish` wait for the registry's flush.
    pub(super) dirty: AtomicBool,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

impl Ws {
    /// A connection over `stream`; it reads once [`Ws::run`] is called (after JS was told
    /// of it: its messages must not reach JS before it does).
    pub(crate) fn new(
        stream: Transport,
        role: Role,
        opened: Opened,
        options: &WsOptions,
        js: Js,
        registry: Option<Arc<Registry>>,
    ) -> Arc<Ws> {
        let remote = describe(stream.peer_addr()).0;
        let stream = Arc::new(stream);
        let ws = Arc::new(Ws {
            id: opened.id,
            role,
            protocol: opened.protocol,
            extensions: opened.extensions,
            remote,
            deflate: opened.deflate.map(|a| Mutex::new(Deflater::new(&a, role))),
            threshold: options
                .per_message_deflate
                .as_ref()
                .map_or(0, |d| d.threshold as usize),
            sock: Mutex::new(Some(stream.clone())),
            out: Mutex::default(),
            buffered: AtomicU64::new(0),
            wake_writer: Notify::new(),
            drained: Mutex::default(),
            sent_close: AtomicBool::new(false),
            over: AtomicBool::new(false),
            rx: Mutex::new(Rx {
                parser: Parser::with_deflate(role, options.max_payload as u64, opened.deflate),
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
            topics: Topics::default(),
            dirty: AtomicBool::new(false),
        });
        if let Some(r) = &ws.registry {
            r.add(&ws);
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
    pub(super) fn torn_down(&self) {
        self.over.store(true, Ordering::Release);
        if let Some(r) = &self.registry {
            r.remove(self);
        }
        self.release();
    }

    /// The compression context to send a message of `len` bytes with: none without
    /// permessage-deflate or below the threshold.
    pub(super) fn compressor(&self, len: usize) -> Option<&Mutex<Deflater>> {
        self.deflate.as_ref().filter(|_| len >= self.threshold)
    }

    /// Runs `f` on the transport while it is held; `None` once it was let go.
    pub(super) fn with_io<T>(&self, f: impl FnOnce(&Transport) -> T) -> Option<T> {
        lock(&self.sock).as_deref().map(f)
    }

    /// Cuts the connection from any thread: the JS thread's reader sees its end (a throttled
    /// one is woken to read it).
    pub(super) fn cut(self: &Arc<Self>) {
        self.shut_socket();
        if self.throttled.swap(false, Ordering::AcqRel) {
            let me = self.clone();
            self.js.post(move |env| {
                me.watch_poll();
                me.pump(env);
            });
        }
    }

    pub(super) fn shut_socket(&self) {
        self.with_io(|io| io.shutdown(Shutdown::Both));
    }

    /// Ends the connection for good: drops what is queued, stops the writer task, shuts the
    /// socket down and lets go of it (it closes once the writer task has returned).
    pub(super) fn release(&self) {
        let mut out = lock(&self.out);
        self.drop_queue(&mut out);
        drop(out);
        self.wake_writer.notify_one();
        self.shut_socket();
        lock(&self.sock).take();
    }

    /// Starts the closing handshake with `code` and `reason` (once); the connection is
    /// dropped if the peer does not answer within [`CLOSE_TIMEOUT`].
    pub(super) fn close(self: &Arc<Self>, code: u16, reason: &str) {
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

    /// Ends the connection now, without a closing handshake (JS thread): drops the queue,
    /// closes the socket and tells JS (1006).
    pub(super) fn terminate(self: &Arc<Self>, env: &Env) {
        if self.over.load(Ordering::Acquire) {
            return;
        }
        self.sent_close.store(true, Ordering::Release);
        self.release();
        self.finish(env, code::ABNORMAL, String::new());
    }

    /// Waits (bounded) for the queue to empty, sends our end of the stream, and reads (and
    /// drops) what the peer still sends until it ends too (bounded), then lets go of the
    /// socket. Closing a socket with unread bytes would reset the connection, and a reset can
    /// destroy the closing frame before the peer reads it (a peer that broke the protocol is
    /// often still writing).
    pub(super) async fn flush_and_shut(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while !lock(&self.out).pieces.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if lock(&self.out).pieces.is_empty() {
            // Sent whole: FIN after it (a TLS session's close_notify goes first: retried
            // while it waits for room).
            while self
                .with_io(|io| io.shutdown(Shutdown::Write))
                .is_some_and(|r| {
                    r.as_ref()
                        .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock)
                })
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut scratch = vec![std::mem::MaybeUninit::new(0u8); 16 << 10];
            let mut pause = Duration::from_millis(2);
            let linger = tokio::time::Instant::now() + Duration::from_secs(1);
            loop {
                match self.with_io(|io| io.recv(&mut scratch, true)) {
                    Some(Ok(n)) if n > 0 => continue,
                    Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    _ => break, // the peer's end, a failure, or the socket let go
                }
                if tokio::time::Instant::now() >= linger {
                    break;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
        }
        self.release();
    }

    /// The code and reason of a connection that ended without a closing handshake.
    pub(super) fn abnormal(&self) -> (u16, String) {
        let why = if self.timed_out.load(Ordering::Acquire) {
            "no answer to a ping"
        } else {
            ""
        };
        (code::ABNORMAL, why.to_string())
    }

    /// The connection is over (JS thread): stop reading, let go of the event loop, send
    /// what is queued (briefly) and close the socket, and tell JS.
    pub(super) fn finish(self: &Arc<Self>, env: &Env, code: u16, reason: String) {
        if self.over.swap(true, Ordering::AcqRel) {
            return;
        }
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
            r.remove(self);
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
}
