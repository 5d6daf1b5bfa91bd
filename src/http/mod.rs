//! HTTP (design.md section 7): `serve()` on hyper 1 over the shared tokio runtime.
//!
//! Routes (exact paths, `GET` and `HEAD`, the query ignored) are answered entirely in Rust,
//! without entering JS: bytes routes are the caller's memory, held (not copied) as
//! `bytes::Bytes`; file routes are [`files`]. Both get `ETag` (and files `Last-Modified`),
//! 304 and single byte ranges ([`answer`], by the rules of [`abio_core::http`]). Other
//! requests go to the JS `fetch` handler ([`dispatch`]); WebSocket upgrades become
//! src/ws.rs connections ([`accept_upgrade`]). Bodies both ways are [`body`]; the
//! `headersTimeout`/`idleTimeout`/`bodyTimeout` watch is [`timeouts`]. The listening
//! socket's lifecycle is src/net/listen.rs's `Listening`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use abio_core::http as rules;
use abio_core::{Cancel, Error as CoreError};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use napi::bindgen_prelude::{ClassInstance, FnArgs, Function, FunctionRef, ToNapiValue};
use napi::Env;
use napi_derive::napi;
use tokio::sync::{oneshot, watch};

mod answer;
pub(crate) mod body;
mod files;
mod timeouts;

use body::{body_to_file, body_to_vec, Body};

use answer::{answer, empty, Conditions, Content, Entity};
use files::{Budget, Dress, FileRoute};
use timeouts::{Activity, Drawn, Limits, Tracked, Watched};

use crate::bytes::{latin1_string, HeldBytes, OutBytes, WriteList};
use crate::cancel::{cancel_of, CancelToken};
use crate::error::{sync_call, AbioError, AbioResult};
use crate::headers::header_pairs;
use crate::net::dial::target;
use crate::net::listen::{listening, Listening};
use crate::net::lock;
use crate::net::Io;
use crate::runtime::{Deferred, Js, Promise};
use crate::write_options::write_options;
use crate::ws::{NativeWebSocket, Registry, Ws, WsOptions};
use abio_core::ws::{self as codec, Role};

/// A route: held bytes (with their entity tag), or a file.
enum Source {
    Bytes { body: Bytes, etag: HeaderValue },
    File(FileRoute),
}

/// A route's answer, ready to send.
struct Route {
    source: Source,
    /// The type given, else `application/octet-stream` for bytes; `None` for a file means
    /// the type of its extension.
    content_type: Option<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

type Routes = HashMap<String, Route>;

fn invalid(msg: String) -> AbioError {
    AbioError::InvalidArg(msg)
}

/// A route of `serve`/`reload`, as `lib/http.js` checked it.
#[napi(object, object_to_js = false)]
pub struct RouteSpec {
    /// The exact path it answers (the query ignored).
    pub path: String,
    /// The body, held (not copied) for as long as the route exists (or `file`).
    #[napi(ts_type = "string | ArrayBufferView")]
    pub body: Option<HeldBytes>,
    /// The file sent instead of a body (an absolute path), opened for each request.
    pub file: Option<String>,
    /// The `content-type`: by default `application/octet-stream` for a body, the
    /// extension's type for a file.
    #[napi(js_name = "type")]
    pub content_type: Option<String>,
    /// More headers: name, value, name, value, ...
    pub headers: Vec<String>,
}

/// The routes of `serve`/`reload`: each path answers its body or file with its headers.
fn route_table(specs: Vec<RouteSpec>) -> AbioResult<Routes> {
    let mut routes = HashMap::with_capacity(specs.len());
    for spec in specs {
        let RouteSpec {
            path,
            body,
            file,
            content_type,
            headers: extra,
        } = spec;
        let content_type = content_type
            .map(|ty| {
                HeaderValue::from_str(&ty).map_err(|_| {
                    invalid(format!(
                        "The content type of route '{path}' is not a valid header value: {ty:?}"
                    ))
                })
            })
            .transpose()?;
        let mut headers = Vec::with_capacity(extra.len() / 2);
        let mut etag = None;
        for (n, v) in header_pairs(&extra, &format!("Route '{path}'"))? {
            let ours = n == header::CONTENT_LENGTH
                || n == header::TRANSFER_ENCODING
                || n == header::CONTENT_RANGE
                || (file.is_some() && (n == header::ETAG || n == header::LAST_MODIFIED));
            if ours {
                return Err(invalid(format!(
                    "Route '{path}' sets the header '{n}', which abio sets from the {}",
                    if file.is_some() { "file" } else { "body" }
                )));
            }
            if n == header::ETAG {
                // Your tag: sent, and compared with If-None-Match.
                etag = Some(v);
                continue;
            }
            headers.push((n, v));
        }
        let source = match (body, file) {
            (_, Some(f)) => {
                // A path that is wrong from the start is said now, not as 404s later.
                let p = PathBuf::from(f);
                match std::fs::metadata(&p) {
                    Ok(m) if m.is_dir() => {
                        let e = abio_core::error::errno_error(libc::EISDIR);
                        return Err(CoreError::io(e, "open", Some(&p)).into());
                    }
                    Ok(_) => {}
                    Err(e) => return Err(CoreError::io(e, "stat", Some(&p)).into()),
                }
                Source::File(FileRoute::new(p))
            }
            (Some(body), None) => {
                let body = body.0;
                let etag = etag.unwrap_or_else(|| {
                    HeaderValue::from_str(&rules::etag(&body)).expect("an etag is ASCII")
                });
                Source::Bytes { body, etag }
            }
            (None, None) => return Err(invalid(format!("Route '{path}' has no body"))),
        };
        let content_type = match source {
            Source::Bytes { .. } => Some(content_type.unwrap_or_else(|| OCTETS.clone())),
            Source::File(_) => content_type,
        };
        routes.insert(
            path,
            Route {
                source,
                content_type,
                headers,
            },
        );
    }
    Ok(routes)
}

static OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// The answer to `req` from the routes: the body or file (or a range of it) with its
/// headers, 304 when the client's copy is current. `HEAD` gets the headers of `GET`.
/// Without a route for it, `None` when a `fetch` handler will answer (`handled`), else 404
/// for other paths and 405 for other methods.
async fn route_answer(
    routes: &Routes,
    budget: &Arc<Budget>,
    req: &Request<Incoming>,
    handled: bool,
) -> Option<Response<Body>> {
    let route = routes.get(req.uri().path());
    let readable = req.method() == Method::GET || req.method() == Method::HEAD;
    let route = match route {
        Some(route) if readable => route,
        _ if handled => return None,
        None => return Some(empty(StatusCode::NOT_FOUND)),
        Some(_) => {
            let mut r = empty(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(r);
        }
    };
    let c = Conditions::of(req.method(), req.headers());
    Some(match &route.source {
        Source::Bytes { body, etag } => {
            let e = Entity {
                len: body.len() as u64,
                etag,
                modified: None,
                content_type: route.content_type.as_ref().unwrap_or(&OCTETS),
                headers: &route.headers,
            };
            answer(&c, &e, Content::Bytes(body.clone()))
        }
        Source::File(file) => {
            let dress = Dress {
                content_type: route.content_type.as_ref(),
                headers: &route.headers,
            };
            files::serve_route(file, budget, &c, &dress).await
        }
    })
}

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
async fn dispatch(server: Arc<Http>, req: Request<Incoming>, on: Arc<Activity>) -> Response<Body> {
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

/// `serve({ websocket })` as lib/ws.js checked it.
#[napi(object, object_to_js = false)]
pub struct WsServeOptions<'a> {
    /// Upgrades only on this path; any path when absent.
    pub path: Option<String>,
    /// What every connection gets.
    pub connection: WsOptions,
    /// lib/ws.js's opener, called with each new connection (before it reads anything).
    #[napi(
        ts_type = "(socket: NativeWebSocket, method: string, url: string, headers: string[]) => void"
    )]
    pub on_open: Function<'a, OpenArgs, ()>,
}

/// Limits against slow or hostile clients.
#[napi(object)]
pub struct HttpOptions {
    /// Bytes of a request's line and headers, then 431.
    pub max_header_size: u32,
    /// Milliseconds from a request's first byte to the end of its headers, then the
    /// connection is closed.
    pub headers_timeout: f64,
    /// Milliseconds a connection may wait for its next request, then it is closed.
    pub idle_timeout: f64,
    /// Milliseconds a request may go without progress while it waits on the client (a
    /// handler waits for body bytes, or the kernel takes no byte of the answer), then the
    /// connection is closed.
    pub body_timeout: f64,
    /// Bytes of a request body `req.body()` reads, then 413.
    pub max_body_size: f64,
}

struct Http {
    core: Arc<Listening>,
    routes: RwLock<Arc<Routes>>,
    /// What the routes' files may keep in memory.
    budget: Arc<Budget>,
    options: HttpOptions,
    /// Set when the server closes: connections finish their request and close.
    shutdown: watch::Sender<bool>,
    /// lib/http.js's dispatcher for the `fetch` handler: `(request, method, url, headers)`.
    fetch: Option<FetchFn>,
    /// WebSocket upgrades, when the server takes them.
    ws: Option<WsServe>,
}

/// `serve({ websocket })`: where upgrades are taken, the connections' options, lib/ws.js's
/// `(socket, method, url, headers)` for each new connection, and the open connections.
struct WsServe {
    path: Option<String>,
    options: WsOptions,
    on_open: OpenFn,
    registry: Arc<Registry>,
}

type OpenArgs = FnArgs<(NativeWebSocket, String, String, Vec<String>)>;
type OpenFn = FunctionRef<OpenArgs, ()>;

/// `(request, method, url, headers)` of lib/http.js's dispatcher.
type FetchArgs = FnArgs<(NativeRequest, String, String, Vec<String>)>;
type FetchFn = FunctionRef<FetchArgs, ()>;

impl Http {
    fn routes(&self) -> Arc<Routes> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Whether `headers` ask for a WebSocket upgrade this server takes: `None` when not (the
/// request is served as HTTP), `Ok` to accept, `Err` with the refusal (400, or 426 for
/// another protocol version).
fn upgrade(
    server: &Http,
    method: &Method,
    path: &str,
    headers: &hyper::HeaderMap,
) -> Option<Result<(), Response<Body>>> {
    let ws = server.ws.as_ref()?;
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return None;
    }
    if ws.path.as_deref().is_some_and(|p| p != path) {
        return None;
    }
    if method != Method::GET || !headers.contains_key(header::SEC_WEBSOCKET_KEY) {
        return Some(Err(empty(StatusCode::BAD_REQUEST)));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut r = empty(StatusCode::UPGRADE_REQUIRED);
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Some(Err(r));
    }
    Some(Ok(()))
}

/// Answers 101 to a WebSocket upgrade; once hyper hands the connection over, it becomes a
/// [`Ws`], told to JS (`open`) before it reads anything.
fn accept_upgrade(server: Arc<Http>, mut req: Request<Incoming>) -> Response<Body> {
    let key = req.headers()[header::SEC_WEBSOCKET_KEY].as_bytes().to_vec();
    let upgraded = hyper::upgrade::on(&mut req);
    let (parts, _) = req.into_parts();
    let js = server.core.js.clone();
    js.spawn(async move {
        let Some(ws) = &server.ws else { return };
        let Ok(up) = upgraded.await else { return };
        let Ok(parts_io) = up.downcast::<TokioIo<Watched<tokio::net::TcpStream>>>() else {
            return;
        };
        let early = parts_io.read_buf.to_vec();
        let stream = parts_io.io.into_inner().io;
        let js = server.core.js.clone();
        let conn = Ws::new(
            stream,
            Role::Server,
            &ws.options,
            js,
            Some(ws.registry.clone()),
        );
        let (method, url, headers) = request_line(&parts);
        let me = server.clone();
        server.core.js.post(move |env| {
            let Some(ws) = &me.ws else { return };
            if let Ok(f) = ws.on_open.borrow_back(env) {
                let native = NativeWebSocket::opened(env, conn.clone());
                let _ = f.call((native, method, url, headers).into());
            }
            // Read once JS knows of the connection.
            conn.run(env, early);
        });
    });
    let mut r = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::from_str(&codec::accept_key(&key)).expect("base64 is ASCII");
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    r
}

/// A request's method, target and flat Latin-1 headers, as JS gets them.
fn request_line(parts: &hyper::http::request::Parts) -> (String, String, Vec<String>) {
    let mut headers = Vec::with_capacity(parts.headers.len() * 2);
    for (n, v) in &parts.headers {
        headers.push(n.as_str().to_string());
        headers.push(latin1_string(v.as_bytes()));
    }
    let url = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.to_string());
    (parts.method.to_string(), url, headers)
}

/// Accepts connections until the server closes; each is served by hyper on its own task.
async fn serve_loop(server: Arc<Http>, io: Io) {
    while let Some(sock) = server.core.accept(&io).await {
        let _ = sock.set_tcp_nodelay(true);
        let Ok(stream) = tokio::net::TcpStream::from_std(sock.into()) else {
            continue;
        };
        let me = server.clone();
        server.core.js.spawn(async move {
            let mut stop = me.shutdown.subscribe();
            let activity = Activity::new();
            let (routes_of, watched) = (me.clone(), activity.clone());
            let service = service_fn(move |req| {
                let (server, activity) = (routes_of.clone(), watched.clone());
                activity.busy();
                async move {
                    if let Some(r) = upgrade(&server, req.method(), req.uri().path(), req.headers())
                    {
                        let r = r.map(|()| accept_upgrade(server, req));
                        return Ok(r
                            .unwrap_or_else(|r| r)
                            .map(|body| Tracked { body, activity }));
                    }
                    let routes = server.routes();
                    let handled = server.fetch.is_some();
                    let r = match route_answer(&routes, &server.budget, &req, handled).await {
                        Some(r) => r,
                        None => dispatch(server, req, activity.clone()).await,
                    };
                    Ok::<_, Infallible>(r.map(|body| Tracked { body, activity }))
                }
            });
            let io = Watched {
                io: stream,
                activity: activity.clone(),
            };
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .max_header_size(me.options.max_header_size as usize)
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(conn);
            if *stop.borrow() {
                conn.as_mut().graceful_shutdown();
            }
            let ms = |n: f64| Duration::from_millis(n as u64);
            let limits = Limits {
                headers: ms(me.options.headers_timeout),
                idle: ms(me.options.idle_timeout),
                body: ms(me.options.body_timeout),
            };
            let overstayed = timeouts::watch(activity, limits);
            tokio::pin!(overstayed);
            tokio::select! {
                _ = conn.as_mut() => return,
                // Dropping the connection closes it.
                _ = overstayed.as_mut() => return,
                _ = stop.changed() => conn.as_mut().graceful_shutdown(),
            }
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = overstayed => {}
            }
        });
    }
    let _ = server.shutdown.send(true);
    server.core.stopped(io);
}

/// A listening HTTP server (the native half of `lib/http.js`'s `HttpServer`).
#[napi]
pub struct NativeHttpServer {
    inner: Arc<Http>,
    host: String,
    port: u32,
}

#[napi]
impl NativeHttpServer {
    /// The address it listens on.
    #[napi(getter)]
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// The port it listens on (the one picked when 0 was asked).
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Replaces the routes; requests already answered keep the bodies they got.
    #[napi]
    pub fn reload(&self, env: Env, routes: Vec<RouteSpec>) -> napi::Result<()> {
        sync_call(&env, || {
            let table = route_table(routes)?;
            *self.inner.routes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
            Ok(())
        })
    }

    /// Stops accepting; resolves once the listening socket is closed. Open connections
    /// finish the request they are on, then close.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Promise> {
        let _ = self.inner.shutdown.send(true);
        if let Some(ws) = &self.inner.ws {
            ws.registry.going_away();
        }
        self.inner.core.close(&env)
    }

    /// Queues `list`'s one message on every open WebSocket, framed once (sent by
    /// `flushBroadcasts`); returns how many.
    #[napi(ts_args_type = "list: Array<string | ArrayBufferView>")]
    pub fn broadcast(&self, list: WriteList) -> napi::Result<u32> {
        match &self.inner.ws {
            Some(ws) => crate::ws::broadcast(&ws.registry, &list),
            None => Ok(0),
        }
    }

    /// Sends what this turn's broadcasts queued.
    #[napi]
    pub fn flush_broadcasts(&self, env: Env) {
        if let Some(ws) = &self.inner.ws {
            crate::ws::flush(&ws.registry, &env);
        }
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

/// `serve()`'s options, as `lib/http.js` checked them.
#[napi(object, object_to_js = false)]
pub struct ServeOptions<'a> {
    /// The address to listen on; all of them (`::`, else `0.0.0.0`) when absent.
    pub host: Option<String>,
    /// The port (0: one the OS picks).
    pub port: u32,
    /// `SO_REUSEPORT`: several servers share the port.
    pub reuse_port: bool,
    /// Answered in Rust, without entering JS.
    pub routes: Vec<RouteSpec>,
    /// Limits against slow or hostile clients.
    pub limits: HttpOptions,
    /// lib/http.js's dispatcher for the `fetch` handler, called for each request no route
    /// answers; without it, such requests get 404 (405 for a route's path).
    #[napi(
        ts_type = "(request: NativeRequest, method: string, url: string, headers: string[]) => void"
    )]
    pub fetch: Option<Function<'a, FetchArgs, ()>>,
    /// WebSocket upgrades, when the server takes them.
    pub websocket: Option<WsServeOptions<'a>>,
}

/// Listens on `host:port` and serves the routes. Resolves once listening.
#[napi(ts_return_type = "Promise<NativeHttpServer>")]
pub fn serve(env: Env, options: ServeOptions<'_>) -> napi::Result<Promise> {
    let ServeOptions {
        host,
        port,
        reuse_port,
        routes,
        limits: options,
        fetch,
        websocket,
    } = options;
    let routes = sync_call(&env, || route_table(routes))?;
    let fetch = fetch.map(|f| f.create_ref()).transpose()?;
    let ws = match websocket {
        Some(o) => Some(WsServe {
            path: o.path,
            options: o.connection,
            on_open: o.on_open.create_ref()?,
            registry: Arc::default(),
        }),
        None => None,
    };
    let target = target(host, port, None);
    listening(
        &env,
        target,
        511,
        reuse_port,
        move |core, io, host, port| {
            let inner = Arc::new(Http {
                core,
                routes: RwLock::new(Arc::new(routes)),
                budget: Budget::new(),
                options,
                shutdown: watch::Sender::new(false),
                fetch,
                ws,
            });
            inner.core.js.spawn(serve_loop(inner.clone(), io));
            NativeHttpServer {
                inner,
                host,
                port: port as u32,
            }
        },
    )
}
