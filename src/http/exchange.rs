//! A request handed to the JS `fetch` handler ([`dispatch`]): its body, read on demand
//! (`NativeRequest.body()`/`read()`/`bodyToFile()`), the handler's answer (`respond()`, or
//! `respondStream()` for a body produced as it goes, [`super::outflow`]), 413 or 400 when the
//! body was refused, and whether the client left before the answer was sent (`closed()`,
//! behind `request.signal`).

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use abio_core::{Cancel, Error as CoreError};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use napi::bindgen_prelude::{ClassInstance, ToNapiValue};
use napi::Env;
use napi_derive::napi;
use tokio::sync::oneshot;

use super::answer::{empty, Conditions};
use super::files::Dress;
use super::outflow::{pipe, NativeBodySink};
use super::timeouts::{Activity, Drawn};
use super::{files, invalid, Http};
use crate::body::{body_failed, body_to_file, body_to_vec, Body};
use crate::bytes::{HeldBytes, OutBytes};
use crate::cancel::{cancel_of, CancelToken};
use crate::error::{sync_call, AbioError};
use crate::headers::header_pairs;
use crate::headers::request_line;
use crate::net::lock;
use crate::runtime::{Deferred, Js, Promise};
use crate::write_options::write_options;

/// Bytes of an unread request body drained after the answer to keep the connection.
const DRAIN_MAX: usize = 64 << 10;

/// A request handed to the JS `fetch` handler: its body, read on demand, and the way back
/// for the response. Dropped unanswered (a handler that never answers, and is collected),
/// it answers 500.
struct Exchange {
    body: Mutex<Option<Drawn<Incoming>>>,
    reply: Mutex<Option<oneshot::Sender<Reply>>>,
    max_body: u64,
    /// Over `maxBodySize` (announced or found while reading): the answer is 413.
    too_large: AtomicBool,
    /// Not valid HTTP (a malformed chunked body): the answer is 400.
    malformed: AtomicBool,
    /// The client waits for `100 Continue` before sending the body.
    expects_continue: bool,
    /// A `HEAD`: the answer's `content-length` is what a `GET` would get.
    head: bool,
    /// Body bytes `read()` has handed out, against `max_body`.
    got: AtomicU64,
    /// `read()` reached the end of the body.
    body_ended: AtomicBool,
    /// Whether the client left before the answer was sent, once known, and the `closed()`
    /// promises waiting for it.
    fate: Mutex<(Option<bool>, Vec<Deferred>)>,
    js: Js,
}

impl Exchange {
    /// Settles `closed()` (once): `left` is whether the client went away before the answer
    /// was sent whole.
    fn depart(&self, left: bool) {
        let waiting = {
            let mut fate = lock(&self.fate);
            if fate.0.is_some() {
                return;
            }
            fate.0 = Some(left);
            std::mem::take(&mut fate.1)
        };
        if !waiting.is_empty() {
            self.js.post(move |env| {
                for d in waiting {
                    d.settle(env, Ok(left));
                }
            });
        }
    }

    /// Settles a read of the request body on the JS thread, noting first what a failure
    /// makes of the answer (413 past `maxBodySize`, 400 for a malformed body).
    fn settle_read<T: ToNapiValue + Send + 'static>(
        &self,
        done: Deferred,
        result: Result<T, CoreError>,
    ) {
        match result {
            Err(CoreError::BodyTooLarge { .. }) => self.too_large.store(true, Ordering::Release),
            Err(CoreError::HttpParse(_)) => self.malformed.store(true, Ordering::Release),
            _ => {}
        }
        let result = result.map_err(AbioError::from);
        self.js.post(move |env| done.settle(env, result));
    }

    /// The answer when the body was refused: 413 or 400, and the connection closed.
    fn refusal(&self) -> Option<Response<Body>> {
        let status = if self.too_large.load(Ordering::Acquire) {
            StatusCode::PAYLOAD_TOO_LARGE
        } else if self.malformed.load(Ordering::Acquire) {
            StatusCode::BAD_REQUEST
        } else {
            return None;
        };
        let mut r = empty(status);
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        Some(r)
    }

    /// Hands `reply` to the connection (the first answer only); a body the handler did not
    /// read is drained when small, so the connection can serve the next request (as Node
    /// does), else dropped, which closes it. One too large, or not sent yet
    /// (`Expect: 100-continue`), is not asked for.
    fn deliver(&self, reply: Reply) {
        let Some(tx) = lock(&self.reply).take() else {
            return;
        };
        let _ = tx.send(reply);
        let unread = lock(&self.body).take();
        let drain = !self.too_large.load(Ordering::Acquire) && !self.expects_continue;
        if let Some(unread) = unread.filter(|_| drain) {
            self.js.spawn(async move {
                let _ = Limited::new(unread, DRAIN_MAX).collect().await;
            });
        }
    }
}

/// A status from JS that can end an exchange.
fn final_status(status: u32) -> Result<StatusCode, AbioError> {
    u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|c| !c.is_informational())
        .ok_or_else(|| invalid(format!("The status {status} is not a final HTTP status")))
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Some(tx) = lock(&self.reply).take() {
            let _ = tx.send(Reply::Ready(empty(StatusCode::INTERNAL_SERVER_ERROR)));
        }
    }
}

/// A request for the JS `fetch` handler (the native half of `lib/http.js`'s `Request`).
#[napi]
pub struct NativeRequest {
    x: Arc<Exchange>,
}

impl NativeRequest {
    /// The body, unless announced too large or already taken.
    fn take_body(&self) -> Option<Drawn<Incoming>> {
        if self.x.too_large.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.x.body).take()
    }

    /// Why [`Self::take_body`] gave nothing.
    fn unreadable(&self) -> AbioError {
        if self.x.too_large.load(Ordering::Acquire) {
            CoreError::BodyTooLarge {
                max: self.x.max_body,
            }
            .into()
        } else {
            CoreError::Closed("request body").into()
        }
    }

    /// Takes the body (once) and settles the promise returned with what `read(body, max)`
    /// gives; a body found over `max` on the way makes the answer 413.
    fn consume<T, F, Fut>(&self, env: &Env, read: F) -> napi::Result<Promise>
    where
        T: ToNapiValue + Send + 'static,
        F: FnOnce(Drawn<Incoming>, u64) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, CoreError>> + Send + 'static,
    {
        let Some(body) = self.take_body() else {
            return Deferred::settled::<()>(env, Err(self.unreadable()));
        };
        let (done, promise) = Deferred::new(env)?;
        let x = self.x.clone();
        self.x.js.spawn(async move {
            let result = read(body, x.max_body).await;
            x.settle_read(done, result);
        });
        Ok(promise)
    }
}

#[napi]
impl NativeRequest {
    /// Reads the whole body, up to `maxBodySize` (then rejects with
    /// `ABIO_ERR_BODY_TOO_LARGE`, and the answer will be 413), into an exact `ArrayBuffer`.
    /// Once only.
    #[napi(ts_return_type = "Promise<ArrayBuffer>")]
    pub fn body(&self, env: Env) -> napi::Result<Promise> {
        self.consume(&env, |body, max| async move {
            body_to_vec(body, max, &Cancel::default(), |_| {})
                .await
                .map(OutBytes)
        })
    }

    /// Streams the body, up to `maxBodySize` (then rejects with `ABIO_ERR_BODY_TOO_LARGE`,
    /// and the answer will be 413), into the file `path` (`flags`/`mode`/`token` as
    /// `writeFile`'s); resolves with the bytes written. Once only, instead of `body()`.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn body_to_file(
        &self,
        env: Env,
        path: String,
        flags: u32,
        mode: i32,
        token: Option<ClassInstance<CancelToken>>,
    ) -> napi::Result<Promise> {
        let (cancel, opts) = (cancel_of(token), write_options(flags, mode));
        self.consume(&env, move |body, max| async move {
            body_to_file(body, path.into(), opts, max, cancel, |_| {})
                .await
                .map(|n| n as f64)
        })
    }

    /// Reads the next piece of the body as it arrives: an exact `ArrayBuffer`, or `null` at
    /// its end. Past `maxBodySize` it rejects with `ABIO_ERR_BODY_TOO_LARGE` (the answer will
    /// be 413). One read at a time; instead of `body()`/`bodyToFile()`.
    #[napi(ts_return_type = "Promise<ArrayBuffer | null>")]
    pub fn read(&self, env: Env) -> napi::Result<Promise> {
        if self.x.body_ended.load(Ordering::Acquire) {
            return Deferred::settled::<Option<OutBytes>>(&env, Ok(None));
        }
        let Some(mut body) = self.take_body() else {
            return Deferred::settled::<()>(&env, Err(self.unreadable()));
        };
        let (done, promise) = Deferred::new(&env)?;
        let x = self.x.clone();
        self.x.js.spawn(async move {
            let wanted = hyper::body::Body::size_hint(&body).exact();
            let got = x.got.load(Ordering::Relaxed);
            let result = loop {
                match body.frame().await {
                    None => {
                        x.body_ended.store(true, Ordering::Release);
                        break Ok(None);
                    }
                    Some(Err(e)) => break Err(body_failed(e, got, wanted.map(|w| w + got))),
                    Some(Ok(f)) => {
                        let Ok(data) = f.into_data() else { continue }; // trailers
                        let now = got + data.len() as u64;
                        if now > x.max_body {
                            break Err(CoreError::BodyTooLarge { max: x.max_body });
                        }
                        x.got.store(now, Ordering::Relaxed);
                        *lock(&x.body) = Some(body);
                        break Ok(Some(OutBytes(data.to_vec())));
                    }
                }
            };
            x.settle_read(done, result);
        });
        Ok(promise)
    }

    /// Resolves once the exchange is over: `true` when the client went away before the answer
    /// was sent whole (the connection closed), `false` when it was answered.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn closed(&self, env: Env) -> napi::Result<Promise> {
        let mut fate = lock(&self.x.fate);
        if let Some(left) = fate.0 {
            return Deferred::settled(&env, Ok(left));
        }
        let (d, p) = Deferred::new(&env)?;
        fate.1.push(d);
        Ok(p)
    }

    /// Answers: `status`, `headers` (name, value, name, value, ...; `content-length` and
    /// `transfer-encoding` are abio's), and `body` held until sent, or the file `file`
    /// (opened when the answer is sent: a missing file is 404). A second answer is ignored.
    #[napi]
    pub fn respond(
        &self,
        env: Env,
        status: u32,
        headers: Vec<String>,
        #[napi(ts_arg_type = "string | ArrayBufferView | undefined")] body: Option<HeldBytes>,
        file: Option<String>,
    ) -> napi::Result<()> {
        sync_call(&env, || {
            let code = final_status(status)?;
            let mut pairs = header_pairs(&headers, "The response")?;
            let empty_body = body.as_ref().is_none_or(|b| b.0.is_empty()) && file.is_none();
            // A HEAD answered without a body keeps the length the handler says a GET has
            // (RFC 9110 section 8.6); otherwise the length is the body's.
            let keep_length = self.x.head && empty_body;
            pairs.retain(|(n, _)| {
                (keep_length || n != header::CONTENT_LENGTH) && n != header::TRANSFER_ENCODING
            });
            let given_length = pairs.iter().any(|(n, _)| n == header::CONTENT_LENGTH);
            let reply = if let Some(r) = self.x.refusal() {
                Reply::Ready(r)
            } else if let Some(path) = file {
                let ty = pairs.iter().position(|(n, _)| n == header::CONTENT_TYPE);
                Reply::File {
                    status: code,
                    path: PathBuf::from(path),
                    content_type: ty.map(|i| pairs.remove(i).1),
                    headers: pairs,
                }
            } else {
                let body = body.map(|b| b.0).unwrap_or_default();
                let len = body.len();
                let mut r = Response::new(Body::from(body));
                *r.status_mut() = code;
                // Said outright unless a HEAD's handler gave it: hyper leaves it out of a HEAD
                // answer whose body is empty, and Node's client keeps a connection alive
                // after a HEAD only with it.
                if code != StatusCode::NO_CONTENT
                    && code != StatusCode::NOT_MODIFIED
                    && !given_length
                {
                    r.headers_mut()
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                }
                for (n, v) in pairs {
                    r.headers_mut().append(n, v);
                }
                Reply::Ready(r)
            };
            self.x.deliver(reply);
            Ok(())
        })
    }

    /// Answers with `status` and `headers` now and a body written as it is produced through
    /// the sink returned (chunked, unless `headers` has a `content-length`, which the body
    /// must then match). A refused body (413, 400) or a second answer gives a sink whose
    /// writes throw `ABIO_ERR_CLOSED`.
    #[napi]
    pub fn respond_stream(
        &self,
        env: Env,
        status: u32,
        headers: Vec<String>,
    ) -> napi::Result<NativeBodySink> {
        sync_call(&env, || {
            let code = final_status(status)?;
            let mut pairs = header_pairs(&headers, "The response")?;
            pairs.retain(|(n, _)| n != header::TRANSFER_ENCODING);
            if let Some(r) = self.x.refusal() {
                self.x.deliver(Reply::Ready(r));
                return Ok(NativeBodySink::closed(self.x.js.clone()));
            }
            if lock(&self.x.reply).is_none() {
                return Ok(NativeBodySink::closed(self.x.js.clone()));
            }
            let x = self.x.clone();
            let (sink, outflow) = pipe(self.x.js.clone(), Box::new(move |left| x.depart(left)));
            let mut r = Response::new(Body::Stream(Box::pin(outflow)));
            *r.status_mut() = code;
            for (n, v) in pairs {
                r.headers_mut().append(n, v);
            }
            self.x.deliver(Reply::Streamed(r));
            Ok(sink)
        })
    }
}

/// A `fetch` handler's answer.
enum Reply {
    Ready(Response<Body>),
    /// A body produced as it goes: whether the client left is known when it ends.
    Streamed(Response<Body>),
    /// A file, opened once the answer arrives.
    File {
        status: StatusCode,
        path: PathBuf,
        content_type: Option<HeaderValue>,
        headers: Vec<(HeaderName, HeaderValue)>,
    },
}

/// Hands `req` to the JS `fetch` handler and waits for its answer.
pub(super) async fn dispatch(
    server: Arc<Http>,
    req: Request<Incoming>,
    on: Arc<Activity>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = Drawn::new(body, on);
    let c = Conditions::of(&parts.method, &parts.headers);
    let max_body = server.options.max_body_size as u64;
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (tx, rx) = oneshot::channel();
    let x = Arc::new(Exchange {
        body: Mutex::new(Some(body)),
        reply: Mutex::new(Some(tx)),
        max_body,
        too_large: AtomicBool::new(announced.is_some_and(|n| n > max_body)),
        malformed: AtomicBool::new(false),
        head: parts.method == hyper::Method::HEAD,
        expects_continue: parts
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue")),
        got: AtomicU64::new(0),
        body_ended: AtomicBool::new(false),
        fate: Mutex::new((None, Vec::new())),
        js: server.core.js.clone(),
    });
    // Dropped by hyper before the answer came (the client left): `closed()` says so.
    let leaving = Leaving(Some(x.clone()));
    let (method, url, headers) = request_line(&parts);
    let me = server.clone();
    server.core.js.post(move |env| {
        let Some(fetch) = &me.fetch else { return };
        if let Ok(f) = fetch.borrow_back(env) {
            // lib/http.js's dispatcher catches what the handler throws.
            let _ = f.call((NativeRequest { x }, method, url, headers).into());
        }
    });
    let reply = rx
        .await
        .unwrap_or_else(|_| Reply::Ready(empty(StatusCode::INTERNAL_SERVER_ERROR)));
    leaving.answered(!matches!(reply, Reply::Streamed(_)));
    match reply {
        Reply::Ready(r) | Reply::Streamed(r) => r,
        Reply::File {
            status,
            path,
            content_type,
            headers,
        } => {
            let dress = Dress {
                content_type: content_type.as_ref(),
                headers: &headers,
            };
            if status == StatusCode::OK {
                files::serve_path(path, &c, &dress).await
            } else {
                files::plain(path, status, &dress).await
            }
        }
    }
}

/// Tells the exchange whether the client left before it was answered: dropped with the
/// dispatch (hyper drops it when the connection closes), the client left.
struct Leaving(Option<Arc<Exchange>>);

impl Leaving {
    /// The answer came; a streamed one reports when its body ends (src/http/outflow.rs).
    fn answered(mut self, whole: bool) {
        if let Some(x) = self.0.take().filter(|_| whole) {
            x.depart(false);
        }
    }
}

impl Drop for Leaving {
    fn drop(&mut self) {
        if let Some(x) = self.0.take() {
            x.depart(true);
        }
    }
}
