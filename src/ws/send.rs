//! What a WebSocket sends: frames (a server's payload is the caller's memory after its
//! header; a client's is masked, in a copy) queued in order, sent from the JS thread as far
//! as the socket takes them, the rest by the writer task as it becomes writable; and the
//! `drained()` promises the emptied queue settles.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use abio_core::net::io_slice;
use abio_core::ws::{self as codec, Opcode, Role, MAX_HEADER};
use bytes::Bytes;
use napi::Env;
use tokio::io::Interest;

use super::conn::Ws;
use crate::net::{lock, Io};

/// Most frames in one `sendmsg`.
const IOV_BATCH: usize = 512;

/// Frames waiting to be sent.
#[derive(Default)]
pub(super) struct SendQueue {
    pub(super) pieces: VecDeque<Bytes>,
    /// The writer task owns sending until the queue is empty.
    pub(super) writing: bool,
    /// Nothing more is sent (the connection is gone).
    pub(super) shut: bool,
}

impl Ws {
    /// The frame of one message: header, then payload pieces (the caller's memory where
    /// held). A client's frame is masked, in a copy.
    pub(super) fn frame(
        &self,
        opcode: Opcode,
        head: Vec<u8>,
        rest: Vec<Bytes>,
        len: usize,
    ) -> Vec<Bytes> {
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

    /// The frame of one message compressed with permessage-deflate (RSV1 set): header, then
    /// `payload`, masked in place by a client.
    pub(super) fn frame_compressed(&self, opcode: Opcode, mut payload: Vec<u8>) -> Vec<Bytes> {
        let mask = (self.role == Role::Client).then(|| lock(&self.masks).next_key());
        let mut h = [0u8; MAX_HEADER];
        let n = codec::header_with(opcode, payload.len() as u64, mask, true, &mut h);
        if let Some(key) = mask {
            codec::apply_mask(&mut payload, key, 0);
        }
        vec![Bytes::copy_from_slice(&h[..n]), Bytes::from(payload)]
    }

    /// A control frame (close, ping, pong) with `payload`.
    pub(super) fn control(&self, opcode: Opcode, payload: &[u8]) -> Vec<Bytes> {
        let mut head = vec![0u8; MAX_HEADER];
        head.extend_from_slice(payload);
        self.frame(opcode, head, Vec::new(), payload.len())
    }

    /// Queues `pieces` and sends what the socket takes now (any thread); the writer task
    /// sends the rest. `env` is given on the JS thread, to settle `drained()` there.
    pub(super) fn enqueue(self: &Arc<Self>, pieces: Vec<Bytes>, env: Option<&Env>) {
        if self.queue(pieces) {
            self.kick(env);
        }
    }

    /// Queues `pieces` without sending them yet (a broadcast: [`Ws::kick`] sends the
    /// turn's messages together); false when the connection is gone.
    pub(super) fn queue(&self, pieces: Vec<Bytes>) -> bool {
        let total: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        let mut out = lock(&self.out);
        if out.shut {
            return false;
        }
        self.buffered.fetch_add(total, Ordering::AcqRel);
        out.pieces.extend(pieces);
        true
    }

    /// Whether a `broadcast` or `publish` may queue more: under `backpressureLimit`, after
    /// sending what the socket takes now if over it.
    pub(super) fn has_room(self: &Arc<Self>) -> bool {
        if self.buffered.load(Ordering::Acquire) <= self.limit {
            return true;
        }
        self.kick(None);
        self.buffered.load(Ordering::Acquire) <= self.limit
    }

    /// Sends what is queued, as far as the socket takes it now; the writer task sends the
    /// rest when it can.
    pub(super) fn kick(self: &Arc<Self>, env: Option<&Env>) {
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
    pub(super) fn drop_queue(&self, out: &mut SendQueue) {
        out.shut = true;
        out.pieces = VecDeque::new();
        self.buffered.store(0, Ordering::Release);
    }

    /// Sends queued frames until the queue is empty (`true`) or the socket is full.
    pub(super) fn send_some(&self, out: &mut SendQueue) -> io::Result<bool> {
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
    pub(super) async fn writer(self: Arc<Self>, transport: Io) {
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
                let sent = guard.try_io(|| match self.send_some(&mut out) {
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
    pub(super) fn settle_drained(&self, env: &Env) {
        let waiting = std::mem::take(&mut *lock(&self.drained));
        for d in waiting {
            d.settle(env, Ok(()));
        }
    }

    /// The queue is empty (or failed): settles `drained()` and lets a throttled reader read
    /// again, on the JS thread.
    pub(super) fn post_drained(self: &Arc<Self>) {
        if lock(&self.drained).is_empty() && !self.throttled.load(Ordering::Acquire) {
            return;
        }
        let me = self.clone();
        self.js.post(move |env| {
            me.settle_drained(env);
            me.unthrottle(env);
        });
    }
}
