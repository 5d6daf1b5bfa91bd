//! A response body the `fetch` handler produces as it goes (a `ReadableStream` or async
//! iterable in lib/http.js): [`NativeBodySink`] is the JS end, [`Outflow`] the end hyper
//! reads. Chunks are the caller's memory, held (not copied) until hyper has written them.
//!
//! Backpressure as a Node `Writable`'s: `write()` always queues and returns `false` once
//! [`HIGH_WATER`] bytes wait, and `drained()` resolves when hyper has taken the queue below
//! half of it, so a producer that waits on it keeps memory bounded whatever the client's
//! speed. The client gone (hyper drops the body), `write()` throws and `drained()` rejects
//! with `ABIO_ERR_CLOSED`.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use abio_core::Error as CoreError;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use napi::Env;
use napi_derive::napi;

use crate::bytes::HeldBytes;
use crate::error::{sync_call, AbioError};
use crate::net::lock;
use crate::runtime::{Deferred, Js, Promise};

/// Bytes queued past which `write()` says `false`.
pub(crate) const HIGH_WATER: usize = 64 << 10;

/// What both ends see.
struct State {
    queue: VecDeque<Bytes>,
    queued: usize,
    /// `end()` was called: the body ends once the queue is empty.
    ended: bool,
    /// `abort()` was called: the body fails, so the client sees a cut response.
    aborted: bool,
    /// hyper dropped the body (sent whole, or the client left).
    gone: bool,
    /// hyper's task, waiting for a chunk.
    waker: Option<Waker>,
    /// `drained()` promises waiting for room.
    drains: Vec<Deferred>,
}

/// Called once with whether the client left before the body was sent whole.
type Departed = Box<dyn FnOnce(bool) + Send>;

struct Shared {
    state: Mutex<State>,
    js: Js,
    /// Told once whether the client left before the body was sent whole.
    departed: Mutex<Option<Departed>>,
}

impl Shared {
    /// Settles the `drained()` promises of `s` (on the JS thread): with `Ok` while the
    /// client takes the body, `ABIO_ERR_CLOSED` once it is gone.
    fn release(&self, s: &mut State) {
        if s.drains.is_empty() {
            return;
        }
        let drains = std::mem::take(&mut s.drains);
        let gone = s.gone;
        self.js.post(move |env| {
            for d in drains {
                let r = if gone {
                    Err(CoreError::Closed("response").into())
                } else {
                    Ok(())
                };
                d.settle(env, r);
            }
        });
    }
}

/// The end of a streamed body that hyper reads.
pub(crate) struct Outflow(Arc<Shared>);

/// The JS end of a streamed response body (lib/http.js feeds it from the handler's
/// `ReadableStream` or async iterable).
#[napi]
pub struct NativeBodySink(Arc<Shared>);

/// A new pipe: the sink for JS, the body for hyper. `departed(left)` is called once, when
/// hyper drops the body: `left` is whether the client went away before it was sent whole.
pub(crate) fn pipe(js: Js, departed: Departed) -> (NativeBodySink, Outflow) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            queued: 0,
            ended: false,
            aborted: false,
            gone: false,
            waker: None,
            drains: Vec::new(),
        }),
        js,
        departed: Mutex::new(Some(departed)),
    });
    (NativeBodySink(shared.clone()), Outflow(shared))
}

impl NativeBodySink {
    /// A sink whose body was never sent (the answer was refused: 413, 400): writes throw.
    pub(crate) fn closed(js: Js) -> NativeBodySink {
        let (sink, body) = pipe(js, Box::new(|_| {}));
        drop(body);
        sink
    }
}

#[napi]
impl NativeBodySink {
    /// Queues `part` (held, not copied, until written); `false` once [`HIGH_WATER`] bytes
    /// wait: then wait for `drained()`. Throws `ABIO_ERR_CLOSED` when the client is gone or
    /// the body ended.
    #[napi]
    pub fn write(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string | ArrayBufferView")] part: HeldBytes,
    ) -> napi::Result<bool> {
        sync_call(&env, || {
            let mut s = lock(&self.0.state);
            if s.gone || s.ended || s.aborted {
                return Err(CoreError::Closed("response").into());
            }
            if !part.0.is_empty() {
                s.queued += part.0.len();
                s.queue.push_back(part.0);
                if let Some(w) = s.waker.take() {
                    w.wake();
                }
            }
            Ok(s.queued < HIGH_WATER)
        })
    }

    /// Resolves once the queue is below half of [`HIGH_WATER`] (at once if it is);
    /// rejects with `ABIO_ERR_CLOSED` when the client is gone.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn drained(&self, env: Env) -> napi::Result<Promise> {
        let mut s = lock(&self.0.state);
        if s.gone {
            return Deferred::settled::<()>(
                &env,
                Err(AbioError::from(CoreError::Closed("response"))),
            );
        }
        if s.queued < HIGH_WATER / 2 {
            return Deferred::settled(&env, Ok(()));
        }
        let (d, p) = Deferred::new(&env)?;
        s.drains.push(d);
        Ok(p)
    }

    /// Ends the body once what is queued is sent. Further calls do nothing.
    #[napi]
    pub fn end(&self) {
        let mut s = lock(&self.0.state);
        s.ended = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    /// Fails the body (the handler's stream errored): the client sees a cut response (the
    /// connection closed without the body's end), never one that looks whole.
    #[napi]
    pub fn abort(&self) {
        let mut s = lock(&self.0.state);
        if !s.ended {
            s.aborted = true;
            s.queue.clear();
            s.queued = 0;
        }
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl hyper::body::Body for Outflow {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let shared = &self.0;
        let mut s = lock(&shared.state);
        if let Some(b) = s.queue.pop_front() {
            s.queued -= b.len();
            if s.queued < HIGH_WATER / 2 {
                shared.release(&mut s);
            }
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if s.aborted {
            return Poll::Ready(Some(Err(io::Error::other("the response stream failed"))));
        }
        if s.ended {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let s = lock(&self.0.state);
        s.ended && s.queue.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for Outflow {
    fn drop(&mut self) {
        let mut s = lock(&self.0.state);
        let left = !(s.ended && s.queue.is_empty());
        s.gone = true;
        s.waker = None;
        // What the client never took is released now (on this thread: HeldBytes allows it).
        s.queue.clear();
        s.queued = 0;
        self.0.release(&mut s);
        drop(s);
        if let Some(departed) = lock(&self.0.departed).take() {
            departed(left);
        }
    }
}
