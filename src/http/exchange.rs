//! A request handed to the JS `fetch` handler ([`dispatch`]): its body, read on demand
//! (`NativeRequest.body()`/`bodyToFile()`), and the handler's answer (`respond()`), 413 or 400
//! when the body was refused.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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
use super::timeouts::{Activity, Drawn};
use super::{files, invalid, Http};
use crate::body::{body_to_file, body_to_vec, Body};
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
    js: Js,
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
            match result {
                Err(CoreError::BodyTooLarge { .. }) => x.too_large.store(true, Ordering::Release),
                Err(CoreError::HttpParse(_)) => x.malformed.store(true, Ordering::Release),
                _ => {}
            }
            let result = result.map_err(AbioError::from);
            let js = x.js.clone();
            js.post(move |env| done.settle(env, result));
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
            let code = u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .filter(|c| !c.is_informational())
                .ok_or_else(|| {
                    invalid(format!("The status {status} is not a final HTTP status"))
                })?;
            let mut pairs = header_pairs(&headers, "The response")?;
            pairs.retain(|(n, _)| n != header::CONTENT_LENGTH && n != header::TRANSFER_ENCODING);
            let refused = if self.x.too_large.load(Ordering::Acquire) {
                Some(StatusCode::PAYLOAD_TOO_LARGE)
            } else if self.x.malformed.load(Ordering::Acquire) {
                Some(StatusCode::BAD_REQUEST)
            } else {
                None
            };
            let reply = if let Some(refused) = refused {
                let mut r = empty(refused);
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
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
                if code != StatusCode::NO_CONTENT && code != StatusCode::NOT_MODIFIED {
                    // Said outright: hyper leaves it out of a HEAD answer whose body is empty.
                    r.headers_mut()
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                }
                for (n, v) in pairs {
                    r.headers_mut().append(n, v);
                }
                Reply::Ready(r)
            };
            if let Some(tx) = lock(&self.x.reply).take() {
                let _ = tx.send(reply);
                // A body the handler did not read: drained when small, so the connection
                // can serve the next request (as Node does), else dropped, which closes it.
                // One too large, or not sent yet (`Expect: 100-continue`), is not asked for.
                let unread = lock(&self.x.body).take();
                let drain = !self.x.too_large.load(Ordering::Acquire) && !self.x.expects_continue;
                if let Some(unread) = unread.filter(|_| drain) {
                    self.x.js.spawn(async move {
                        let _ = Limited::new(unread, DRAIN_MAX).collect().await;
                    });
                }
            }
            Ok(())
        })
    }
}

/// A `fetch` handler's answer.
enum Reply {
    Ready(Response<Body>),
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
        expects_continue: parts
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue")),
        js: server.core.js.clone(),
    });
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
    match reply {
        Reply::Ready(r) => r,
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
