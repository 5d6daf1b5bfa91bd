//! The HTTP client (design.md section 7): `request()` and `download()` on hyper 1 over the
//! shared tokio runtime.
//!
//! Connections are pooled by `hyper_util`'s legacy `Client` (keep-alive, one pool per JS
//! environment, whose connections are tasks of that environment: a terminated worker's stop
//! with it) over our own connector ([`Connector`]): it resolves and connects the way
//! `connect()` does (src/tcp.rs: Node-shaped `ECONNREFUSED`/`ENOTFOUND`) and sets
//! `TCP_NODELAY`. Chosen over a hand-made pool over `hyper::client::conn::http1`: that
//! pool would have to redo what this one already does right: check out only idle
//! connections that are still open, evict idle ones on a timer, and resend a request that
//! failed on a reused connection before any of it was written (the server closed the idle
//! connection just then). Its cost per request is a hash-map lookup and a lock, small next
//! to the 30-45 µs thread hop back to JS that every call pays anyway. Measured here
//! (bench/http-client.js --quick, 2 cores, a Node server in another process): GET 16 B one
//! at a time ~200 µs per request (http.get with a keep-alive Agent ~340 µs, fetch ~630 µs);
//! 16 in flight ~15k req/s (http.get ~4.2k). A hand-made pool was not built to compare: at
//! these figures the server's side dominates.
//!
//! Idle pooled connections live on the runtime only: nothing holds the Node event loop for
//! them, so a process exits as soon as its requests are done. A pending call holds it
//! ([`KeepAlive`]) until its promise settles.
//!
//! Redirects follow the Fetch standard, with the rules of [`abio_core::client`]; the body
//! of a response is read into one exact allocation when its length is announced.

use std::cell::RefCell;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use abio_core::client::{self as rules, Redirect, Url, UrlError, MAX_REDIRECTS};
use abio_core::error::{errno_error, errno_of};
use abio_core::{Cancel, Error as CoreError};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioIo, TokioTimer};
use napi::bindgen_prelude::{ClassInstance, FnArgs, Function};
use napi::{sys, Env};
use napi_derive::napi;
use tokio::net::TcpStream;

use crate::bytes::{latin1_bytes, latin1_string, HeldBytes, OutBytes};
use crate::cancel::{cancel_of, CancelToken};
use crate::error::{sync_call, AbioError, AbioResult};
use crate::http::body::{body_to_file, body_to_vec, Body as ReqBody};
use crate::net::dial::{open, Target};
use crate::runtime::{net as rt, woken_on_cancel, Deferred, Js, KeepAlive, Progress, Promise};
use crate::write_options::write_options;

/// How long a pooled connection may sit idle before it is closed: under the 5 s
/// `keepAliveTimeout` of Node's server (undici uses 4 s too), so that we rarely reuse a
/// connection the server is closing.
const POOL_IDLE: Duration = Duration::from_secs(4);

/// Bytes of a redirect's body read (and dropped) to keep its connection; more, and the
/// connection is closed instead.
const DRAIN_MAX: u64 = 64 << 10;

fn invalid(msg: String) -> AbioError {
    AbioError::InvalidArg(msg)
}

// ---------------------------------------------------------------------------------------
// Connections

/// Opens pooled connections: resolve and connect as `connect()` does, then `TCP_NODELAY`
/// (a request's head and body leave in separate writes, which Nagle would delay).
#[derive(Clone, Copy)]
struct Connector;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = CoreError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, CoreError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), CoreError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().to_string();
            let port = uri.port_u16().unwrap_or(80);
            let sock = open(&Target::Tcp(host, port)).await.map_err(|e| match e {
                AbioError::Core(c) => c,
                other => CoreError::net(io::Error::other(format!("{other:?}")), "connect"),
            })?;
            let _ = sock.set_tcp_nodelay(true);
            let stream =
                TcpStream::from_std(sock.into()).map_err(|e| CoreError::net(e, "connect"))?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// A pool of keep-alive connections.
type Pool = Client<Connector, ReqBody>;

thread_local! {
    /// The pool of this thread's JS environment. One per environment, not per process: its
    /// connections (which send held request bodies) run as tasks of that environment
    /// ([`Js::spawn`]), so a worker's teardown stops them before its memory is freed.
    static POOL: RefCell<Option<(sys::napi_env, Pool)>> = const { RefCell::new(None) };
}

/// The pool of `env`'s environment, made on first use. JS thread.
fn pool(env: &Env, js: &Js) -> Pool {
    POOL.with(|cell| {
        let mut slot = cell.borrow_mut();
        if let Some((_, pool)) = slot.as_ref().filter(|(owner, _)| *owner == env.raw()) {
            return pool.clone();
        }
        let pool = Client::builder(js.clone())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(Connector);
        *slot = Some((env.raw(), pool.clone()));
        pool
    })
}

// ---------------------------------------------------------------------------------------
// Request bodies

/// Where a request's body comes from; each send (the first, and each 307/308 redirect)
/// makes a new body of it.
#[derive(Clone)]
enum Source {
    None,
    Bytes(Bytes),
    File(PathBuf),
}

impl Source {
    /// A body to send, and its length (`None`: no body).
    async fn open(&self) -> AbioResult<(ReqBody, Option<u64>)> {
        Ok(match self {
            Source::None => (ReqBody::empty(), None),
            Source::Bytes(b) => (ReqBody::from(b.clone()), Some(b.len() as u64)),
            Source::File(path) => {
                let (body, len) = file_body(path.clone()).await?;
                (body, Some(len))
            }
        })
    }
}

/// Opens `path` and takes its length from `fstat`; the body reads it as the server takes
/// it ([`ReqBody::file`]: one piece at a time, no pool thread held while the server is
/// slow). A file that shrinks meanwhile fails the request (its `content-length` was sent);
/// one that grows is sent as it was.
async fn file_body(path: PathBuf) -> AbioResult<(ReqBody, u64)> {
    let shown = path.clone();
    let opened = rt()
        .spawn_blocking(move || {
            let f = std::fs::File::open(&path)?;
            let meta = f.metadata()?;
            if meta.is_dir() {
                return Err(errno_error(libc::EISDIR));
            }
            Ok((f, meta.len()))
        })
        .await
        .map_err(|e| AbioError::Internal(e.to_string()))?;
    let (file, len) = opened.map_err(|e| CoreError::io(e, "open", Some(&shown)))?;
    Ok((ReqBody::file(Arc::new(file), shown, 0, len), len))
}

// ---------------------------------------------------------------------------------------
// Errors

/// The first error of type `T` in `e`'s source chain (`e` included).
fn find<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// An owned copy of a connector error (the pool keeps the original).
fn copy_core(e: &CoreError) -> CoreError {
    match e {
        CoreError::Net {
            source,
            syscall,
            address,
            port,
        } => CoreError::Net {
            source: match errno_of(source) {
                Some(errno) => errno_error(errno),
                None => io::Error::new(source.kind(), source.to_string()),
            },
            syscall,
            address: address.clone(),
            port: *port,
        },
        CoreError::NotFound { host } => CoreError::NotFound { host: host.clone() },
        other => CoreError::net(io::Error::other(other.to_string()), "connect"),
    }
}

/// A failure of hyper's before a response: a reset (`read ECONNRESET`, as Node says), an
/// answer that is not HTTP, or the connection closed before any answer (Node's "socket hang
/// up", also `ECONNRESET`). Failures within a body are src/http/body.rs's `body_failed`.
fn hyper_error(e: &(dyn StdError + 'static)) -> AbioError {
    if let Some(errno) = find::<io::Error>(e).and_then(|io| io.raw_os_error().and(errno_of(io))) {
        return CoreError::net(errno_error(errno), "read").into();
    }
    if let Some(h) = find::<hyper::Error>(e) {
        if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
            return CoreError::HttpParse(format!("The server's answer is not valid HTTP/1.x: {h}"))
                .into();
        }
    }
    CoreError::net(errno_error(libc::ECONNRESET), "read").into()
}

/// The error of a request that got no response.
fn send_error(e: hyper_util::client::legacy::Error) -> AbioError {
    if let Some(core) = find::<CoreError>(&e) {
        return copy_core(core).into();
    }
    hyper_error(&e)
}

// ---------------------------------------------------------------------------------------
// The request

/// A checked request: what is sent first, and changed by redirects.
struct Spec {
    url: Url,
    method: Method,
    headers: HeaderMap,
    source: Source,
    follow: bool,
}

fn uri_of(url: &Url) -> Option<Uri> {
    Uri::builder()
        .scheme("http")
        .authority(url.authority())
        .path_and_query(url.target.as_str())
        .build()
        .ok()
}

impl Spec {
    fn new(
        url: &str,
        method: &str,
        headers: &[String],
        source: Source,
        follow: bool,
    ) -> AbioResult<Spec> {
        let parsed = Url::parse(url).map_err(|e| match e {
            UrlError::Scheme(_) => invalid(format!(
                "The \"url\" argument must be an http: URL: {e}. Received '{url}'"
            )),
            UrlError::Invalid(why) => invalid(format!(
                "The \"url\" argument is not a usable http: URL: {why}. Received '{url}'"
            )),
        })?;
        if uri_of(&parsed).is_none() {
            return Err(invalid(format!(
                "The \"url\" argument is not a usable http: URL. Received '{url}'"
            )));
        }
        let method = Method::from_bytes(method.as_bytes())
            .ok()
            .filter(|_| rules::is_token(method))
            .ok_or_else(|| invalid(format!("The method {method:?} is not an HTTP token")))?;
        let mut map = HeaderMap::with_capacity(headers.len() / 2);
        for pair in headers.chunks_exact(2) {
            let (name, value) = (&pair[0], &pair[1]);
            let n = HeaderName::from_bytes(name.as_bytes())
                .ok()
                .filter(|_| rules::is_token(name))
                .ok_or_else(|| invalid(format!("The header name {name:?} is not valid")))?;
            if n == header::CONTENT_LENGTH || n == header::TRANSFER_ENCODING {
                return Err(invalid(format!(
                    "The header '{n}' is set by abio from the body; do not set it"
                )));
            }
            let v = latin1_bytes(value)
                .and_then(|b| HeaderValue::from_bytes(&b).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "The value of header '{name}' has invalid characters"
                    ))
                })?;
            map.append(n, v);
        }
        Ok(Spec {
            url: parsed,
            method,
            headers: map,
            source,
            follow,
        })
    }

    fn build(&self, url: &Url, body: ReqBody, len: Option<u64>) -> AbioResult<Request<ReqBody>> {
        let uri = uri_of(url).ok_or_else(|| CoreError::BadRedirect {
            location: url.to_string(),
            reason: "not a usable URL".into(),
        })?;
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers.clone();
        if let Some(n) = len {
            req.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        Ok(req)
    }
}

/// Reads and drops a small unread body so that its connection can be reused; a large or
/// slow one closes its connection instead.
async fn drain(body: Incoming) {
    if body.size_hint().lower() > DRAIN_MAX {
        return;
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        http_body_util::Limited::new(body, DRAIN_MAX as usize).collect(),
    )
    .await;
}

/// Sends `spec` over `pool` and follows redirects (when asked to); the final response and
/// its URL.
async fn exchange(pool: &Pool, spec: &mut Spec) -> AbioResult<(Response<Incoming>, Url)> {
    let mut url = spec.url.clone();
    let mut hops = 0;
    loop {
        let (body, len) = spec.source.open().await?;
        let req = spec.build(&url, body, len)?;
        let res = pool.request(req).await.map_err(send_error)?;
        if !spec.follow {
            return Ok((res, url));
        }
        let Some(rule) = rules::redirect(res.status().as_u16(), spec.method.as_str()) else {
            return Ok((res, url));
        };
        // A redirect without a Location is the answer itself (as `fetch` has it).
        let Some(location) = res.headers().get(header::LOCATION) else {
            return Ok((res, url));
        };
        let location = latin1_string(location.as_bytes());
        if hops == MAX_REDIRECTS {
            return Err(CoreError::TooManyRedirects {
                url: url.to_string(),
                max: MAX_REDIRECTS,
            }
            .into());
        }
        hops += 1;
        let next = url.join(&location).map_err(|e| CoreError::BadRedirect {
            location: location.clone(),
            reason: e.to_string(),
        })?;
        if rule == Redirect::ToGet {
            spec.method = Method::GET;
            spec.source = Source::None;
            for h in rules::BODY_HEADERS {
                spec.headers.remove(h);
            }
        }
        if !url.same_origin(&next) {
            for h in rules::CREDENTIAL_HEADERS {
                spec.headers.remove(h);
            }
        }
        drain(res.into_body()).await;
        url = next;
    }
}

/// The announced length of `res`'s body (0 when it has none: `HEAD`, 204, 304).
fn body_length(res: &Response<Incoming>, method: &Method) -> Option<u64> {
    if rules::bodiless(res.status().as_u16(), method.as_str()) {
        return Some(0);
    }
    res.body().size_hint().exact()
}

/// Reads a response body into one exact buffer (src/http/body.rs's [`body_to_vec`]: allocated
/// once when its length is known, grown otherwise), refused past `max` (before allocating
/// when the length is announced). Progress is reported as bytes arrive, and a last time
/// with `done === total` once the body is whole.
async fn read_body(
    res: Response<Incoming>,
    method: &Method,
    max: u64,
    cancel: &Cancel,
    progress: Option<(&Js, &Arc<Progress>)>,
) -> AbioResult<Vec<u8>> {
    let wanted = body_length(&res, method);
    if let Some(n) = wanted.filter(|&n| n > max) {
        return Err(CoreError::ResponseTooLarge { size: Some(n), max }.into());
    }
    let total = wanted.unwrap_or(Progress::UNKNOWN);
    let report = |done| {
        if let Some((js, p)) = progress {
            p.report(js, done, total);
        }
    };
    let body = if wanted == Some(0) {
        Vec::new()
    } else {
        body_to_vec(res.into_body(), max, cancel, report)
            .await
            .map_err(too_large)?
    };
    if let Some((js, p)) = progress {
        p.report(js, body.len() as u64, body.len() as u64);
    }
    Ok(body)
}

/// The shared body readers' `BodyTooLarge` (worded for a server's request body) as the
/// client's own error, which names `maxSize`.
fn too_large(e: CoreError) -> CoreError {
    match e {
        CoreError::BodyTooLarge { max } => CoreError::ResponseTooLarge { size: None, max },
        e => e,
    }
}

/// Runs `work` until it ends or `cancel` is requested (then it is dropped, and with it its
/// connection: a request cut short is never returned to the pool).
async fn abortable<T>(cancel: &Cancel, work: impl Future<Output = AbioResult<T>>) -> AbioResult<T> {
    let aborted = woken_on_cancel(cancel);
    tokio::select! {
        r = work => r,
        _ = aborted.notified() => Err(CoreError::Aborted.into()),
    }
}

/// A response for JS (lib/client.js shapes `headers` into an object).
#[napi(object, object_from_js = false)]
pub struct ClientResponse {
    /// The final status code.
    pub status: u32,
    /// Name, value, name, value, ...: names lower-case, values Latin-1, in arrival order.
    pub headers: Vec<String>,
    /// The whole body, as an exact `ArrayBuffer`.
    #[napi(ts_type = "ArrayBuffer")]
    pub body: OutBytes,
    /// The URL that answered (after redirects).
    pub url: String,
}

/// `onProgress(done, total)`; `total` is -1 when unknown (lib/client.js passes `null`).
type ProgressFn<'a> = Function<'a, FnArgs<(f64, f64)>, ()>;

/// What every client call starts with on the JS thread: its promise, the way back, the
/// event loop held, the cancel flag and the progress callback.
struct Call {
    done: Deferred,
    js: Js,
    keep: KeepAlive,
    cancel: Cancel,
    progress: Option<Arc<Progress>>,
}

impl Call {
    fn start(
        env: &Env,
        on_progress: Option<ProgressFn<'_>>,
        token: Option<ClassInstance<'_, CancelToken>>,
    ) -> napi::Result<(Call, Promise)> {
        let (done, promise) = Deferred::new(env)?;
        let js = Js::of(env)?;
        let keep = KeepAlive::default();
        keep.set(env, true);
        let progress = on_progress.map(Progress::new).transpose()?;
        let call = Call {
            done,
            js,
            keep,
            cancel: cancel_of(token),
            progress,
        };
        Ok((call, promise))
    }

    /// Settles the promise on the JS thread (after any progress call already queued), and
    /// lets go of the event loop there.
    fn finish<T: napi::bindgen_prelude::ToNapiValue + Send + 'static>(self, result: AbioResult<T>) {
        let Call {
            done,
            js,
            keep,
            progress,
            ..
        } = self;
        js.post(move |env| {
            keep.set(env, false);
            done.settle(env, result);
            drop(progress);
        });
    }
}

/// `maxSize` from JS: negative means no limit.
fn limit(max_size: f64) -> u64 {
    if max_size < 0.0 {
        u64::MAX
    } else {
        max_size as u64
    }
}

/// A request as `lib/client.js` checked it (`request()`'s, and the request of a
/// `download()`).
#[napi(object, object_to_js = false)]
pub struct RequestOptions<'a> {
    /// An `http:` URL, WHATWG-normalised.
    pub url: String,
    /// The method, an HTTP token.
    pub method: String,
    /// Name, value, name, value, ...: names lower-case.
    pub headers: Vec<String>,
    /// The body, held (not copied) until the promise settles (or `file`).
    #[napi(ts_type = "string | ArrayBufferView")]
    pub body: Option<HeldBytes>,
    /// The path of a file streamed as the body instead.
    pub file: Option<String>,
    /// Bytes of the response body read (or written) at most; negative: no limit.
    pub max_size: f64,
    /// Follow redirects (else a 3xx is the answer).
    pub follow: bool,
    /// `(done, total)` as body bytes arrive; `total` is -1 when unknown.
    #[napi(ts_type = "(done: number, total: number) => void")]
    pub on_progress: Option<ProgressFn<'a>>,
    /// Set from the call's `AbortSignal`.
    pub token: Option<ClassInstance<'a, CancelToken>>,
}

impl RequestOptions<'_> {
    /// The checked request, and what its call needs on the JS thread.
    fn start(self, env: &Env) -> napi::Result<(Spec, Call, Promise, u64)> {
        let RequestOptions {
            url,
            method,
            headers,
            body,
            file,
            max_size,
            follow,
            on_progress,
            token,
        } = self;
        let source = match (body, file) {
            (Some(b), _) => Source::Bytes(b.0),
            (None, Some(f)) => Source::File(PathBuf::from(f)),
            (None, None) => Source::None,
        };
        let spec = sync_call(env, || Spec::new(&url, &method, &headers, source, follow))?;
        let (call, promise) = Call::start(env, on_progress, token)?;
        Ok((spec, call, promise, limit(max_size)))
    }
}

/// Sends a request to the `http:` URL `url` and reads the whole response body (up to
/// `maxSize` bytes) into an exact `ArrayBuffer`.
#[napi(ts_return_type = "Promise<ClientResponse>")]
pub fn request(env: Env, options: RequestOptions<'_>) -> napi::Result<Promise> {
    // Answered as given (WHATWG-normalised by lib/) unless a redirect moved it.
    let url = options.url.clone();
    let (mut spec, call, promise, max) = options.start(&env)?;
    let pool = pool(&env, &call.js);
    call.js.clone().spawn(async move {
        let progress = call.progress.clone();
        let js = call.js.clone();
        let cancel = call.cancel.clone();
        let work = async {
            let (res, final_url) = exchange(&pool, &mut spec).await?;
            let status = res.status().as_u16() as u32;
            let mut flat = Vec::with_capacity(res.headers().len() * 2);
            let mut last: Option<&HeaderName> = None;
            // Repeated headers joined with ", ", as Node does (hyper keeps them adjacent).
            for (n, v) in res.headers() {
                let value = latin1_string(v.as_bytes());
                if last == Some(n) {
                    let joined: &mut String = flat.last_mut().expect("a value follows its name");
                    joined.push_str(", ");
                    joined.push_str(&value);
                    continue;
                }
                flat.push(n.as_str().to_string());
                flat.push(value);
                last = Some(n);
            }
            let url = if final_url == spec.url {
                url
            } else {
                final_url.to_string()
            };
            let progress = progress.as_ref().map(|p| (&js, p));
            let body = read_body(res, &spec.method, max, &cancel, progress).await?;
            Ok(ClientResponse {
                status,
                headers: flat,
                body: OutBytes(body),
                url,
            })
        };
        let result = abortable(&call.cancel, work).await;
        drop(progress);
        call.finish(result);
    });
    Ok(promise)
}

/// `download()`'s request and the file it writes, as `lib/client.js` checked them.
#[napi(object, object_to_js = false)]
pub struct DownloadOptions<'a> {
    /// The request.
    pub request: RequestOptions<'a>,
    /// The file written.
    pub path: String,
    /// [`crate::write_options::WriteFlag`] bits (lib/client.js makes it atomic by default).
    pub flags: u32,
    /// The created file's mode; negative: the default.
    pub mode: i32,
}

/// Sends a request like [`request`] and streams a 2xx response's body into the file `path`,
/// never holding more than a few pieces of it in memory; resolves with the bytes written.
/// A final status outside 2xx rejects with `ABIO_ERR_HTTP_STATUS` before the file is
/// touched; a failure midway (the server closing, an abort, `maxSize`) leaves no file and no
/// temporary file behind.
#[napi(ts_return_type = "Promise<number>")]
pub fn download(env: Env, options: DownloadOptions<'_>) -> napi::Result<Promise> {
    let DownloadOptions {
        request,
        path,
        flags,
        mode,
    } = options;
    let (mut spec, call, promise, max) = request.start(&env)?;
    let opts = write_options(flags, mode);
    let pool = pool(&env, &call.js);
    call.js.clone().spawn(async move {
        let progress = call.progress.clone();
        let js = call.js.clone();
        let cancel = call.cancel.clone();
        let work = async {
            // The body's reader watches `cancel` itself, and returns only once the file
            // writer has cleaned up: only the exchange is dropped on abort.
            let (res, final_url) = abortable(&cancel, exchange(&pool, &mut spec)).await?;
            let status = res.status().as_u16();
            if !res.status().is_success() {
                return Err(CoreError::HttpStatus {
                    status,
                    url: final_url.to_string(),
                }
                .into());
            }
            let wanted = body_length(&res, &spec.method);
            if let Some(n) = wanted.filter(|&n| n > max) {
                return Err(CoreError::ResponseTooLarge { size: Some(n), max }.into());
            }
            let total = wanted.unwrap_or(Progress::UNKNOWN);
            let report = |done| {
                if let Some(p) = &progress {
                    p.report(&js, done, total);
                }
            };
            let path = PathBuf::from(path);
            let written = body_to_file(res.into_body(), path, opts, max, cancel.clone(), report)
                .await
                .map_err(too_large)?;
            if let Some(p) = &progress {
                p.report(&js, written, written);
            }
            Ok(written as f64)
        };
        let result: AbioResult<f64> = work.await;
        drop(progress);
        call.finish(result);
    });
    Ok(promise)
}
