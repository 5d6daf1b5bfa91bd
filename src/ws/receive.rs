//! What a WebSocket receives, on the JS thread: read when [`crate::runtime::JsPoll`] says
//! the socket is readable, parse, answer pings and closes, and hand each wake-up's
//! messages to `lib/ws.js` in one call ([`set_web_socket_callbacks`]); reading stops while
//! JS is behind or the peer does not take what it is sent.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use abio_core::ws::{self as codec, code, Incoming, Opcode, Parser};
use napi::bindgen_prelude::{Either, FnArgs, Function, FunctionRef};
use napi::{sys, Env};
use napi_derive::napi;

use super::conn::Ws;
use crate::bytes::OutBytes;
use crate::net::lock;

/// Reads per readiness callback at most, so that one busy connection cannot starve the
/// event loop.
const READS_PER_WAKE: usize = 16;
/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 << 10;
/// A message for JS: text, or an exact `ArrayBuffer`.
type Message = Either<String, OutBytes>;

thread_local! {
    /// `lib/ws.js`'s callbacks of this thread's environment.
    static EVENTS: RefCell<Option<(sys::napi_env, Events)>> = const { RefCell::new(None) };
}

pub(super) struct Events {
    pub(super) messages: FunctionRef<FnArgs<(u32, Vec<Message>, bool)>, ()>,
    pub(super) close: FunctionRef<FnArgs<(u32, u32, String)>, ()>,
    pub(super) pong: FunctionRef<FnArgs<(u32, OutBytes)>, ()>,
}

/// Registers `lib/ws.js`'s event callbacks for this thread: `(id, messages, last)` with every
/// message of one read (`last`: the connection ends after them), `(id, code, reason)` once
/// when a connection is gone, and `(id, payload)` for each pong.
#[napi]
pub fn set_web_socket_callbacks(
    env: Env,
    #[napi(
        ts_arg_type = "(id: number, messages: Array<string | ArrayBuffer>, last: boolean) => void"
    )]
    messages: Function<FnArgs<(u32, Vec<Message>, bool)>, ()>,
    #[napi(ts_arg_type = "(id: number, code: number, reason: string) => void")] close: Function<
        FnArgs<(u32, u32, String)>,
        (),
    >,
    #[napi(ts_arg_type = "(id: number, payload: ArrayBuffer) => void")] pong: Function<
        FnArgs<(u32, OutBytes)>,
        (),
    >,
) -> napi::Result<()> {
    let events = Events {
        messages: messages.create_ref()?,
        close: close.create_ref()?,
        pong: pong.create_ref()?,
    };
    EVENTS.with(|cell| *cell.borrow_mut() = Some((env.raw(), events)));
    Ok(())
}

pub(super) fn with_events(env: &Env, f: impl FnOnce(&Env, &Events)) {
    EVENTS.with(|cell| {
        if let Some((owner, events)) = cell.borrow().as_ref() {
            if *owner == env.raw() {
                f(env, events);
            }
        }
    });
}

/// How a read ended the connection.
enum End {
    /// The peer broke the protocol: close with this code and reason.
    Failed(u16, String),
    /// The peer's close frame: echo it.
    Closed(u16, String),
    /// The socket ended or failed without a closing handshake.
    Gone,
}

/// The read side, on the JS thread.
pub(super) struct Rx {
    pub(super) parser: Parser,
    pub(super) buf: Vec<u8>,
    pub(super) events: Vec<Incoming>,
    /// The connection is over: nothing more is read.
    pub(super) done: bool,
}

/// A parsed message as JS gets it.
pub(super) fn message(text: bool, data: Vec<u8>) -> Message {
    if text {
        // Checked UTF-8 by the parser.
        Either::A(String::from_utf8(data).unwrap_or_default())
    } else {
        Either::B(OutBytes(data))
    }
}

impl Ws {
    /// Reads again after a throttle, once the queue is back under the limit (JS thread).
    pub(super) fn unthrottle(self: &Arc<Self>, env: &Env) {
        let queued = self.buffered.load(Ordering::Acquire);
        let failed = lock(&self.out).shut;
        if (queued <= self.limit || failed) && self.throttled.swap(false, Ordering::AcqRel) {
            self.watch_poll();
            // What arrived meanwhile, or the end, is read now.
            self.pump(env);
        }
    }

    /// Reads again soon (JS thread, a callback of its own) when a TLS session holds
    /// decrypted bytes: the socket may be drained, so the poll would not call.
    pub(super) fn pump_buffered(self: &Arc<Self>) {
        if self.with_io(|io| io.buffered()) == Some(true) {
            let me = self.clone();
            self.js.post(move |env| me.pump(env));
        }
    }

    /// Starts or stops the poll: it runs unless JS paused reading or the queue is full.
    pub(super) fn watch_poll(&self) {
        let on = !self.paused.load(Ordering::Acquire) && !self.throttled.load(Ordering::Acquire);
        if let Some(poll) = lock(&self.poll).as_ref() {
            poll.resume(on);
        }
    }

    /// Reads what is there, parses it, answers pings, and delivers the messages to JS in
    /// one call; finishes the connection at its end. Called by the poll on the JS thread.
    pub(super) fn pump(self: &Arc<Self>, env: &Env) {
        let mut messages = Vec::new();
        let mut pongs = Vec::new();
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
                        // The messages before the violation are delivered (and what JS
                        // sends for them is queued) before the close frame.
                        self.take_messages(events, &mut messages);
                        ended = Some(End::Failed(v.code(), v.to_string()));
                        break;
                    }
                }
                if let Some((code, reason)) = self.handle(events, &mut messages, &mut pongs) {
                    ended = Some(End::Closed(code, reason));
                    break;
                }
                if round == READS_PER_WAKE {
                    // The rest waits for the next callback (the poll is level-triggered;
                    // what a TLS session holds decrypted gets a callback of its own).
                    self.pump_buffered();
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
                        ended = Some(End::Gone);
                        break;
                    }
                    Ok(n) => {
                        // SAFETY: recv initialised the first `n` bytes of the spare capacity.
                        unsafe { buf.set_len(buf.len() + n) };
                        self.heard.store(true, Ordering::Release);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        ended = Some(End::Gone);
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
        self.pongs(env, pongs);
        self.deliver(env, messages, false);
        let Some(end) = ended else { return };
        // Nothing more is read (the poll would call again at once for what is left).
        if let Some(poll) = lock(&self.poll).as_ref() {
            poll.resume(false);
        }
        // The closing frame waits until JS has handled these messages: after this callback's
        // microtasks (an async iterator's consumer, a handler's awaits) in a later callback.
        let me = self.clone();
        self.js.post(move |env| me.conclude(env, end));
    }

    /// Ends the connection after a read found its end (JS thread): JS first hands over what
    /// its handlers queued to send, which leaves before the closing frame.
    fn conclude(self: &Arc<Self>, env: &Env, end: End) {
        self.deliver(env, Vec::new(), true);
        let (code, reason) = match end {
            End::Failed(code, reason) => {
                self.close(code, &reason);
                (code, reason)
            }
            End::Closed(code, reason) => {
                self.echo_close(code, &reason);
                (code, reason)
            }
            End::Gone => self.abnormal(),
        };
        self.finish(env, code, reason);
    }

    /// Answers pings, collects messages and pongs; `Some` when a close frame ended the
    /// connection.
    pub(super) fn handle(
        self: &Arc<Self>,
        events: &mut Vec<Incoming>,
        messages: &mut Vec<Message>,
        pongs: &mut Vec<Vec<u8>>,
    ) -> Option<(u16, String)> {
        let mut closed = None;
        for ev in events.drain(..) {
            match ev {
                Incoming::Message { text, data } => messages.push(message(text, data)),
                Incoming::Ping(p) => self.enqueue(self.control(Opcode::Pong, &p), None),
                Incoming::Pong(p) => pongs.push(p),
                Incoming::Close { code: c, reason } => {
                    closed = Some((c.unwrap_or(code::NO_STATUS), reason));
                }
            }
        }
        closed
    }

    /// Answers the peer's close frame (once): echoes its code and reason (none if none came),
    /// as RFC 6455 section 5.5.1 asks and `ws` does.
    fn echo_close(self: &Arc<Self>, code: u16, reason: &str) {
        if !self.sent_close.swap(true, Ordering::AcqRel) {
            let payload = match code {
                code::NO_STATUS => Vec::new(),
                c => codec::close_payload(c, reason),
            };
            self.enqueue(self.control(Opcode::Close, &payload), None);
        }
    }

    pub(super) fn take_messages(&self, events: &mut Vec<Incoming>, messages: &mut Vec<Message>) {
        for ev in events.drain(..) {
            if let Incoming::Message { text, data } = ev {
                messages.push(message(text, data));
            }
        }
    }

    /// Tells JS of each pong (JS thread).
    fn pongs(&self, env: &Env, pongs: Vec<Vec<u8>>) {
        if pongs.is_empty() {
            return;
        }
        with_events(env, |env, ev| {
            if let Ok(f) = ev.pong.borrow_back(env) {
                for p in pongs {
                    let _ = f.call((self.id, OutBytes(p)).into());
                }
            }
        });
    }

    /// Hands `messages` to JS in one call (JS thread); `last`: the connection ends after
    /// them, so JS hands over what it queued to send before this returns.
    pub(super) fn deliver(&self, env: &Env, messages: Vec<Message>, last: bool) {
        if messages.is_empty() && !last {
            return;
        }
        with_events(env, |env, ev| {
            if let Ok(f) = ev.messages.borrow_back(env) {
                let _ = f.call((self.id, messages, last).into());
            }
        });
    }
}
