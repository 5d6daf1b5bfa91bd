//! HTTP (design.md section 7): `serve()` on hyper 1 over the shared tokio runtime.
//!
//! Routes (exact paths, `GET` and `HEAD`, the query ignored) are answered entirely in Rust,
//! without entering JS: their bodies are the caller's memory, held (not copied) as
//! `bytes::Bytes`, with `ETag`/`If-None-Match` (304) and single byte ranges (206, 416)
//! by [`abio_core::http`]. The listening socket's lifecycle is tcp.rs's [`Listening`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use abio_core::http::{self as rules, Range};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use napi::Env;
use napi_derive::napi;
use tokio::sync::watch;

use crate::bytes::HeldBytes;
use crate::error::{sync_call, AbioError, AbioResult};
use crate::runtime::{net as rt, Promise};
use crate::tcp::{listening, target, Io, Listening};

/// A route's answer, ready to send.
struct Route {
    body: Bytes,
    content_type: HeaderValue,
    etag: HeaderValue,
    headers: Vec<(HeaderName, HeaderValue)>,
}

type Routes = HashMap<String, Route>;

fn invalid(msg: String) -> AbioError {
    AbioError::InvalidArg(msg)
}

/// The routes of `serve`/`reload`, from the JS layer's parallel arrays: `paths[i]` answers
/// `bodies[i]` as `types[i]` (default `application/octet-stream`) with `headers[i]` (name,
/// value, name, value, ...).
fn route_table(
    paths: Vec<String>,
    bodies: Vec<HeldBytes>,
    types: Vec<Option<String>>,
    headers: Vec<Vec<String>>,
) -> AbioResult<Routes> {
    let mut routes = HashMap::with_capacity(paths.len());
    let parts = paths.into_iter().zip(bodies).zip(types).zip(headers);
    for (((path, body), ty), extra) in parts {
        let body = body.0;
        let ty = ty.as_deref().unwrap_or("application/octet-stream");
        let content_type = HeaderValue::from_str(ty).map_err(|_| {
            invalid(format!(
                "The content type of route '{path}' is not a valid header value: {ty:?}"
            ))
        })?;
        let mut headers = Vec::with_capacity(extra.len() / 2);
        let mut etag = None;
        for pair in extra.chunks(2) {
            let [name, value] = pair else { break };
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                invalid(format!(
                    "Route '{path}' has an invalid header name: {name:?}"
                ))
            })?;
            let v = HeaderValue::from_str(value).map_err(|_| {
                invalid(format!(
                    "Route '{path}' has an invalid value for header '{name}'"
                ))
            })?;
            if n == header::CONTENT_LENGTH
                || n == header::TRANSFER_ENCODING
                || n == header::CONTENT_RANGE
            {
                return Err(invalid(format!(
                    "Route '{path}' sets the header '{n}', which abio sets from the body"
                )));
            }
            if n == header::ETAG {
                // Your tag: sent, and compared with If-None-Match.
                etag = Some(v);
                continue;
            }
            headers.push((n, v));
        }
        let etag = etag.unwrap_or_else(|| {
            HeaderValue::from_str(&rules::etag(&body)).expect("an etag is ASCII")
        });
        routes.insert(
            path,
            Route {
                body,
                content_type,
                etag,
                headers,
            },
        );
    }
    Ok(routes)
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// The answer to `req` from the routes: the body (or a range of it) with its headers, 304
/// when `If-None-Match` matches, 404 for other paths, 405 for other methods. `HEAD` gets
/// the headers of `GET` (hyper leaves the body out).
fn answer(routes: &Routes, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let Some(route) = routes.get(req.uri().path()) else {
        return empty(StatusCode::NOT_FOUND);
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = empty(StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let h = req.headers();
    let matched = h
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| rules::none_match(v.as_bytes(), route.etag.to_str().unwrap_or("")));
    let len = route.body.len() as u64;
    let (status, body, range) = if matched {
        (StatusCode::NOT_MODIFIED, Bytes::new(), None)
    } else {
        match h
            .get(header::RANGE)
            .map(|v| rules::range(v.as_bytes(), len))
        {
            None | Some(Range::Full) => (StatusCode::OK, route.body.clone(), None),
            Some(Range::Part { start, end }) => (
                StatusCode::PARTIAL_CONTENT,
                route.body.slice(start as usize..=end as usize),
                Some(format!("bytes {start}-{end}/{len}")),
            ),
            Some(Range::Unsatisfiable) => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Bytes::new(),
                Some(format!("bytes */{len}")),
            ),
        }
    };
    let sent = body.len();
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let out = r.headers_mut();
    out.insert(header::ETAG, route.etag.clone());
    if status != StatusCode::NOT_MODIFIED {
        out.insert(header::CONTENT_TYPE, route.content_type.clone());
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        // Said outright: hyper leaves it out of a HEAD answer whose body is empty.
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(sent));
    }
    if let Some(cr) = range.and_then(|s| HeaderValue::from_str(&s).ok()) {
        out.insert(header::CONTENT_RANGE, cr);
    }
    for (n, v) in &route.headers {
        out.insert(n.clone(), v.clone());
    }
    r
}

/// Limits against slow or hostile clients.
#[napi(object)]
pub struct HttpOptions {
    /// Bytes of a request's line and headers, then 431.
    pub max_header_size: u32,
    /// Milliseconds to receive a request's headers (also between keep-alive requests),
    /// then the connection is closed.
    pub headers_timeout: f64,
}

struct Http {
    core: Arc<Listening>,
    routes: RwLock<Arc<Routes>>,
    options: HttpOptions,
    /// Set when the server closes: connections finish their request and close.
    shutdown: watch::Sender<bool>,
}

impl Http {
    fn routes(&self) -> Arc<Routes> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Accepts connections until the server closes; each is served by hyper on its own task.
async fn serve_loop(server: Arc<Http>, io: Io) {
    while let Some(sock) = server.core.accept(&io).await {
        let _ = sock.set_tcp_nodelay(true);
        let Ok(stream) = tokio::net::TcpStream::from_std(sock.into()) else {
            continue;
        };
        let me = server.clone();
        rt().spawn(async move {
            let mut stop = me.shutdown.subscribe();
            let routes_of = me.clone();
            let service = service_fn(move |req| {
                let routes = routes_of.routes();
                async move { Ok::<_, Infallible>(answer(&routes, &req)) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .keep_alive(true)
                .max_header_size(me.options.max_header_size as usize)
                .header_read_timeout(Duration::from_millis(me.options.headers_timeout as u64));
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            if *stop.borrow() {
                conn.as_mut().graceful_shutdown();
            }
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.changed() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
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
    #[napi(getter)]
    pub fn host(&self) -> String {
        self.host.clone()
    }

    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Replaces the routes; requests already answered keep the bodies they got.
    #[napi]
    pub fn reload(
        &self,
        env: Env,
        paths: Vec<String>,
        #[napi(ts_arg_type = "Array<string | ArrayBufferView>")] bodies: Vec<HeldBytes>,
        types: Vec<Option<String>>,
        headers: Vec<Vec<String>>,
    ) -> napi::Result<()> {
        sync_call(&env, || {
            let table = route_table(paths, bodies, types, headers)?;
            *self.inner.routes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
            Ok(())
        })
    }

    /// Stops accepting; resolves once the listening socket is closed. Open connections
    /// finish the request they are on, then close.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Promise> {
        let _ = self.inner.shutdown.send(true);
        self.inner.core.close(&env)
    }

    #[napi(js_name = "ref")]
    pub fn ref_(&self, env: Env) {
        self.inner.core.hold(&env, true);
    }

    #[napi]
    pub fn unref(&self, env: Env) {
        self.inner.core.hold(&env, false);
    }
}

/// Listens on `host:port` and serves the routes. Resolves once listening.
#[napi(ts_return_type = "Promise<NativeHttpServer>")]
#[allow(clippy::too_many_arguments)]
pub fn serve(
    env: Env,
    host: Option<String>,
    port: u32,
    reuse_port: bool,
    paths: Vec<String>,
    #[napi(ts_arg_type = "Array<string | ArrayBufferView>")] bodies: Vec<HeldBytes>,
    types: Vec<Option<String>>,
    headers: Vec<Vec<String>>,
    options: HttpOptions,
) -> napi::Result<Promise> {
    let routes = sync_call(&env, || route_table(paths, bodies, types, headers))?;
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
                options,
                shutdown: watch::Sender::new(false),
            });
            rt().spawn(serve_loop(inner.clone(), io));
            NativeHttpServer {
                inner,
                host,
                port: port as u32,
            }
        },
    )
}
