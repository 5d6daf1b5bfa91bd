//! WebSocket connections (design.md section 8), both roles, over the codec of
//! [`abio_core::ws`]. A server's connections come from an upgrade on its HTTP port
//! (src/http/, which hands it to [`upgrade`]); a client's from [`connect_web_socket`].
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
//! Receiving: on the JS thread, from Node's own event loop ([`crate::runtime::JsPoll`], a libuv poll
//! handle): read, parse, answer pings, and hand each wake-up's messages to JS in one call,
//! with no thread hop (a hop to a runtime thread and back cost the echo case half its
//! speed). An async iterator whose consumer is behind stops the poll until it catches up.
//!
//! Here: the JS class, `broadcast` and its flush. One connection's state and lifecycle are
//! [`conn`]; sending, [`send`]; receiving, [`receive`]; the client's handshake, [`client`].
//! The socket's bytes pass through src/net/transport.rs.
//!
//! Measured (bench/ws.js, 2 cores, against `ws` with bufferutil, client and server of each
//! stack in their own processes): a stream of 1 KiB messages ~4x, echo with 32 in flight
//! ~1.9-2.3x, broadcast to 100 clients ~2.9-3.2x.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use abio_core::ws::{DeflateOptions, Opcode, MAX_HEADER};
use bytes::Bytes;
use napi::Env;
use napi_derive::napi;

pub use self::client::connect_web_socket;
pub(crate) use self::conn::Ws;
pub use self::receive::set_web_socket_callbacks;
use crate::bytes::{CopiedBytes, WriteList};
use crate::error::sync_call;
use crate::net::lock;
use crate::runtime::{Deferred, Promise};

pub mod client;
mod conn;
pub mod receive;
mod registry;
mod send;
pub mod upgrade;

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
    /// permessage-deflate: offered (a client) or accepted (a server) when given.
    pub per_message_deflate: Option<DeflateSpec>,
}

/// `perMessageDeflate` as lib/ws.js checked it (RFC 7692's parameters).
#[napi(object)]
#[derive(Clone)]
pub struct DeflateSpec {
    /// Messages shorter than this many bytes are sent uncompressed.
    pub threshold: f64,
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The server's largest LZ77 window, as a base-2 logarithm (9-15).
    pub server_max_window_bits: u32,
    /// The client's largest LZ77 window, as a base-2 logarithm (9-15).
    pub client_max_window_bits: u32,
}

impl DeflateSpec {
    /// The codec's options.
    pub(crate) fn options(&self) -> DeflateOptions {
        DeflateOptions {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: self.server_max_window_bits as u8,
            client_max_window_bits: self.client_max_window_bits as u8,
        }
    }
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

/// Which messages of a list are compressed, on a connection that agreed to permessage-deflate
/// (and over its threshold).
#[derive(Clone, Copy)]
enum Compress<'a> {
    /// All but those at these indices (`send(data, { compress: false })`).
    Except(&'a [u32]),
    /// None: one framing shared by several connections.
    Never,
}

/// Frames the messages of `list`, for `ws` (text for strings, binary otherwise).
fn frames_of(ws: &Ws, list: &WriteList, compress: Compress<'_>) -> napi::Result<Vec<Bytes>> {
    let mut pieces = Vec::new();
    for (i, item) in list.parse(MAX_HEADER)?.into_iter().enumerate() {
        let item = item?;
        let (len, text) = (item.len, item.text);
        let (head, rest) = item.into_pieces();
        let op = if text { Opcode::Text } else { Opcode::Binary };
        let allowed = match compress {
            Compress::Except(plain) => !plain.contains(&(i as u32)),
            Compress::Never => false,
        };
        match ws.compressor(len).filter(|_| allowed) {
            Some(d) => {
                let mut parts: Vec<&[u8]> = vec![&head[MAX_HEADER..]];
                parts.extend(rest.iter().map(|r| &r[..]));
                let payload = lock(d).compress_parts(&parts);
                pieces.extend(ws.frame_compressed(op, payload));
            }
            None => pieces.extend(ws.frame(op, head, rest, len)),
        }
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

    /// The subprotocol agreed in the handshake, or `''`.
    #[napi(getter)]
    pub fn protocol(&self) -> String {
        self.ws.protocol.clone()
    }

    /// The extensions agreed in the handshake (`Sec-WebSocket-Extensions`), or `''`.
    #[napi(getter)]
    pub fn extensions(&self) -> String {
        self.ws.extensions.clone()
    }

    /// The peer's address, as `net`'s `remoteAddress`.
    #[napi(getter)]
    pub fn remote_address(&self) -> String {
        self.ws.remote.clone()
    }

    /// Bytes queued and not yet taken by the kernel.
    #[napi(getter)]
    pub fn buffered_amount(&self) -> f64 {
        self.ws.buffered.load(Ordering::Acquire) as f64
    }

    /// Sends each message of `list` (a string as text, bytes as binary) in order, compressed
    /// when the connection agreed to permessage-deflate and a message is over its threshold
    /// (except those at the indices of `plain`); returns the bytes still queued afterwards. Small payloads are copied now, large ones held
    /// until sent. After the close, messages are dropped.
    #[napi(ts_args_type = "list: Array<string | ArrayBufferView>, plain?: number[]")]
    pub fn send_batch(
        &self,
        env: Env,
        list: WriteList,
        plain: Option<Vec<u32>>,
    ) -> napi::Result<f64> {
        let plain = Compress::Except(plain.as_deref().unwrap_or_default());
        let pieces = frames_of(&self.ws, &list, plain)?;
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

    /// Sends a ping with `payload` (at most 125 bytes: lib/ws.js checked; copied), behind
    /// what is queued; the peer's pong comes back as an event. Nothing after the close.
    #[napi(ts_args_type = "payload: string | ArrayBufferView")]
    pub fn ping(&self, env: Env, payload: CopiedBytes) {
        if !self.ws.sent_close.load(Ordering::Acquire) {
            let frame = self.ws.control(Opcode::Ping, &payload.0);
            self.ws.enqueue(frame, Some(&env));
        }
    }

    /// Ends the connection at once, without the closing handshake: what is queued is
    /// dropped, the socket closed, and the close event (1006) comes before this returns.
    #[napi]
    pub fn terminate(&self, env: Env) {
        self.ws.terminate(&env);
    }

    /// Subscribes to `topic` (a server's connection); false when it already was.
    #[napi]
    pub fn subscribe(&self, topic: String) -> bool {
        let ws = &self.ws;
        ws.registry
            .as_ref()
            .is_some_and(|r| r.subscribe(ws, &topic))
    }

    /// Unsubscribes from `topic`; false when it was not subscribed.
    #[napi]
    pub fn unsubscribe(&self, topic: String) -> bool {
        let ws = &self.ws;
        ws.registry
            .as_ref()
            .is_some_and(|r| r.unsubscribe(ws, &topic))
    }

    /// Whether this connection is subscribed to `topic`.
    #[napi]
    pub fn is_subscribed(&self, topic: String) -> bool {
        lock(&self.ws.topics).contains(&topic)
    }

    /// The topics this connection is subscribed to.
    #[napi(getter)]
    pub fn subscriptions(&self) -> Vec<String> {
        lock(&self.ws.topics).iter().cloned().collect()
    }

    /// Queues `list`'s message on every subscriber of `topic` but this connection, framed
    /// once (sent at the end of the turn: lib/ws.js asks the server to flush); returns how
    /// many.
    #[napi(ts_args_type = "topic: string, list: Array<string | ArrayBufferView>")]
    pub fn publish(&self, topic: String, list: WriteList) -> napi::Result<u32> {
        match &self.ws.registry {
            Some(r) => r.publish(&topic, &list, Some(self.ws.id)),
            None => Ok(0),
        }
    }

    /// Sends what this server's `broadcast` and `publish` calls queued (lib/ws.js calls it
    /// once per turn after a `publish` from a connection).
    #[napi]
    pub fn flush_published(&self, env: Env) {
        if let Some(r) = &self.ws.registry {
            r.flush(&env);
        }
    }

    /// Stops (`true`) or resumes reading (an async iterator whose consumer is behind).
    #[napi]
    pub fn pause(&self, paused: bool) {
        self.ws.paused.store(paused, Ordering::Release);
        self.ws.watch_poll();
        if !paused {
            self.ws.pump_buffered();
        }
    }
}
